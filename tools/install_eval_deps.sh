#!/usr/bin/env bash
# Debian packages for the evaluation task builders (evaluation/tasks; evaluation/sources.py
# declares them): recorded drum hits and ambience, spoken words in many languages,
# fluidsynth with the TimGM6mb soundfont, the speech engines (tools/install_training_deps.sh
# speech), and widelands-data's sound effects, which are downloaded and unpacked into
# $HEAR_MIXERS_CACHE/packages/widelands-data (default ~/.cache/hear_mixers), not installed.
# All in Debian `main`. Needs root (apt-get install).
# Usage: bash tools/install_eval_deps.sh [tiny|full]   (the same packages for both sizes)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/install_training_deps.sh" speech
packages=(
    hydrogen-drumkits sonic-pi-samples  # drums, events: hits; events, keywords: ambience
    fluidsynth timgm6mb-soundfont       # pitch, instrument: renderer and soundfont
    ktuberling-data                     # language: spoken words
)
bash "$here/apt_install.sh" "${packages[@]}"

# esc: widelands-data's sound effects only (the .deb is ~380 MB; its sounds ~4 MB unpacked)
cache="${HEAR_MIXERS_CACHE:-$HOME/.cache/hear_mixers}/packages/widelands-data"
if [ ! -d "$cache/usr/share/games/widelands/data/sound" ] && [ ! -d /usr/share/games/widelands/data/sound ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download widelands-data >/dev/null 2>&1) || {
        apt-get update -qq && (cd "$tmp" && apt-get download widelands-data >/dev/null); }
    mkdir -p "$cache.partial"
    dpkg-deb --fsys-tarfile "$tmp"/widelands-data_*.deb | tar -x -C "$cache.partial" \
        --wildcards './usr/share/games/widelands/data/sound/*' \
        './usr/share/games/widelands/data/world/critters/*.ogg' './usr/share/doc/widelands-data/*'
    rm -rf "$cache" && mv "$cache.partial" "$cache"
fi
echo "evaluation packages present: ${packages[*]}; widelands-data sounds: $cache"
