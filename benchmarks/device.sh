#!/usr/bin/env bash
# The GPU half of the benchmarks, for the project's lent GPU machine (the library's `device`
# tool: Python 3.12 with torch, numpy, scipy, numba, scikit-learn; no network, no nnAudio).
#
#   here:   bash benchmarks/device.sh wheels    # .whl/: the py3.12 wheels that machine lacks
#   there:  bash benchmarks/device.sh bench fp32 tf32   # one benchmarks.run per precision -> $OUT
#           bash benchmarks/device.sh tests              # the CUDA tests, benchmarks.precision on CUDA
#           bash benchmarks/device.sh sweep              # chunk sizes 256-4096, fp32 and bf16
#
# A `device` call carries .whl (`carry: [".whl"]`) and runs e.g.
#   PYTHONUNBUFFERED=1 bash benchmarks/device.sh bench fp32 tf32
# Each precision takes a few minutes (4 cases x 2 modes x 4 models, fresh processes); keep a
# call under its 10-minute limit (two precisions per call).
set -euo pipefail
cd "$(dirname "$0")/.."

# versions as in the CPU environment (tools/setup_venv.sh), for python 3.12 on x86-64
WHEELS=(nnAudio==0.3.4 librosa==0.11.0 audioread==3.1.0 decorator==5.3.1 pooch==1.9.0
        platformdirs==4.14.7 soxr==1.1.0 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12
        hearbaseline==2021.1.1)

install() {  # on the device: the carried wheels and this checkout's packages into /tmp/site
  [ -d .whl ] || { echo "no .whl/: run 'bash benchmarks/device.sh wheels' here and carry .whl" >&2; exit 2; }
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader || true
  python3 -c "import torch, nnAudio, hear_mixers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
}

case "${1:-}" in
  wheels)
    mkdir -p .whl
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform any -d .whl "${WHEELS[@]}"
    python3 -m pip wheel -q --no-deps tools/hear_compat -w .whl
    du -sh .whl
    ;;
  bench)
    shift
    install
    out="${OUT:-benchmarks/results}"
    for precision in "${@:-fp32}"; do  # files named cuda-<date>[-<precision>].{md,json}
      python3 -m benchmarks.run --device cuda --precision "$precision" --out "$out"
    done
    ;;
  tests)
    install
    python3 -m pytest -q -p no:cacheprovider tests/test_api.py tests/test_fastpath.py \
      tests/test_determinism.py tests/test_precision_emulation.py -k "cuda or tf32 or precision"
    python3 -m benchmarks.precision --device cuda
    ;;
  sweep)  # the GPU chunk size default (256): 4096 one-second clips per precision and chunk size,
           # where the time goes (benchmarks.profile); SWEEP_DEVICE=cpu SWEEP_BATCH=64 tries it here
    device="${SWEEP_DEVICE:-cuda}"
    [ "$device" = cpu ] || install
    for precision in fp32 bf16; do
      for chunk in 256 1024 4096; do
        python3 -m benchmarks.profile --device "$device" --batch "${SWEEP_BATCH:-4096}" \
          --precision "$precision" --chunk-batch-size "$chunk" --repeats 3
      done
    done
    ;;
  *)
    sed -n 2,13p "$0"
    exit 2
    ;;
esac
