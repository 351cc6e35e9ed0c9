"""Recorded sound effects, ambiences, game music and acted voices from Debian game and
desktop packages, with sound-class labels from a hand-made mapping of file names.

The mapping (`RULES`) was made by reading every audio file name of these packages and
keeping only names whose sound is unambiguous (`explosion`, `sword-1`, `TraficHigh1`,
`birds1`, ...); names that could be several things (`morning`, `ship`, `Harbor1`,
`ResidentialHigh1`, `lava`, game jingles like `lifeup`) map to nothing and are not used.
It was checked against the audio for 40 files by looking at their spectrograms (matplotlib
specgram of the first 6 s) and `sox stat`: birds (Green1, birds1, exotic-birds: chirps at
2-6 kHz), clock ticks (clock: evenly spaced broadband clicks), rain and rivers (broadband,
steady), a cow (harmonic low calls with pauses), machinery drones (steady low tones),
insects (cycadas, nightcrickets: pulse trains at 2 and 4.5 kHz), wind,
crickets (night: pulse trains at ~5 kHz), farm animals (Farm1: a harmonic call with
vibrato), crowd babble (MarketFull1, SportsCroud1), fire crackle (campfire, Fire1: broadband
clicks), hammering (Blacksmith1: periodic broadband strikes), trains (RailTrain1: periodic
clacks and hum), traffic, industry, wolf growls; files whose spectrogram did not settle
what they are (ship, morning, distant_cars: crickets, no engine, Harbor1, FireStation1, Tip1, School1, ResidentialHigh1,
WindMill1) were left unmapped. No file was listened to (no audio output here).

Clips: files are read with `hear_mixers.audio_io.read_audio` (mono, 16 kHz), trimmed of
leading/trailing near-silence; a file shorter than 1 s becomes one 1 s clip (the sound at a
seeded offset, silence around it), a longer one gives up to `per_file` clips of 1-2 s from
seeded, non-overlapping positions. `voice` is the file, so splits hold files out whole.
"""

import re
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hear_mixers.audio_io import read_audio
from training.sources_train import package_files

SAMPLE_RATE = 16000
SOUND_CLASSES = (
    "explosion", "gunfire", "blade and swing", "bow and throw", "fire", "water",
    "rain and thunder", "birds", "animal", "human vocalisation", "creature vocalisation",
    "crowd", "footsteps", "vehicle and engine", "machinery and tools", "impact", "breaking",
    "bell", "horn and fanfare", "interface sound", "synthetic effect", "door and latch",
    "clock tick", "sliding", "telephone", "wind",
)

# (package, regex on the lower-cased path, class); the first match decides, None: not used.
_W = r"wesnoth/1\.16/"
_L = r"lincity-ng/sounds/"
_H = r"hedgewars/data/sounds/"
_S = r"supertux2/sounds/"
_R = r"redeclipse/data/sounds/"
RULES: list[tuple[str, str, str | None]] = [
    # wesnoth: ambience, weapons, creatures, horn signals, interface
    ("wesnoth-1.16-data", _W + r".*ambient/(birds\d)\.", "birds"),
    ("wesnoth-1.16-data", _W + r".*ambient/campfire\.", "fire"),
    ("wesnoth-1.16-data", _W + r".*ambient/night\.", "animal"),  # crickets
    ("wesnoth-1.16-data", _W + r".*horn-signals/", "horn and fanfare"),
    ("wesnoth-1.16-data", _W + r".*/(horn-\d|fanfare-short)\.", "horn and fanfare"),
    ("wesnoth-1.16-data", _W + r".*/(gunshot|thunderstick(-miss)?)\.", "gunfire"),
    ("wesnoth-1.16-data", _W + r".*/explosion\.", "explosion"),
    ("wesnoth-1.16-data", _W + r".*/(axe|club|dagger-swish|flail|hatchet|mace|spear|staff"
     r"|sword-1|knife|miss-\d)(-miss)?\.", "blade and swing"),
    ("wesnoth-1.16-data", _W + r".*/(bow|bow-puny|crossbow|dart|sling|sling-big|throw-\d"
     r"|throwing-knife)(-fire)?(-miss)?\.", "bow and throw"),
    ("wesnoth-1.16-data", _W + r".*/(fire|flame-big(-miss)?|melee-fire|torch(-miss)?)\.", "fire"),
    ("wesnoth-1.16-data", _W + r".*/lightning(-miss)?\.", "rain and thunder"),
    ("wesnoth-1.16-data", _W + r".*/water-blast\.", "water"),
    ("wesnoth-1.16-data", _W + r".*/(human|dwarf|elf)(-female|-old)?-(hit|die|laugh)",
     "human vocalisation"),
    ("wesnoth-1.16-data", _W + r".*/(witches-laugh|groan)\.", "human vocalisation"),
    ("wesnoth-1.16-data", _W + r".*/(drake|gryphon|ogre|orc|orc-small|troll|goblin|yeti"
     r"|naga|mermaid|mermen|zombie|ghoul|wose|tusker)-(hit|die|shriek|attack)",
     "creature vocalisation"),
    ("wesnoth-1.16-data", _W + r".*/(wolf|horse|bat|hiss)(-[a-z]+)*(-\d)?\.", "animal"),
    ("wesnoth-1.16-data", _W + r".*/hiss(-big|-die|-hit)?\.", "animal"),
    ("wesnoth-1.16-data", _W + r".*/(magic-[a-z-]+\d?|magicmissile|heal|petrified|slowed"
     r"|entangle)(-miss)?(-\d)?\.", "synthetic effect"),
    ("wesnoth-1.16-data", _W + r".*/open-chest\.", "door and latch"),
    ("wesnoth-1.16-data", _W + r"sounds/bell\.", "bell"),
    ("wesnoth-1.16-data", _W + r"sounds/(button|checkbox|select|select-unit|slider|expand"
     r"|contract|chat-\d|chat-friend|chat-highlight|join|leave|receive)\.", "interface sound"),
    # lincity-ng: ambience loops
    ("lincity-ng-data", _L + r"blacksmith\d", "machinery and tools"),
    ("lincity-ng-data", _L + r"(industryhigh|industrylight|coalmine|oremine|mill|recycle"
     r"|build)\d", "machinery and tools"),
    ("lincity-ng-data", _L + r"(traffichigh|traficlow|trafichigh|railtrain)\d",
     "vehicle and engine"),
    ("lincity-ng-data", _L + r"rockettakeoff\d", "vehicle and engine"),
    ("lincity-ng-data", _L + r"rocketexplosion\d", "explosion"),
    ("lincity-ng-data", _L + r"(water\d|parklandlake)", "water"),
    ("lincity-ng-data", _L + r"fire\d", "fire"),
    ("lincity-ng-data", _L + r"green\d", "birds"),
    ("lincity-ng-data", _L + r"(organicfarm|farm)\d", "animal"),
    ("lincity-ng-data", _L + r"(sportscroud\d|marketfull|marketmed)", "crowd"),
    ("lincity-ng-data", _L + r"(click|windowopen|windowclose)\.", "interface sound"),
    # hedgewars: effects (not the voice packs, not the music)
    ("hedgewars-data", _H + r"explosion\.", "explosion"),
    ("hedgewars-data", _H + r"(gun|shotgunfire|minigun|mortar)\.", "gunfire"),
    ("hedgewars-data", _H + r"(flamethrower|blowtorch)\.", "fire"),
    ("hedgewars-data", _H + r"(droplet\d|splash|planewater)\.", "water"),
    ("hedgewars-data", _H + r"(plane|rcplane|jetpackboost)\.", "vehicle and engine"),
    ("hedgewars-data", _H + r"bee\.", "animal"),
    ("hedgewars-data", _H + r"(hammer|pickhammer|drillgun)\.", "machinery and tools"),
    ("hedgewars-data", _H + r"(baseballbat|bump|grenadeimpact|airmine_impact|graveimpact"
     r"|knife_impact|melonimpact|mineimpact)\.", "impact"),
    ("hedgewars-data", _H + r"steps\.", "footsteps"),
    ("hedgewars-data", _H + r"minetick\.", "clock tick"),
    ("hedgewars-data", _H + r"(beep|countdown\d|denied|switchhog|placed|skip)\.",
     "interface sound"),
    ("hedgewars-data", _H + r"(kiss|yoohoo|hell_ooff|hell_ow|hell_ugh)\.", "human vocalisation"),
    ("hedgewars-data", _H + r"hell_growl\.", "creature vocalisation"),
    ("hedgewars-data", _H + r"(lasersight|portalopen|portalshot|portalswitch|sinegun|ice_beam"
     r"|warp|invulnerable|lowgravity|tardis)\.", "synthetic effect"),
    # supertux: effects
    ("supertux-data", _S + r"(explosion|firecracker|fireworks)\.", "explosion"),
    ("supertux-data", _S + r"(fire|flame|sizzle)\.", "fire"),
    ("supertux-data", _S + r"(rain|thunder|lightning)\.", "rain and thunder"),
    ("supertux-data", _S + r"(waterfall|splash)\.", "water"),
    ("supertux-data", _S + r"(door|turnkey|locked)\.", "door and latch"),
    ("supertux-data", _S + r"phone\.", "telephone"),
    ("supertux-data", _S + r"(savebell2|savebell_low)\.", "bell"),
    ("supertux-data", _S + r"ticking\.", "clock tick"),
    ("supertux-data", _S + r"(brick|wood|thud|stomp|kick|squish|splat|iceblock_bump"
     r"|darthit)\.", "impact"),
    ("supertux-data", _S + r"(cracking|crystallo-shatter|icecrash)\.", "breaking"),
    ("supertux-data", _S + r"(yeti_roar|yeti_gna|grunts)\.", "creature vocalisation"),
    ("supertux-data", _S + r"saw\.", "machinery and tools"),
    ("supertux-data", _S + r"skid\.", "sliding"),
    # supertuxkart: effects and ambience loops
    ("supertuxkart-data", r"sfx/(airplane_jetengine|car_accel|car_revup|engine_large"
     r"|engine_small)\.", "vehicle and engine"),
    ("supertuxkart-data", r"steamlocomotive\.", "vehicle and engine"),
    ("supertuxkart-data", r"sfx/exotic-birds(_2)?\.", "birds"),
    ("supertuxkart-data", r"sfx/(explosion|fireworks_show)\.", "explosion"),
    ("supertuxkart-data", r"sfx/(rain|thunder)\.", "rain and thunder"),
    ("supertuxkart-data", r"sfx/(river_loop|waterfall_loop_2|splash)\.", "water"),
    ("supertuxkart-data", r"sfx/(metal_clang|crash\d?|anvil)\.", "impact"),
    ("supertuxkart-data", r"sfx/hammer\.", "machinery and tools"),
    ("supertuxkart-data", r"sfx/clock\.", "clock tick"),
    ("supertuxkart-data", r"sfx/skid\.", "sliding"),
    ("supertuxkart-data", r"sfx/locked\.", "door and latch"),
    ("supertuxkart-data", r"sfx/lenautile_restaurant\.", "crowd"),
    ("supertuxkart-data", r"sfx/(wilhelmscream|ugh)\.", "human vocalisation"),
    ("supertuxkart-data", r"tracks/[a-z_]+/(cow|sheep)\.", "animal"),
    # openarena (sounds inside baseoa/pak0.pk3, unpacked next to it)
    ("openarena-data", r"pak0\.pk3\.d/sound/player/footsteps/", "footsteps"),
    ("openarena-data", r"pak0\.pk3\.d/sound/weapons/(machinegun/machgf|shotgun/|vulcan/vulcanf"
     r"|vulcan/wvulfire)", "gunfire"),
    ("openarena-data", r"pak0\.pk3\.d/sound/weapons/(rocket/rocklx|proxmine/wstbexpl"
     r"|grenade/grenlf)", "explosion"),
    ("openarena-data", r"pak0\.pk3\.d/sound/weapons/(plasma|lightning|bfg|railgun)/",
     "synthetic effect"),
    ("openarena-data", r"pak0\.pk3\.d/sound/player/sarge/(death|pain|gasp|drown|fall\d)",
     "human vocalisation"),
    ("openarena-data", r"pak0\.pk3\.d/sound/player/watr_", "water"),
    ("openarena-data", r"pak0\.pk3\.d/sound/movers/doors/", "door and latch"),
    ("openarena-data", r"pak0\.pk3\.d/sound/world/(fire1|fire2|firesoft)\.", "fire"),
    ("openarena-data", r"pak0\.pk3\.d/sound/world/(waterfall|drops)\.", "water"),
    ("openarena-data", r"pak0\.pk3\.d/sound/world/(machinerydrone0\d|tim_machine|tim_pump"
     r"|fan|fan4)\.", "machinery and tools"),
    ("openarena-data", r"pak0\.pk3\.d/sound/world/growl\d\.", "creature vocalisation"),
    ("openarena-data", r"pak0\.pk3\.d/sound/world/(jumppad|portal0\d|telein|teleout)\.",
     "synthetic effect"),
    ("openarena-data", r"pak0\.pk3\.d/sound/misc/menu\d\.", "interface sound"),
    # redeclipse: ambience loops, footsteps, weapons
    ("redeclipse-data", _R + r"ambience/(creek|river|water|waterfall\w*|cavedrip)\.", "water"),
    ("redeclipse-data", _R + r"ambience/forest\d\.", "birds"),
    ("redeclipse-data", _R + r"ambience/(cycadas|nightcrickets)\.", "animal"),  # insects
    ("redeclipse-data", _R + r"ambience/(wind|blowwind|hollowwind|wastewind|alienwind"
     r"|dizzywind)\.", "wind"),
    ("redeclipse-data", _R + r"(ambience/fire|sfx/burnfire|sfx/burning)\.", "fire"),
    ("redeclipse-data", _R + r"ambience/(machine\d|pneumatic)\.", "machinery and tools"),
    ("redeclipse-data", _R + r"ambience/door\.", "door and latch"),
    ("redeclipse-data", _R + r"ambience/(jumppad\d?|teleport)\.", "synthetic effect"),
    ("redeclipse-data", _R + r"player/(concstep|footstep)\d?\.", "footsteps"),
    ("redeclipse-data", _R + r"player/(death|pain)\d?\.", "human vocalisation"),
    ("redeclipse-data", _R + r"(player/swimstep|sfx/splashin|sfx/splashout|sfx/splosh)\d?\.",
     "water"),
    ("redeclipse-data", _R + r"weapons/(pistol|smg|rifle|shotgun)/primary\d?\.", "gunfire"),
    ("redeclipse-data", _R + r"weapons/mine/explode\d?\.", "explosion"),
    ("redeclipse-data", _R + r"weapons/flamer/primary\.", "fire"),
    ("redeclipse-data", _R + r"weapons/sword/(primary|secondary)\.", "blade and swing"),
    ("redeclipse-data", _R + r"weapons/(plasma|zapper)/primary\d?\.", "synthetic effect"),
    # extremetuxracer, frozen-bubble, freeciv, pingus
    ("extremetuxracer-data", r"etr/sounds/[a-z]+_slide\.", "sliding"),
    ("extremetuxracer-data", r"etr/sounds/tree_hit\.", "impact"),
    ("frozen-bubble-data", r"snd/applause\.", "crowd"),
    ("frozen-bubble-data", r"snd/typewriter\.", "machinery and tools"),
    ("frozen-bubble-data", r"snd/snore\.", "human vocalisation"),
    ("frozen-bubble-data", r"snd/(cancel|menu_change|menu_selected|pause)\.", "interface sound"),
    ("freeciv-data", r"stdsounds/(lrgcan|medcan|mgbar\d|mgheavy|mortar)\.", "gunfire"),
    ("freeciv-data", r"stdsounds/(lrgexpl|smlexpl)\.", "explosion"),
    ("freeciv-data", r"stdsounds/(splash|inh2o)\.", "water"),
    ("freeciv-data", r"stdsounds/(thover|tread)\.", "vehicle and engine"),
    ("freeciv-data", r"stdsounds/foot\d\.", "footsteps"),
    ("freeciv-data", r"stdsounds/(metbrk|woodbrk)\.", "breaking"),
    ("freeciv-data", r"stdsounds/illegal\.", "interface sound"),
    ("pingus-data", r"sounds/splash\.", "water"),
    # desktop themes
    ("oxygen-sounds", r"oxygen-im-phone-ring\.", "telephone"),
    ("oxygen-sounds", r"oxygen-(im|sys|k3b|window)-", "interface sound"),
    ("sound-theme-freedesktop", r"/(bell|complete)\.oga", "bell"),
    ("sound-theme-freedesktop", r"/(alarm-clock-elapsed)\.oga", "clock tick"),
    ("sound-theme-freedesktop", r"/phone-(incoming-call|outgoing-busy|outgoing-calling)\.",
     "telephone"),
    ("sound-theme-freedesktop", r"/(audio-volume-change|device-added|device-removed"
     r"|dialog-[a-z]+|message(-new-instant)?|service-log(in|out)|suspend-error"
     r"|network-connectivity-[a-z]+|power-(un)?plug|window-[a-z]+)\.oga", "interface sound"),
]
# game music: whole tracks, labelled "music" (no pitch or instrument)
MUSIC_RULES: list[tuple[str, str]] = [
    ("hedgewars-data", r"hedgewars/data/music/"),
    ("supertux-data", r"supertux2/music/"),
    ("supertuxkart-data", r"supertuxkart/data/music/"),
    ("redeclipse-data", r"redeclipse/data/sounds/music/"),
    ("extremetuxracer-data", r"etr/music/"),
    ("xmoto-data", r"xmoto/textures/musics/"),
    ("frozen-bubble-data", r"frozen-bubble/snd/[a-z0-9-]*zik"),
    ("freeciv-data", r"freeciv/stdmusic/"),
]
# acted voices (English and a few other languages): speech without other labels
VOICE_RULES: list[tuple[str, str]] = [
    ("hedgewars-data", r"hedgewars/data/sounds/voices/([^/]+)/"),
]
TRIM_DB = 50.0
SILENT_RMS = 1e-3  # -60 dBFS


@dataclass
class Sound:
    package: str
    path: str
    kind: str  # "effect", "music" or "voice"
    label: str | None  # sound class for effects
    group: str  # what a split holds out whole: the file, or the voice pack


def sound_class(package: str, path: str) -> str | None:
    low = path.lower()
    for pkg, pattern, label in RULES:
        if pkg == package and re.search(pattern, low):
            return label
    return None


def catalogue(packages) -> list[Sound]:
    """Every mapped effect, music track and acted voice file of the installed `packages`."""
    sounds = []
    for package in packages:
        for path in package_files(package):
            low = path.lower()
            label = sound_class(package, path)
            if label is not None:
                sounds.append(Sound(package, path, "effect", label, path))
                continue
            if any(p == package and re.search(rx, low) for p, rx in MUSIC_RULES):
                sounds.append(Sound(package, path, "music", None, path))
                continue
            for p, rx in VOICE_RULES:
                found = re.search(rx, low) if p == package else None
                if found:
                    sounds.append(Sound(package, path, "voice", None,
                                        f"{package}:voice:{found.group(1)}"))
    return sounds


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def trimmed(path: str) -> np.ndarray | None:
    """The file as float32 at 16 kHz without leading/trailing near-silence; None if it is
    unreadable or silent."""
    try:
        audio = read_audio(Path(path), SAMPLE_RATE)
    except ValueError as err:
        print(f"skipping {path}: {err}", file=sys.stderr)
        return None
    peak = float(np.abs(audio).max(initial=0.0))
    if peak == 0.0:
        return None
    loud = np.flatnonzero(np.abs(audio) >= peak * 10 ** (-TRIM_DB / 20))
    audio = audio[loud[0] : loud[-1] + 1]
    if float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) < SILENT_RMS:
        return None
    return audio


def cut(audio: np.ndarray, per_file: int, r: np.random.Generator) -> list[np.ndarray]:
    """1-2 s clips: a short sound padded to 1 s at a random offset, or up to `per_file`
    non-overlapping pieces of a long one, each peak-normalised to 0.9."""
    one = SAMPLE_RATE
    if len(audio) <= one:
        clip = np.zeros(one, np.float32)
        start = int(r.integers(0, one - len(audio) + 1))
        clip[start : start + len(audio)] = audio
        pieces = [clip]
    else:
        pieces, position = [], 0
        slots = []
        while position + one <= len(audio):
            n = min(len(audio) - position, int(r.integers(one, 2 * one + 1)))
            slots.append((position, n))
            position += n
        chosen = sorted(r.choice(len(slots), size=min(per_file, len(slots)), replace=False))
        pieces = [audio[slots[k][0] : slots[k][0] + slots[k][1]] for k in chosen]
    out = []
    for p in pieces:
        peak = float(np.abs(p).max(initial=0.0))
        if peak > 0 and np.sqrt(np.mean(np.square(p, dtype=np.float64))) >= SILENT_RMS:
            out.append((p * (0.9 / peak)).astype(np.float32))
    return out
