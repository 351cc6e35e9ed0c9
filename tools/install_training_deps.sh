#!/usr/bin/env bash
# Debian packages for the training data: speech engines, soundfonts, recorded speech, sound
# effects and ambiences. Only Debian `main` is used (no mbrola, no pico: their licences are
# non-free), so the weights trained from them carry no non-free voice. Needs root (apt-get).
# Never installs what the evaluation suite reserves (evaluation/sources.py: TimGM6mb,
# hydrogen-drumkits, sonic-pi-samples, ktuberling-data, widelands-data's effects).
#
# Usage: bash tools/install_training_deps.sh [all|tiny|speech]
#   speech  the speech engines only (~14 MB)
#   tiny    adds one small source of each kind for the tiny builds (~200 MB)
#   all     adds fluidsynth, the Fluid and MuseScore soundfonts, klettres-data and desktop
#           sounds (installed, ~300 MB), and downloads the game packages (~2.9 GB of .debs)
#           and unpacks them into $HEAR_MIXERS_CACHE/packages/<package>/ without installing
#           them (default cache: ~/.cache/hear_mixers); see training/sources_train.py.
# Idempotent: what is there already is neither installed nor unpacked again.
set -euo pipefail
packages=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)
extract=()
mode="${1:-all}"
case "$mode" in all|tiny|speech) ;; *) echo "usage: $0 [all|tiny|speech]" >&2; exit 2;; esac
if [ "$mode" = tiny ]; then  # one small source of each kind, for CI
    packages+=(fluidsynth fluid-soundfont-gm klettres-data sound-theme-freedesktop)
    extract+=(freeciv-data frozen-bubble-data)
elif [ "$mode" = all ]; then
    packages+=(
        fluidsynth fluid-soundfont-gm musescore-general-soundfont  # rendered music, drums
        klettres-data  # recorded speech in 19 languages
        sound-theme-freedesktop oxygen-sounds  # desktop event sounds
    )
    extract+=(  # game effects, ambiences, music and acted voices
        wesnoth-1.16-data lincity-ng-data hedgewars-data supertux-data supertuxkart-data
        openarena-data redeclipse-data extremetuxracer-data frozen-bubble-data freeciv-data
        pingus-data xmoto-data
    )
fi
bash "$(dirname "$0")/apt_install.sh" "${packages[@]}"

cache="${HEAR_MIXERS_CACHE:-$HOME/.cache/hear_mixers}"
mkdir -p "$cache/debs" "$cache/packages"
for p in "${extract[@]}"; do
    target="$cache/packages/$p"
    [ -f "$target/.version" ] && continue
    (cd "$cache/debs" && apt-get download -q "$p" 2>/dev/null)  # as root: warns, works
    deb=$(ls -t "$cache/debs/${p}"_*.deb | head -n 1)
    rm -rf "$target"
    dpkg-deb -x "$deb" "$target"
    find "$target" -name '*.pk3' -print0 | while IFS= read -r -d '' pk3; do
        python3 -m zipfile -e "$pk3" "$pk3.d"  # game archives are zips: unpacked beside
    done
    dpkg-deb -f "$deb" Version > "$target/.version"  # marks a complete unpack
done
echo "training packages present: ${packages[*]}"
[ ${#extract[@]} -eq 0 ] || echo "unpacked into $cache/packages: ${extract[*]}"
