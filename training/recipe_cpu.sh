#!/usr/bin/env bash
# Rebuild weights/kwmlp.pt and the figures of its model card from nothing but Debian
# packages, on a CPU (measured: see weights/README.md). Run from the repository root in an
# environment with the [train] and [eval] extras (tools/setup_venv.sh makes one); needs root
# for apt-get. Data goes to $DATA (default /tmp/hear_mixers_data), not into the repository.
set -euo pipefail
data=${DATA:-/tmp/hear_mixers_data}
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$(pwd)
SECONDS=0
bash tools/install_training_deps.sh
python -m training.corpus "$data/corpus" --size cpu --seed 0
python -m training.noise "$data/noise"
echo "data ready after $((SECONDS / 60)) min"
python -m training.train --corpus "$data/corpus" --noise "$data/noise" --recipe cpu --out weights/kwmlp.pt
echo "trained after $((SECONDS / 60)) min"
(cd weights && sha256sum *.pt > SHA256SUMS)  # shipped files are checked against it at load
python -m training.card_figures weights/kwmlp.pt --corpus "$data/corpus" --noise "$data/noise" \
    --json weights/kwmlp.eval.json
echo "recipe done in $((SECONDS / 60)) min"
