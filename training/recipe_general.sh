#!/usr/bin/env bash
# The general-purpose ASM-RH (issue 15) from nothing but Debian and PyPI packages, on a CPU:
# build the multi-domain data (if $DATA/general is not there), then train in runs of at most
# 2 hours until the schedule ends, resuming from $RUN/state.pt, and export weights/general.pt.
# Interrupt it at any time: the next start continues from the last state (see
# training/README.md). Run from the repository root in the environment of
# tools/setup_venv.sh with the [train] extra.
set -euo pipefail
data=${DATA:-/tmp/hear_mixers_data}
run=${RUN:-training/runs/general}
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$(pwd)
SECONDS=0
if [ ! -f "$data/general/heads.json" ]; then
    bash tools/install_training_deps.sh
    python -m training.general_data "$data/general" --size full
fi
done_yet() {  # exit status 0 once the saved state has reached the end of its schedule
    python -c "import sys, torch; s = torch.load(sys.argv[1], weights_only=True); \
sys.exit(s['step'] < s['config']['recipe']['steps'])" "$run/state.pt" 2>/dev/null
}
until done_yet; do
    python -m training.train_general --data "$data/general" --run "$run" --max-minutes 120
    echo "run ended after $((SECONDS / 60)) min"
done
python -m training.train_general --data "$data/general" --run "$run" --max-minutes 0 --export weights/general.pt
(cd weights && sha256sum *.pt > SHA256SUMS)  # shipped files are checked against it at load
echo "recipe done in $((SECONDS / 60)) min"
