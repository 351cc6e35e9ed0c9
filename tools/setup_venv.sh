#!/usr/bin/env bash
# Build a virtual environment with hear_mixers (non-editable), its test, eval, train and ray
# extras (ray: Ray Data and pyarrow for `hear-mixers embed --engine ray` and Parquet output),
# and the HEAR 2021 tools (hearvalidator, heareval, hearbaseline) on Python 3.11.
# Usage: bash tools/setup_venv.sh [VENV_DIR]   (default .venv)
set -euo pipefail
venv=${1:-.venv}
root=$(cd "$(dirname "$0")/.." && pwd)
constraints="$root/tools/constraints.txt"

python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q torch==2.13.0  # first, so nothing pulls a CUDA build
"${pip[@]}" install -q -c "$constraints" "$root[test,eval,train,ray]"
# The HEAR tools pin numpy 1.19.2 / Python < 3.9: install them without their pins; their
# real dependencies came with the [eval] extra above.
"${pip[@]}" install -q -c "$constraints" --no-deps --ignore-requires-python \
    hearvalidator==2021.0.6 heareval==2021.1.3 hearbaseline==2021.1.1
# hear_compat: the runtime fixes and wrappers the 2021 tools need, and a tensorflow stand-in
# (a real TensorFlow package, if installed, takes precedence): tools/hear_compat/README.md
"${pip[@]}" install -q "$root/tools/hear_compat"
echo "ready: $venv (activate with: source $venv/bin/activate)"
