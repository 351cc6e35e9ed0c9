"""Every source the evaluation suite reads, in one declared table, and which of them training
may never read.

A `Source` is a Debian package (or the part of one named by `paths`), a group of synthetic
voices, or a program the builders run. Its `role`:
  eval-only  reserved for the suite: no training data builder may read it
             (tests/test_leak.py runs every builder in `training.DATA_BUILDERS` and fails
             when one opens such a file or speaks with such a voice);
  shared     a tool or a source the suite uses that training may use as well (the speech
             engines and fluidsynth are renderers: the voices and soundfonts they are given
             decide what is held out, and those are declared separately).
Sources no task reads are listed too (empty `used_by`), with a note saying why they are left
to training, so that a reader sees the whole decision in one place.

`paths` are fnmatch patterns matched against a file's real path (symlinks resolved), with a
leading "*" so that a package unpacked into a cache folder (`dpkg -x PKG.deb DIR`) matches
as well as the installed one. Voices are matched by the corpus's voice identity
("espeak-ng:<accent>+<variant>", "flite:<voice>", "festival:<voice>"), see `training.corpus`.

    python -m evaluation.sources   # prints the table
"""

import os
from dataclasses import dataclass
from fnmatch import fnmatch

ROLES = ("eval-only", "shared")
KINDS = ("debian", "voices", "program")


@dataclass(frozen=True)
class Source:
    name: str  # unique key, used by the tasks' `SOURCES` lists
    kind: str  # one of KINDS
    package: str | None  # the Debian package, where there is one
    paths: tuple[str, ...]  # fnmatch patterns of file paths ("debian") or voice ids ("voices")
    role: str  # one of ROLES
    used_by: tuple[str, ...]  # evaluation tasks (names of evaluation.tasks.TASKS)
    licence: str
    note: str = ""

    def matches(self, path: str) -> bool:
        """Whether a file path (debian) or a voice id (voices) belongs to this source."""
        if self.kind == "voices":
            return any(fnmatch(path, p) for p in self.paths)
        if self.kind != "debian":
            return False
        candidates = {path, os.path.abspath(path), os.path.realpath(path)}
        return any(fnmatch(c, p) for c in candidates for p in self.paths)


def _voice_patterns() -> tuple[str, ...]:
    """The corpus's held-out (test split) voices as voice-id patterns. An espeak-ng variant
    is held out in every accent and language ("espeak-ng:*+f2"); the flite and festival
    voices of the test speaker by name."""
    from training import corpus

    espeak = tuple(f"espeak-ng:*+{v}" for v in sorted(corpus.ESPEAK_TEST))
    flite = tuple(f"flite:{v}" for v, (split, _) in sorted(corpus.FLITE_VOICES.items())
                  if split == "test")
    festival = tuple(f"festival:{v}" for v, (split, _) in sorted(corpus.FESTIVAL_VOICES.items())
                     if split == "test")
    return espeak + flite + festival


HYDROGEN_KITS = ("Audiophob", "BJA_Pacific", "ColomboAcousticDrumkit", "ElectricEmpireKit",
                 "ForzeeStereo", "Gimme A Hand 1.0", "HardElectro1", "Millo-Drums_v.1",
                 "Millo_MultiLayered2", "Millo_MultiLayered3", "The Black Pearl 1.0",
                 "VariBreaks", "circAfrique v4", "rumpf_kit_z01_h2")

SOURCES: tuple[Source, ...] = (
    # ---------------------------------------------------------------- reserved for the suite
    Source("timgm6mb", "debian", "timgm6mb-soundfont",
           ("*/usr/share/sounds/sf2/TimGM6mb.sf2",), "eval-only", ("pitch", "instrument"),
           "GPL-2",
           "The soundfont of the pitch and instrument tasks (both sizes). Not the Fluid "
           "family: FluidR3_GM / GS, fluidr3mono and the MuseScore General fonts derive from "
           "FluidR3 and are left to training (see 'fluid-family')."),
    Source("hydrogen-drumkits", "debian", "hydrogen-drumkits",
           tuple(f"*/usr/share/hydrogen/data/drumkits/{k}/*" for k in HYDROGEN_KITS),
           "eval-only", ("drums", "events"), "GPL-2, GPL-2+, CC-BY-3.0, CC-BY-SA-3.0, CC0 (per kit)",
           "Recorded drum hits. The kits of hydrogen-drumkits-effects are not part of it."),
    Source("sonic-pi-samples", "debian", "sonic-pi-samples",
           ("*/usr/share/sonic-pi/samples/*",), "eval-only",
           ("events", "keywords", "speaker_count"), "CC0, MIT (per file)",
           "Ambience (ambi_*, vinyl_*) as background of the event, keyword and speaker-count "
           "clips; the whole package is reserved."),
    Source("ktuberling-data", "debian", "ktuberling-data",
           ("*/usr/share/ktuberling/sounds/*",), "eval-only", ("language",), "GPL-2+",
           "Words spoken in ~25 languages, one folder per language. klettres-data is left "
           "to training and never used by the suite."),
    Source("esc-widelands", "debian", "widelands-data",
           ("*/usr/share/games/widelands/data/sound/*",
            "*/usr/share/games/widelands/data/world/critters/*.ogg"),
           "eval-only", ("esc",), "GPL-2+",
           "Recorded effects of the environmental sound task (birds, farm and wild animals, "
           "sawing, hammering, wood chopping, stone working, kitchen, machinery), labels from "
           "a map of file names (evaluation/tasks/esc.py). Only its sound effects are "
           "reserved: its music and the rest of the package are free for training. Unpacked "
           "into a cache folder by tools/install_eval_deps.sh (not installed). The other "
           "game packages (lincity-ng-data, wesnoth, supertuxkart-data, ...) are left to "
           "training."),
    Source("esc-0ad", "debian", "0ad-data",
           ("*/0ad-data/audio/actor/*", "*/0ad-data/audio/attack/*",
            "*/0ad-data/audio/resource/*"),
           "eval-only", ("esc",), "CC-BY-SA-3.0",
           "The recorded effects of 0ad's actor/, attack/ and resource/ audio folders (animals, "
           "footsteps, weapons, wood chopping, sawing, stone) for the environmental sound task "
           "at full size; unpacked from public.zip into a cache folder by "
           "tools/install_eval_deps.sh full. Its ambiences (audio/ambient: rain, wind, rivers, "
           "birds), music and voices are left to training."),
    Source("held-out-voices", "voices", None, _voice_patterns(), "eval-only",
           ("keywords", "speaker_count"), "GPL-3+ (espeak-ng), BSD-like (flite, festival voices)",
           "The test split of training.corpus: whole espeak-ng variants in every accent and "
           "language, and the CMU Arctic slt speaker of flite and festival."),
    # ---------------------------------------------------------------- renderers (shared)
    Source("espeak-ng", "program", "espeak-ng", (), "shared", ("keywords", "speaker_count"),
           "GPL-3+", "Speech engine; only its held-out variants are reserved."),
    Source("flite", "program", "flite", (), "shared", ("keywords", "speaker_count"),
           "BSD-like", "Speech engine; its slt voice is reserved."),
    Source("festival", "program", "festival", (), "shared", ("keywords", "speaker_count"),
           "BSD-like", "Speech engine (with festvox-kallpc16k, -kdlpc16k, -us-slt-hts); the "
           "slt HTS voice is reserved."),
    Source("fluidsynth", "program", "fluidsynth", (), "shared", ("pitch", "instrument"),
           "LGPL-2.1+", "Renderer; the soundfont decides what is reserved."),
    # ---------------------------------------------------------------- left to training
    Source("fluid-family", "debian", "fluid-soundfont-gm",
           ("*/usr/share/sounds/sf2/FluidR3_GM.sf2", "*/usr/share/sounds/sf2/FluidR3_GS.sf2",
            "*/usr/share/sounds/sf2/FluidR3Mono_GM.sf3", "*/usr/share/sounds/sf3/MuseScore_*"),
           "shared", (), "MIT",
           "fluid-soundfont-gm / -gs, fluidr3mono-gm-soundfont, musescore-general-soundfont*: "
           "FluidR3 and fonts derived from it, for training; the suite does not read them."),
    Source("klettres-data", "debian", "klettres-data", ("*/usr/share/klettres/*",), "shared",
           (), "GPL-2+", "Spoken letters and syllables: for training; the suite does not read it."),
)

BY_NAME = {s.name: s for s in SOURCES}


def sources_of(task: str) -> tuple[Source, ...]:
    """The sources a task reads."""
    return tuple(s for s in SOURCES if task in s.used_by)


def eval_only_sources() -> tuple[Source, ...]:
    return tuple(s for s in SOURCES if s.role == "eval-only")


def eval_only_packages() -> frozenset[str]:
    """Debian packages with an eval-only part (the part is given by the source's paths)."""
    return frozenset(s.package for s in eval_only_sources()
                     if s.kind == "debian" and s.package)


def is_eval_only_path(path: str | os.PathLike) -> bool:
    """Whether a file (installed, or unpacked into a cache folder) belongs to an eval-only
    source; symlinks are resolved (default-GM.sf2 may point at TimGM6mb.sf2)."""
    return any(s.matches(os.fspath(path)) for s in eval_only_sources() if s.kind == "debian")


def eval_only_voices() -> tuple[str, ...]:
    """Voice-id patterns (fnmatch) of the synthetic voices reserved for the suite."""
    return tuple(p for s in eval_only_sources() if s.kind == "voices" for p in s.paths)


def is_eval_only_voice(voice: str) -> bool:
    """Whether a corpus voice id ("espeak-ng:en-us+f2", "flite:slt") is reserved."""
    return any(s.matches(voice) for s in eval_only_sources() if s.kind == "voices")


def table() -> str:
    """The table as markdown (for eval_configs/README.md and the model cards)."""
    rows = ["| source | kind | package | role | used by | licence |", "|---|---|---|---|---|---|"]
    for s in SOURCES:
        rows.append(f"| {s.name} | {s.kind} | {s.package or '–'} | {s.role} | "
                    f"{', '.join(s.used_by) or '– (training)'} | {s.licence} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
