#!/usr/bin/env bash
# Debian packages for the training corpus: speech engines and real recorded noise.
# Only Debian `main` is used (no mbrola, no pico: their licences are non-free), so the
# weights trained from them carry no non-free voice. Needs root (apt-get).
# Usage: bash tools/install_training_deps.sh [all|speech]   (speech: the engines only, ~14 MB;
# all adds ~250 MB of recordings for the noise bank)
set -euo pipefail
packages=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)
if [ "${1:-all}" = all ]; then
    packages+=(
        sonic-pi-samples hydrogen-drumkits sound-theme-freedesktop  # effects, drums, ambience
        klettres-data ktuberling-data  # recorded speech in many languages: babble
    )
fi
bash "$(dirname "$0")/apt_install.sh" "${packages[@]}"
echo "training packages present: ${packages[*]}"
