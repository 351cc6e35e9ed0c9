"""`drums`: which drum a single recorded hit is (kick, snare, hihat, tom, cymbal, clap).

Source: the Debian package hydrogen-drumkits (14 Hydrogen kits, acoustic and electronic).
Each kit's drumkit.xml names its instruments and their sample files (velocity layers); the
class comes from the instrument name ("Hi Hat Closed", "Pearl Tom Floor", "c3 - bass drum 1",
...). Instruments of no class (stick, cowbell, conga, djembe, fx, ...) are not used; nor are
files whose licence the package's copyright file does not state, or silent files.

Clip: 1 s at 48 kHz, the hit (leading silence trimmed) starting 0-50 ms in, at a peak of
-12..-1 dBFS, cut with a 50 ms fade when longer. Every usable sample file is one clip (full);
tiny takes one file per (group, class).

Folds: k-fold (heareval's `new_split_kfold`, 5 folds). Kits are grouped by author (the
`<author>` of drumkit.xml: three Millo kits by emillo, two by ArtemioLabs, two by Glen
MacArthur may share recordings), a group never spans folds, and the groups are balanced over
the folds by clips.
"""

import re
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.tasks import common
from hear_mixers.audio_io import read_audio
from training import noise  # licence helpers

PACKAGE = "hydrogen-drumkits"
SOURCES = ("hydrogen-drumkits",)  # evaluation.sources names
RATE = 48000
CLASSES = ("kick", "snare", "hihat", "tom", "cymbal", "clap")
# first match wins; matched against the lower-cased name without "(...)" details
_CLASS_PATTERNS = (
    ("clap", r"clap"),
    ("hihat", r"hi[- ]?hat|\bhh\b|\bhat\b|\bohh\b"),
    ("cymbal", r"crash|ride|china|splash|cymbal"),
    ("snare", r"snare"),
    ("kick", r"kick|bass ?drum|\bbd\b"),
    ("tom", r"tom"),
)
TRIM_DB = 40.0  # leading samples this far below the hit's peak are trimmed
MIN_PEAK = 1e-3  # quieter files are silent (the kits hold empty placeholder samples)
FOLDS = [f"fold{i:02d}" for i in range(5)]
CLIP_S = 1.0
MAX_OFFSET_S = 0.05  # the hit starts 0..50 ms into the clip


@dataclass(frozen=True)
class Hit:
    kit: str  # kit folder name
    group: str  # author of the kit: kits of one group stay in one split / fold
    instrument: str  # instrument name in drumkit.xml
    label: str  # one of CLASSES
    path: str
    licence: str


def drum_class(instrument: str) -> str | None:
    name = re.sub(r"\(.*?\)", "", instrument.lower())
    for label, pattern in _CLASS_PATTERNS:
        if re.search(pattern, name):
            return label
    return None


def kit_files() -> list[str]:
    """The drumkit.xml files of the installed package, sorted; [] when it is not installed."""
    try:
        listing = subprocess.run(["dpkg", "-L", PACKAGE], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return []
    return sorted(p for p in listing if p.endswith("/drumkit.xml"))


def _author_group(author: str | None, kit: str) -> str:
    """First word of the author, lower case ("emillo.net", "Emillo <...>" -> "emillo")."""
    words = re.findall(r"[a-z]+", (author or "").lower())
    return words[0] if words else kit


def list_hits() -> list[Hit]:
    """Every sample file of a classed instrument with a known licence, in a fixed order."""
    stanzas = noise.package_stanzas(PACKAGE)
    hits = []
    for xml_path in kit_files():
        root = ET.parse(xml_path).getroot()
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        kit_dir = Path(xml_path).parent
        group = _author_group(root.findtext(f"{ns}author"), kit_dir.name)
        for instrument in root.iter(f"{ns}instrument"):
            name = (instrument.findtext(f"{ns}name") or "").strip()
            label = drum_class(name)
            if label is None:
                continue
            for file_name in instrument.iter(f"{ns}filename"):
                path = kit_dir / (file_name.text or "")
                licence = noise.file_licence(str(path), stanzas)
                if path.is_file() and licence != "unknown":
                    hits.append(Hit(kit_dir.name, group, name, label, str(path), licence))
    return hits


def first_files(hits: list[Hit], count: int) -> list[Hit]:
    """The first `count` files of each (group, class), in the order of `hits`."""
    seen: dict[tuple[str, str], int] = {}
    kept = []
    for h in hits:
        seen[(h.group, h.label)] = seen.get((h.group, h.label), 0) + 1
        if seen[(h.group, h.label)] <= count:
            kept.append(h)
    return kept


def load_hit(hit: Hit, max_seconds: float) -> np.ndarray | None:
    """(n,) float32 at 48 kHz, peak 1, leading silence trimmed, at most `max_seconds` (50 ms
    fade when cut); None when silent."""
    try:
        audio = read_audio(Path(hit.path), RATE)
    except ValueError:  # an empty placeholder sample
        return None
    peak = float(np.abs(audio).max(initial=0.0))
    if peak < MIN_PEAK:
        return None
    first = int(np.argmax(np.abs(audio) >= peak * common.db(-TRIM_DB)))
    audio = audio[first:] / peak
    limit = round(max_seconds * RATE)
    return common.fade_out(audio[:limit], round(0.05 * RATE)) if len(audio) > limit else audio


def source_of(hit: Hit) -> dict:
    return {"package": PACKAGE, "kit": hit.kit, "group": hit.group,
            "instrument": hit.instrument, "file": hit.path, "licence": hit.licence}


def build(out_dir: Path, size: str, seed: int, sample_rates: list[int]) -> Path:
    hits = list_hits()
    if not hits:
        raise RuntimeError(f"no drum samples: install {PACKAGE} (tools/install_eval_deps.sh)")
    if size == "tiny":
        hits = first_files(hits, 1)
    audio = [load_hit(h, CLIP_S - MAX_OFFSET_S) for h in hits]
    hits, audio = zip(*[(h, a) for h, a in zip(hits, audio) if a is not None])

    weights = Counter(h.group for h in hits)  # group -> clips
    fold_of = common.fold_groups(weights, FOLDS, common.rng(seed, "drums", "folds"))
    info = common.TaskInfo(
        name="drums", embedding_type="scene", prediction_type="multiclass",
        split_mode="new_split_kfold", splits=tuple(FOLDS), labels=CLASSES,
        evaluation=("top1_acc",), sample_duration=CLIP_S, source_rate=RATE,
        extra={"source": f"Debian {PACKAGE} {common.package_version(PACKAGE)}: one recorded "
                         "hit per clip; kits grouped by author, a group in one fold only",
               "fold_groups": {f: sorted(g for g, x in fold_of.items() if x == f)
                               for f in FOLDS}})
    writer = common.TaskWriter(out_dir, info, size, sample_rates)
    r = common.rng(seed, "drums", "clips")
    n = round(CLIP_S * RATE)
    for h, a in zip(hits, audio):
        clip = np.zeros(n, np.float32)
        gain, start = common.db(r.uniform(-12, -1)), int(r.integers(0, MAX_OFFSET_S * RATE))
        common.place(clip, a * gain, start)
        writer.add(fold_of[h.group], clip, [h.label], source_of(h))
    return writer.finish()
