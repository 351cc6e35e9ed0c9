#!/usr/bin/env bash
# Debian packages for the evaluation task builders (evaluation/tasks; evaluation/sources.py
# declares them): recorded drum hits and ambience, spoken words in many languages,
# fluidsynth with the TimGM6mb soundfont, the speech engines (tools/install_training_deps.sh
# speech), and the recorded effects of widelands-data and (full only) 0ad-data, which are
# downloaded and unpacked into $HEAR_MIXERS_CACHE/packages/<package> (default
# ~/.cache/hear_mixers), not installed. All in Debian `main`. Needs root (apt-get install).
# Usage: bash tools/install_eval_deps.sh [tiny|full]
#   tiny: what --size tiny needs (CI); full (default): adds 0ad-data's effects (a 1.4 GB
#   download, ~4.7 GB of temporary disk while unpacking, a few minutes; ~80 MB kept)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/install_training_deps.sh" speech
packages=(
    hydrogen-drumkits sonic-pi-samples  # drums, events: hits; events, keywords: ambience
    fluidsynth timgm6mb-soundfont       # pitch, instrument: renderer and soundfont
    ktuberling-data                     # language: spoken words
)
bash "$here/apt_install.sh" "${packages[@]}"

packages_dir="${HEAR_MIXERS_CACHE:-$HOME/.cache/hear_mixers}/packages"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
download() {  # download PACKAGE into $tmp
    (cd "$tmp" && apt-get download "$1" >/dev/null 2>&1) || {
        apt-get update -qq && (cd "$tmp" && apt-get download "$1" >/dev/null); }
}

# esc: widelands-data's sound effects (the .deb is ~380 MB; its sounds ~4 MB unpacked)
cache="$packages_dir/widelands-data"
if [ ! -d "$cache/usr/share/games/widelands/data/sound" ] && [ ! -d /usr/share/games/widelands/data/sound ]; then
    download widelands-data
    rm -rf "$cache.partial" && mkdir -p "$cache.partial"
    dpkg-deb --fsys-tarfile "$tmp"/widelands-data_*.deb | tar -x -C "$cache.partial" \
        --wildcards './usr/share/games/widelands/data/sound/*' \
        './usr/share/games/widelands/data/world/critters/*.ogg' './usr/share/doc/widelands-data/*'
    rm -rf "$cache" "$tmp"/*.deb && mv "$cache.partial" "$cache"
fi
echo "evaluation packages present: ${packages[*]}; widelands-data sounds: $cache"

# esc at full size: 0ad-data's effects (audio/actor, attack, resource of public.zip)
cache="$packages_dir/0ad-data"
if [ "${1:-full}" = full ] && [ ! -d "$cache/audio/actor" ]; then
    download 0ad-data
    dpkg-deb --fsys-tarfile "$tmp"/0ad-data_*.deb | tar -x -C "$tmp" \
        ./usr/share/games/0ad/mods/public/public.zip ./usr/share/doc/0ad-data/copyright
    rm -f "$tmp"/*.deb
    rm -rf "$cache.partial" && mkdir -p "$cache.partial"
    python3 - "$tmp/usr/share/games/0ad/mods/public/public.zip" "$cache.partial" <<'PY'
import re, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        if re.match(r"audio/(actor|attack|resource)/.+\.ogg$", name):
            z.extract(name, sys.argv[2])
PY
    cp "$tmp/usr/share/doc/0ad-data/copyright" "$cache.partial/copyright"
    rm -rf "$cache" && mv "$cache.partial" "$cache"
    echo "0ad-data effects: $cache"
fi
