"""Synthetic keyword corpus: the 35 Speech Commands V2 words spoken by free speech engines.

The real Speech Commands can't be downloaded here, so KW-MLP is trained on words synthesised
by the engines of Debian `main` (installed by `tools/install_training_deps.sh`). No non-free
voice is used: no mbrola (espeak-ng's `mb/` voices are skipped), no pico.

Engines and voices
  espeak-ng  formant synthesis. The English accents whose voice file is in `gmw/` (en-gb,
             en-us, en-gb-scotland, en-gb-x-rp, en-gb-x-gbclan, en-gb-x-gbcwmd, en-029,
             en-us-nyc) and the voice variants of `espeak-ng --voices=variant` (98 with
             espeak-ng 1.51: m1..m8, f1..f5, klatt..klatt6, whisper, croak, named variants,
             and "default" = no variant; RicishayMax* are left out, their echo fills the
             silences used below, "Mr serious" has a space in its file name). A setting of a
             variant draws an accent, a pitch `-p` in 20..80 and a duration stretch in
             0.7..1.5 (rate `-s` = 175 / stretch: 117..250 words/min). One espeak-ng call
             speaks every word of a setting, each as its own SSML sentence (so it has the
             intonation and length of an isolated word) followed by 1 s of silence, and the
             recording is cut in the middle of those silences (~1 ms a word instead of ~10 ms
             for one process per word); a call that doesn't give one part per word fails.
  flite      kal (8 kHz diphones: band-limited), kal16 (16 kHz diphones, same speaker), awb,
             rms, slt (clustergen), one call per word. A setting draws `duration_stretch` and
             `int_f0_target_mean` (the voice's mean F0 shifted by -4..+4 semitones; rms
             ignores it). awb_time (speaks clock times only) is not used.
  festival   kal_diphone, ked_diphone, cmu_us_slt_arctic_hts, in batch mode: one festival
             process speaks 10 settings x all words of one voice from a Scheme script.
             Diphone voices: `Duration_Stretch` and `target_f0_mean` (+-4 semitones); HTS:
             speed `-r` only (`Duration_Stretch` and the `-fm` pitch shift have no effect on
             it in Debian's festival).
Voice identity (`Clips.voice`): "espeak-ng:<accent>+<variant>" ("espeak-ng:<accent>" for the
default variant), "flite:<voice>", "festival:<voice>"; `Clips.source` is the engine.

What is held out (splits are by voice, fixed in this file, never random)
  espeak-ng  whole variants, with all their accents: test = f2 f5 whisperf belinda linda m3
             Gene Gene2 Andy AnxiousAndy david, valid = f3 Annie steph steph2 steph3 m5
             travis Marco edward edward2 UniRobot. Variants that share a formant table
             (f2/f5/whisperf, Gene/Gene2, steph*, ...) are held out together, so a held-out
             timbre is not heard in training.
  flite, festival: by SPEAKER across both engines: slt (flite slt and festival's slt HTS
             voice are the same CMU Arctic speaker) is test, rms is valid, kal (flite kal,
             kal16, festival kal_diphone), awb and ked are train. So every engine has test
             clips and no speaker is in two splits; the price: festival has no valid clips
             (3 speakers only) and the test speaker of these engines is the only female one.
             Held-out flite/festival voices draw half as many settings as train voices.
  With `cpu`: 77.5 / 10.3 / 12.2 % of clips train / valid / test.

Each clip is one word: synthesised, downmixed, resampled to 16 kHz (soxr), trimmed of the
leading/trailing samples more than 40 dB below the clip's peak (keeping 20 ms of margin, with
3 ms fades), peak-normalised to 0.9. The trimmed word is stored; placing it in 1 s (and the
gain) is left to training. Dropped and counted: failed syntheses, silent output (peak below
-60 dBFS), words shorter than 60 ms or longer than 1 s after trimming.

Sizes: how many prosody settings each voice draws, with `random.Random` seeded by (seed,
voice), so the same command gives the same corpus whatever --jobs.
  tiny  espeak-ng variants default, m1 (train), steph (valid), f2 (test) and every flite and
        festival voice, 1 setting each: 12 settings x words, ~1 s (tests)
  cpu   12 settings per espeak-ng variant, 60 per flite/festival train voice (30 held out):
        54.7k clips (6.7 h of words), measured 2.1 min with --jobs 2 on 2 cores
  full  4x cpu (48 / 240 / 120): ~219k clips, for a 16-core machine (estimated 1-2 min
        there from the cpu run's CPU time, ~240 CPU-s; not measured)

    python -m training.corpus OUT_DIR [--size tiny|cpu|full] [--words w1,w2] [--jobs N] [--seed S]
                              [--splits train,valid]
"""

import argparse
import collections
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from training.data import SAMPLE_RATE, SPLITS, WORDS, Clips

ENGINES = ("espeak-ng", "flite", "festival")

# espeak-ng variants held out whole; variants sharing a formant table go together.
ESPEAK_TEST = {"f2", "f5", "whisperf", "belinda", "linda", "m3", "Gene", "Gene2", "Andy",
               "AnxiousAndy", "david"}
ESPEAK_VALID = {"f3", "Annie", "steph", "steph2", "steph3", "m5", "travis", "Marco", "edward",
                "edward2", "UniRobot"}
# their echo rings through the silences that separate the words of one espeak-ng call
ESPEAK_UNUSED = {"RicishayMax", "RicishayMax2", "RicishayMax3"}
# flite / festival voice -> (split, natural mean F0 in Hz or None where F0 can't be set)
FLITE_VOICES = {"kal": ("train", 105.0), "kal16": ("train", 105.0), "awb": ("train", 117.0),
                "rms": ("valid", None), "slt": ("test", 168.0)}
FESTIVAL_VOICES = {"kal_diphone": ("train", 105.0), "ked_diphone": ("train", 105.0),
                   "cmu_us_slt_arctic_hts": ("test", None)}

STRETCH = (0.7, 1.5)  # duration factor range, every engine
ESPEAK_PITCH = (20, 80)  # espeak-ng -p
SEMITONES = 4.0  # flite / festival F0 shift range, +-
ESPEAK_BASE_WPM = 175  # espeak-ng's default rate: -s = 175 / stretch

TRIM_DB = 40.0  # samples this far below the peak are trimmed at both ends
MARGIN_S = 0.020  # kept on each side of the trimmed word
SILENT_PEAK = 1e-3  # peak below -60 dBFS: silent
MIN_S, MAX_S = 0.06, 1.0  # trimmed words outside this are dropped
FADE_S = 0.003  # linear fade in and out
PEAK = 0.9  # peak level after normalisation
FESTIVAL_CHUNK = 10  # settings per festival process (startup ~0.3 s, then ~10 ms a word)
# flite/festival valid and test voices draw this share of a train voice's settings: they are
# 2 of 5 and 1 of 3 speakers, at full count they would make 35-40 % of those engines' clips
HELD_OUT_SHARE = 0.5
ESPEAK_GAP_S = 1.0  # silence between the words of one espeak-ng call


@dataclass(frozen=True)
class Size:
    espeak: int  # settings per espeak-ng variant
    flite: int  # settings per flite voice
    festival: int  # settings per festival voice
    espeak_variants: tuple[str, ...] | None = None  # None: every installed variant


SIZES = {
    "tiny": Size(1, 1, 1, ("default", "m1", "steph", "f2")),  # train, train, valid, test
    "cpu": Size(12, 60, 60),
    "full": Size(48, 240, 240),
}


@dataclass(frozen=True)
class Preset:
    """One voice with one prosody setting; synthesised for every requested word."""

    engine: str
    voice: str  # identity stored in Clips.voice; splits hold voices out whole
    split: str
    model: str  # what the engine is given: "en-us+m3", "slt", "kal_diphone"
    stretch: float  # duration factor (> 1: slower)
    pitch: float  # espeak-ng: -p 0..99; flite/festival: mean F0 in Hz, 0 = voice default


# ---------------------------------------------------------------- installed voices


def _run(cmd: list[str], timeout: float = 60) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout


def espeak_accents() -> list[str]:
    """English espeak-ng voices of its own data (gmw/), not the mbrola ones (mb/)."""
    accents = set()
    for line in _run(["espeak-ng", "--voices=en"]).splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5 and fields[4].startswith("gmw/"):
            accents.add(fields[1])
    return sorted(accents)


def espeak_variants() -> list[str]:
    """File names of espeak-ng's voice variants (used as `-v accent+name`), plus "default"."""
    data = re.search(r"Data at:\s*(\S+)", _run(["espeak-ng", "--version"]))
    folder = Path(data.group(1)) / "voices" / "!v" if data else None
    names = [p.name for p in folder.iterdir() if p.is_file()] if folder and folder.is_dir() else []
    return ["default"] + sorted(n for n in names
                                if re.fullmatch(r"[\w-]+", n) and n not in ESPEAK_UNUSED)


def flite_voices() -> set[str]:
    out = _run(["flite", "-lv"])
    return set(out.split(":", 1)[1].split()) if ":" in out else set()


def festival_voices() -> set[str]:
    out = _run(["festival", "--batch", "(print (voice.list))"])
    return set(re.findall(r"[\w-]+", out))


def espeak_split(variant: str) -> str:
    return "test" if variant in ESPEAK_TEST else "valid" if variant in ESPEAK_VALID else "train"


# ---------------------------------------------------------------- presets


def _stretch(rng: random.Random) -> float:
    return round(rng.uniform(*STRETCH), 3)


def _f0(rng: random.Random, base: float | None) -> float:
    return 0.0 if base is None else round(base * 2 ** (rng.uniform(-SEMITONES, SEMITONES) / 12), 1)


def build_presets(size: Size, seed: int,
                  splits: tuple[str, ...] = SPLITS) -> tuple[list[Preset], list[str]]:
    """Every (voice, setting) of `size` whose voice is in `splits`, and notes on what is
    missing. Each voice draws its settings from its own seeded generator, so voices don't shift
    each other's draws, and leaving a split out changes nothing in the others."""
    presets, notes = [], []
    missing = [e for e in ENGINES if shutil.which(e) is None]
    notes += [f"{e} not installed: skipped" for e in missing]

    def rng(voice: str) -> random.Random:
        return random.Random(f"{seed}:{voice}")

    if "espeak-ng" not in missing:
        accents, variants = espeak_accents(), espeak_variants()
        if size.espeak_variants is not None:
            variants = [v for v in size.espeak_variants if v in variants]
        for variant in variants:
            r = rng(f"espeak-ng+{variant}")
            for _ in range(size.espeak):
                accent = r.choice(accents)
                model = accent if variant == "default" else f"{accent}+{variant}"
                presets.append(Preset("espeak-ng", f"espeak-ng:{model}", espeak_split(variant),
                                      model, _stretch(r), r.randint(*ESPEAK_PITCH)))

    for engine, table, installed, n in (
        ("flite", FLITE_VOICES, flite_voices, size.flite),
        ("festival", FESTIVAL_VOICES, festival_voices, size.festival),
    ):
        if engine in missing:
            continue
        have = installed()
        for voice, (split, f0) in table.items():
            if voice not in have:
                notes.append(f"{engine} voice {voice} not installed: skipped")
                continue
            r = rng(f"{engine}:{voice}")
            count = n if split == "train" else max(1, round(n * HELD_OUT_SHARE))
            presets += [Preset(engine, f"{engine}:{voice}", split, voice, _stretch(r), _f0(r, f0))
                        for _ in range(count)]
    return [p for p in presets if p.split in splits], notes


def work_units(presets: list[Preset]) -> list[list[Preset]]:
    """One preset per unit, except festival: several settings of one voice per process."""
    units: list[list[Preset]] = []
    for p in presets:
        if (p.engine == "festival" and units and units[-1][0].voice == p.voice
                and len(units[-1]) < FESTIVAL_CHUNK):
            units[-1].append(p)
        else:
            units.append([p])
    return units


# ---------------------------------------------------------------- synthesis


Audio = tuple[np.ndarray, int] | None  # samples and their rate; None: synthesis failed


def _call(cmd: list[str], timeout: float) -> None:
    try:
        subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pass  # a missing output file counts as a failed synthesis


def _read(path: Path) -> Audio:
    try:
        audio, rate = sf.read(str(path), dtype="float32")
    except (OSError, RuntimeError):  # missing or unreadable file
        return None
    return (audio.mean(axis=1) if audio.ndim > 1 else audio), rate


def split_at_gaps(audio: np.ndarray, rate: int, count: int) -> list[np.ndarray] | None:
    """Cut a recording of `count` words separated by long silences in the middle of each
    silence; None if it doesn't hold exactly `count` words."""
    peak = np.abs(audio).max() if len(audio) else 0.0
    if peak < SILENT_PEAK:
        return None
    loud = np.flatnonzero(np.abs(audio) >= SILENT_PEAK * peak)
    gaps = np.flatnonzero(np.diff(loud) > ESPEAK_GAP_S * rate / 2)
    if len(gaps) != count - 1:
        return None
    return np.split(audio, (loud[gaps] + loud[gaps + 1]) // 2)


def synth_espeak(p: Preset, words: list[str], folder: Path) -> list[Audio]:
    """One espeak-ng call per setting: every word as its own SSML sentence (so it gets the
    intonation of an isolated word), separated by silences, then cut apart."""
    ssml = "".join(f'<s>{w}</s><break time="{ESPEAK_GAP_S * 1000:.0f}ms"/>' for w in words)
    out = folder / "espeak.wav"
    _call(["espeak-ng", "-m", "-v", p.model, "-p", str(int(p.pitch)),
           "-s", str(round(ESPEAK_BASE_WPM / p.stretch)), "-w", str(out), f"<speak>{ssml}</speak>"],
          timeout=60)
    read = _read(out)
    parts = split_at_gaps(*read, len(words)) if read else None
    return [(a, read[1]) for a in parts] if parts else [None] * len(words)


def synth_flite(p: Preset, words: list[str], folder: Path) -> list[Audio]:
    """One flite call per word."""
    audios = []
    for w in words:
        out = folder / f"{w}.wav"
        cmd = ["flite", "-voice", p.model, "--setf", f"duration_stretch={p.stretch}"]
        if p.pitch:
            cmd += ["--setf", f"int_f0_target_mean={p.pitch}"]
        _call(cmd + ["-t", w, "-o", str(out)], timeout=30)
        audios.append(_read(out))
    return audios


def _festival_script(presets: list[Preset], words: list[str], folder: Path) -> str:
    """Scheme for one festival process: select the voice once, then per setting set the
    duration (and F0) and save each word; unwind-protect keeps going past a failed word."""
    hts = presets[0].model.endswith("_hts")
    lines = [f"(voice_{presets[0].model})",
             "(set! base_hts hts_engine_params)" if hts else "(set! base_lr int_lr_params)"]
    for i, p in enumerate(presets):
        if hts:  # HTS computes its own durations: -r is a speed factor
            speed = f"'((\"-r\" {1 / p.stretch:.4f}))"
            lines.append(f"(set! hts_engine_params (append base_hts {speed}))")
        else:
            lines.append(f"(Parameter.set 'Duration_Stretch {p.stretch})")
            if p.pitch:
                lines.append(f"(set! int_lr_params (cons '(target_f0_mean {p.pitch}) base_lr))")
        for w in words:
            lines.append(f"(unwind-protect (utt.save.wave (utt.synth (Utterance Text \"{w}\")) "
                         f"\"{folder / f'{i}_{w}.wav'}\" 'riff) nil)")
    return "\n".join(lines) + "\n"


def synth_festival(presets: list[Preset], words: list[str], folder: Path) -> list[list[Audio]]:
    """One festival process for several settings of one voice."""
    script = folder / "script.scm"
    script.write_text(_festival_script(presets, words, folder))
    _call(["festival", "--batch", str(script)], timeout=30 + 2 * len(presets) * len(words))
    return [[_read(folder / f"{i}_{w}.wav") for w in words] for i in range(len(presets))]


def clean(audio: np.ndarray, rate: int) -> np.ndarray | str:
    """Mono 16 kHz float32 word, trimmed and peak-normalised; or why it is dropped."""
    audio = np.asarray(audio, dtype=np.float32)
    if rate != SAMPLE_RATE and len(audio):
        audio = soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    if peak < SILENT_PEAK:
        return "silent"
    loud = np.flatnonzero(np.abs(audio) >= peak * 10 ** (-TRIM_DB / 20))
    margin = round(MARGIN_S * SAMPLE_RATE)
    audio = audio[max(loud[0] - margin, 0): loud[-1] + 1 + margin]
    if len(audio) > MAX_S * SAMPLE_RATE:
        return "too long"
    if len(audio) < MIN_S * SAMPLE_RATE:
        return "too short"
    ramp = np.arange(len(audio))
    fade = np.minimum(1.0, np.minimum(ramp, ramp[::-1]) / (FADE_S * SAMPLE_RATE))  # no clicks
    return (audio * fade * (PEAK / peak)).astype(np.float32)


def run_unit(presets: list[Preset], words: list[str]) -> tuple[Clips, collections.Counter]:
    """Synthesise and clean every word of every preset (runs in a worker process).
    Returns the kept clips and a Counter of (engine, reason) for the dropped ones."""
    with tempfile.TemporaryDirectory(prefix="corpus_") as tmp:
        if presets[0].engine == "festival":
            audios = synth_festival(presets, words, Path(tmp))
        else:
            synth = synth_espeak if presets[0].engine == "espeak-ng" else synth_flite
            audios = [synth(p, words, Path(tmp)) for p in presets]
    clips, dropped = [], collections.Counter()
    cols: dict[str, list] = {"labels": [], "split": [], "source": [], "voice": []}
    for p, per_word in zip(presets, audios):
        for w, audio in zip(words, per_word):
            result = clean(*audio) if audio is not None else "failed"
            if isinstance(result, str):
                dropped[(p.engine, result)] += 1
                continue
            clips.append(result)
            for key, value in (("labels", WORDS.index(w)), ("split", p.split),
                               ("source", p.engine), ("voice", p.voice)):
                cols[key].append(value)
    return Clips.from_list(clips, **cols), dropped


def generate(words: list[str], size: Size, seed: int = 0, jobs: int = 1,
             progress: bool = True, splits: tuple[str, ...] = SPLITS
             ) -> tuple[Clips, collections.Counter, list[str]]:
    """The corpus: clips in a fixed order (units in preset order, words in `words` order),
    dropped counts per (engine, reason), and notes on skipped engines or voices. Only the
    voices of `splits` are synthesised (a training recipe asks for ("train", "valid"): the
    test voices are the evaluation suite's)."""
    unknown = [w for w in words if w not in WORDS]
    if unknown:
        raise ValueError(f"not Speech Commands words: {unknown}")
    unknown_splits = set(splits) - set(SPLITS)
    if unknown_splits:
        raise ValueError(f"unknown splits: {sorted(unknown_splits)}")
    presets, notes = build_presets(size, seed, splits)
    units = work_units(presets)
    results: list[tuple[Clips, collections.Counter] | None] = [None] * len(units)
    bar = tqdm(total=len(presets) * len(words), unit="word", disable=not progress)
    if jobs <= 1:
        for k, unit in enumerate(units):
            results[k] = run_unit(unit, words)
            bar.update(len(unit) * len(words))
    else:
        with ProcessPoolExecutor(jobs) as pool:
            futures = {pool.submit(run_unit, unit, words): k for k, unit in enumerate(units)}
            for future in as_completed(futures):
                k = futures[future]
                results[k] = future.result()
                bar.update(len(units[k]) * len(words))
    bar.close()
    dropped = sum((r[1] for r in results), collections.Counter())
    parts = [r[0] for r in results if len(r[0])]
    clips = Clips.concat(parts) if parts else Clips.from_list(
        [], labels=[], split=[], source=[], voice=[])
    return clips, dropped, notes


# ---------------------------------------------------------------- summary and CLI


def summary(clips: Clips, dropped: collections.Counter, notes: list[str], seconds: float) -> str:
    engines = [e for e in ENGINES if (clips.source == e).any()]
    rows = [f"{'':10s}" + "".join(f"{s:>8s}" for s in SPLITS) + f"{'total':>8s}"
            + "   voices " + "/".join(SPLITS)]
    masks = [(e, clips.source == e) for e in engines] + [("all", np.ones(len(clips), bool))]
    for name, mask in masks:
        counts = [int((mask & (clips.split == s)).sum()) for s in SPLITS]
        voices = [len(set(clips.voice[mask & (clips.split == s)])) for s in SPLITS]
        rows.append(f"{name:10s}" + "".join(f"{c:8d}" for c in counts) + f"{sum(counts):8d}"
                    + "   " + "/".join(map(str, voices)))
    total = max(len(clips), 1)
    shares = " / ".join(f"{s} {100 * (clips.split == s).sum() / total:.1f}%" for s in SPLITS)
    hours = clips.lengths.sum() / SAMPLE_RATE / 3600
    mean = clips.lengths.mean() / SAMPLE_RATE if len(clips) else 0.0
    reasons = collections.Counter()
    for (engine, reason), n in dropped.items():
        reasons[reason] += n
    drop = ", ".join(
        f"{reason} {n} (" + ", ".join(f"{e} {dropped[(e, reason)]}" for e in ENGINES
                                       if dropped[(e, reason)]) + ")"
        for reason, n in sorted(reasons.items())) or "none"
    words_seen = len(set(clips.labels.tolist()))
    return "\n".join(
        ["clips per engine and split (voices = distinct voice ids):", *rows,
         f"splits: {shares}",
         f"words: {words_seen}, audio {hours:.2f} h, mean word {mean:.2f} s",
         f"dropped: {drop}", *notes, f"wall time: {seconds:.0f} s ({seconds / 60:.1f} min)"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--size", choices=sorted(SIZES), default="cpu")
    parser.add_argument("--words", default=",".join(WORDS), help="comma-separated, default all 35")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", default=",".join(SPLITS),
                        help="voices to synthesise; train,valid for training (test voices "
                             "are the evaluation suite's)")
    args = parser.parse_args(argv)
    words = [w.strip() for w in args.words.split(",") if w.strip()]
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    start = time.time()
    try:
        clips, dropped, notes = generate(words, SIZES[args.size], args.seed, args.jobs,
                                         splits=splits)
    except ValueError as e:
        sys.exit(str(e))
    clips.save(args.out_dir)
    print(summary(clips, dropped, notes, time.time() - start))
    print(f"saved {len(clips)} clips to {args.out_dir}")


if __name__ == "__main__":
    main()
