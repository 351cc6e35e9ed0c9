#!/usr/bin/env bash
# Debian packages for the evaluation task builders (evaluation/tasks): recorded drum hits and
# ambience, fluidsynth with two General-MIDI soundfonts, and the speech engines (installed by
# tools/install_training_deps.sh speech). All in Debian `main`. Needs root (apt-get).
# Usage: bash tools/install_eval_deps.sh [tiny|full]
#   tiny: the small soundfont only (TimGM6mb, ~6 MB), enough for --size tiny (CI);
#   full (default): adds FluidR3_GM (~145 MB), the soundfont of the full pitch task.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/install_training_deps.sh" speech
packages=(
    hydrogen-drumkits sonic-pi-samples  # drums, events: hits; events, keywords: ambience
    fluidsynth timgm6mb-soundfont       # pitch: renderer and the tiny soundfont
)
if [ "${1:-full}" = full ]; then
    packages+=(fluid-soundfont-gm)  # pitch: the full soundfont
fi
bash "$here/apt_install.sh" "${packages[@]}"
echo "evaluation packages present: ${packages[*]}"
