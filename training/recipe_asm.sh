#!/usr/bin/env bash
# The ASM ablation (ASM, ASM-H, ASM-R, ASM-RH; small config, same data, budget and seed) and
# the shipped weights/asm.pt and weights/asmrh.pt, on a CPU. Needs the corpus and noise bank
# of training/recipe_cpu.sh in $DATA (default /tmp/hear_mixers_data). Run from the repository
# root in the environment of tools/setup_venv.sh with the [train] extra.
# Budget: 3 epochs over all training clips (seed 0), chosen to fit 2 CPU cores: measured
# ~4 min per epoch per mixer on an idle 2-core machine (about 50 min for the recipe).
set -euo pipefail
data=${DATA:-/tmp/hear_mixers_data}
out=${OUT:-$data/ablation}
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$(pwd)
mkdir -p "$out"
SECONDS=0
for arch in asm asm_h asm_r asm_rh; do
    python -m training.train --arch "$arch" --corpus "$data/corpus" --noise "$data/noise" \
        --recipe ablation --seed 0 --out "$out/$arch.pt"
    echo "$arch trained after $((SECONDS / 60)) min"
done
python -m training.ablation "$out"/asm.pt "$out"/asm_h.pt "$out"/asm_r.pt "$out"/asm_rh.pt \
    --markdown weights/asm_ablation.md
cp "$out/asm.pt" weights/asm.pt
cp "$out/asm_rh.pt" weights/asmrh.pt
cp "$out/asm_rh.history.json" weights/asmrh.history.json
(cd weights && sha256sum *.pt > SHA256SUMS)  # shipped files are checked against it at load
echo "recipe done in $((SECONDS / 60)) min"
