"""The HEAR task builders (evaluation/tasks) at tiny size: the format heareval reads, the
splits (held-out voices, kits, programs), determinism. A task's tests are skipped when its
Debian packages are missing (tools/install_eval_deps.sh installs them)."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from evaluation.tasks import (TASKS, common, drums, esc, instrument, keywords, language, pitch,
                              speaker_count)
from evaluation.tasks.__main__ import main as cli
from training import corpus

RATES = [16000, 44100]
# heareval 2021.1.3 score names (heareval/score.py, available_scores)
HEAREVAL_SCORES = {"top1_acc", "pitch_acc", "chroma_acc", "event_onset_200ms_fms",
                   "event_onset_50ms_fms", "event_onset_offset_50ms_20perc_fms",
                   "segment_1s_er", "mAP", "d_prime", "aucroc"}
METADATA_KEYS = {"task_name", "version", "embedding_type", "prediction_type", "split_mode",
                 "sample_duration", "evaluation", "mode", "splits"}
EXPECTED = {  # task -> (embedding_type, prediction_type, split_mode, evaluation)
    "keywords": ("scene", "multiclass", "trainvaltest", ["top1_acc"]),
    "pitch": ("scene", "multiclass", "trainvaltest", ["pitch_acc", "chroma_acc"]),
    "events": ("event", "multilabel", "trainvaltest", ["event_onset_200ms_fms", "segment_1s_er"]),
    "drums": ("scene", "multiclass", "new_split_kfold", ["top1_acc"]),
    "esc": ("scene", "multiclass", "new_split_kfold", ["top1_acc"]),
    "instrument": ("scene", "multiclass", "trainvaltest", ["top1_acc"]),
    "language": ("scene", "multiclass", "new_split_kfold", ["top1_acc"]),
    "speaker_count": ("scene", "multiclass", "trainvaltest", ["top1_acc"]),
}
HAVE = {"keywords": keywords.available(), "pitch": pitch.available(),
        "events": bool(drums.kit_files()), "drums": bool(drums.kit_files()),
        "esc": esc.available(), "instrument": instrument.available(),
        "language": bool(language.recordings()), "speaker_count": speaker_count.available()}
WHY = {"keywords": "espeak-ng / flite / festival missing (install_training_deps.sh speech)",
       "pitch": "fluidsynth or timgm6mb-soundfont missing", "events": "hydrogen-drumkits missing",
       "drums": "hydrogen-drumkits missing",
       "esc": "widelands-data's sounds missing (tools/install_eval_deps.sh)",
       "instrument": "fluidsynth or timgm6mb-soundfont missing",
       "language": "ktuberling-data missing",
       "speaker_count": "espeak-ng / flite / festival missing (install_training_deps.sh speech)"}


def needs(name: str):
    return pytest.mark.skipif(not HAVE[name], reason=WHY[name])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each available task built twice at tiny size with seed 0: {name: (folder, folder)}."""
    out = {}
    for name in TASKS:
        if HAVE[name]:
            out[name] = tuple(TASKS[name](tmp_path_factory.mktemp(f"{name}{k}"), "tiny", 0, RATES)
                              for k in range(2))
    return out


def load(folder: Path) -> tuple[dict, list[str], dict[str, dict], dict]:
    """metadata, vocabulary (in idx order), {split: labels}, sources."""
    meta = json.loads((folder / "task_metadata.json").read_text())
    with open(folder / "labelvocabulary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["idx"]) for r in rows] == list(range(len(rows)))
    vocab = [r["label"] for r in rows]
    splits = {s: json.loads((folder / f"{s}.json").read_text()) for s in meta["splits"]}
    return meta, vocab, splits, json.loads((folder / "sources.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TASKS))
def test_format(name, built):
    if not HAVE[name]:
        pytest.skip(WHY[name])
    folder = built[name][0]
    meta, vocab, splits, sources = load(folder)
    assert folder.name == f"{name}-v1-tiny"
    assert METADATA_KEYS <= set(meta)
    assert (meta["task_name"], meta["version"], meta["mode"]) == (name, "v1", "tiny")
    kind, prediction, split_mode, evaluation = EXPECTED[name]
    assert (meta["embedding_type"], meta["prediction_type"]) == (kind, prediction)
    assert (meta["split_mode"], meta["evaluation"]) == (split_mode, evaluation)
    assert set(evaluation) <= HEAREVAL_SCORES
    if split_mode == "trainvaltest":
        assert meta["splits"] == ["train", "valid", "test"]
    else:
        assert meta["splits"] == [f"fold{i:02d}" for i in range(5)] and meta["nfolds"] == 5
    assert len(set(vocab)) == len(vocab)
    names = [f for labels in splits.values() for f in labels]
    assert len(names) == len(set(names)) == len(sources)  # unique over the task
    assert 20 <= len(names) <= 100  # tiny: a few dozen clips
    duration = meta["sample_duration"]
    for split, labels in splits.items():
        assert labels, f"empty split {split}"
        for rate in RATES:
            on_disk = {p.name for p in (folder / str(rate) / split).iterdir()}
            assert on_disk == set(labels)  # every listed file, and nothing else
        for file, label in labels.items():
            assert sources[file]["split"] == split
            if kind == "scene":
                assert len(label) == 1 and label[0] in vocab
            else:
                assert label, "an event clip without events"
                for event in label:
                    assert event["label"] in vocab
                    assert 0 <= event["start"] < event["end"] <= duration * 1000
            for rate in RATES:
                info = sf.info(str(folder / str(rate) / split / file))
                assert (info.samplerate, info.channels) == (rate, 1)
                assert info.frames == round(duration * rate)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TASKS))
def test_same_seed_same_task(name, built):
    if not HAVE[name]:
        pytest.skip(WHY[name])
    first, second = built[name]
    files = sorted(p.name for p in first.iterdir() if p.suffix in (".json", ".csv"))
    assert "task_metadata.json" in files and "labelvocabulary.csv" in files
    for f in files:
        assert (first / f).read_bytes() == (second / f).read_bytes(), f
    a = sorted((first / "16000").rglob("*.wav"))[0]
    b = second / a.relative_to(first)
    assert np.array_equal(sf.read(str(a))[0], sf.read(str(b))[0])


def _corpus_split(voice: str) -> str:
    """The training corpus' split of a voice id, from corpus' own tables."""
    engine, name = voice.split(":", 1)
    if engine == "espeak-ng":
        return corpus.espeak_split(name.split("+")[1] if "+" in name else "default")
    table = corpus.FLITE_VOICES if engine == "flite" else corpus.FESTIVAL_VOICES
    return table[name][0]


@pytest.mark.slow  # builds every task twice (the `built` fixture)
@needs("keywords")
def test_keywords_voices_held_out_and_split_by_speaker(built):
    meta, vocab, splits, sources = load(built["keywords"][0])
    assert vocab == list(keywords.TARGETS) + ["_unknown_", "_silence_"]
    speakers: dict[str, set[str]] = {s: set() for s in splits}
    for file, src in sources.items():
        if "voice" not in src:  # a silence clip
            assert splits[src["split"]][file] == ["_silence_"]
            continue
        assert _corpus_split(src["voice"]) == "test", src["voice"]  # never heard in training
        speakers[src["split"]].add(src["speaker"])
        label = splits[src["split"]][file][0]
        assert label == (src["word"] if src["word"] in keywords.TARGETS else "_unknown_")
    assert all(speakers.values())
    assert not (speakers["train"] & speakers["valid"] or speakers["train"] & speakers["test"]
                or speakers["valid"] & speakers["test"])
    # flite slt and festival's slt HTS voice are one speaker
    slt = {src["voice"] for src in sources.values() if src.get("speaker") == "slt"}
    assert slt and slt <= {"flite:slt", "festival:cmu_us_slt_arctic_hts"}


@pytest.mark.slow  # builds every task twice (the `built` fixture)
@needs("drums")
def test_drums_kits_never_span_folds(built):
    meta, vocab, splits, sources = load(built["drums"][0])
    assert vocab == list(drums.CLASSES)
    fold_of_kit: dict[str, set[str]] = {}
    fold_of_group: dict[str, set[str]] = {}
    for src in sources.values():
        fold_of_kit.setdefault(src["kit"], set()).add(src["split"])
        fold_of_group.setdefault(src["group"], set()).add(src["split"])
        assert src["licence"] != "unknown"
    assert all(len(f) == 1 for f in fold_of_kit.values())
    assert all(len(f) == 1 for f in fold_of_group.values())  # kits of one author together


@pytest.mark.slow  # builds every task twice (the `built` fixture)
@needs("events")
def test_events_kit_groups_disjoint_across_splits(built):
    meta, vocab, splits, sources = load(built["events"][0])
    groups = {s: {h["group"] for src in sources.values() if src["split"] == s
                  for h in src["hits"]} for s in splits}
    assert not (groups["train"] & groups["test"] or groups["train"] & groups["valid"]
                or groups["valid"] & groups["test"])
    for split, labels in splits.items():  # every class in every split
        assert {e["label"] for events in labels.values() for e in events} == set(vocab)


@pytest.mark.slow  # builds every task twice (the `built` fixture)
@needs("pitch")
def test_pitch_labels_and_program_split(built):
    meta, vocab, splits, sources = load(built["pitch"][0])
    assert vocab == [str(p) for p in range(36, 85)]
    # heareval's chroma_acc compares class indices modulo 12: they must follow the pitch
    assert all(i % 12 == int(label) % 12 for i, label in enumerate(vocab))
    programs = {s: {src["program"] for src in sources.values() if src["split"] == s}
                for s in splits}
    assert not (programs["train"] & programs["test"] or programs["valid"] & programs["test"]
                or programs["train"] & programs["valid"])
    for file, src in sources.items():
        assert splits[src["split"]][file] == [str(src["pitch"])]


@pytest.mark.slow  # builds every task twice (the `built` fixture)
@needs("pitch")
def test_pitch_renders_the_labelled_pitch(built):
    """The strongest spectral peak of a flute note (few strong overtones) is its pitch or an
    octave of it (low flute notes peak at their 2nd harmonic)."""
    folder = built["pitch"][0]
    _, _, _, sources = load(folder)
    checked = 0
    for file, src in sources.items():
        if src["program"] != 73:  # GM flute
            continue
        audio, rate = sf.read(str(folder / "44100" / src["split"] / file))
        part = audio[4410:4410 + 16384] * np.hanning(16384)
        spectrum = np.abs(np.fft.rfft(part, 4 * 16384))
        peak = np.argmax(spectrum) * rate / (4 * 16384)
        expected = 440 * 2 ** ((src["pitch"] - 69) / 12)
        semitones = 12 * np.log2(peak / expected)
        assert -0.5 < semitones < 24.5 and abs((semitones + 6) % 12 - 6) < 0.5, (src, peak)
        checked += 1
    assert checked >= 4


@pytest.mark.slow  # builds every task twice (the `built` fixture)
@needs("instrument")
def test_instrument_families_split_by_program(built):
    meta, vocab, splits, sources = load(built["instrument"][0])
    assert vocab == list(instrument.FAMILIES)
    programs = {s: {src["program"] for src in sources.values() if src["split"] == s}
                for s in splits}
    assert not (programs["train"] & programs["test"] or programs["valid"] & programs["test"]
                or programs["train"] & programs["valid"])
    for file, src in sources.items():  # the label is the program's GM family
        family = splits[src["split"]][file][0]
        assert 0 <= src["program"] - instrument.FIRST_PROGRAM[family] < 8
        assert src["soundfont"].endswith("TimGM6mb.sf2")
    for split, labels in splits.items():  # every family in every split
        assert {x[0] for x in labels.values()} == set(vocab), split


@pytest.mark.slow  # builds every task twice (the `built` fixture)
@needs("language")
def test_language_folds_by_word_and_recording(built):
    meta, vocab, splits, sources = load(built["language"][0])
    assert len(vocab) >= 10 and vocab == sorted(vocab)
    fold_of_word: dict[str, set[str]] = {}
    for file, src in sources.items():
        fold_of_word.setdefault(src["word"], set()).add(src["split"])
        assert splits[src["split"]][file] == [Path(src["file"]).parent.name]
    assert all(len(f) == 1 for f in fold_of_word.values())
    files = [src["file"] for src in sources.values()]
    assert len(files) == len(set(files))  # each recording once


@needs("language")
def test_language_band_limited():
    """Nothing above 4 kHz is left of a recording's own bandwidth."""
    r = common.rng(0, "t")
    noise_ = common.coloured_noise(16000, 0.0, r)
    out = language.band_limit(noise_)
    spectrum = np.abs(np.fft.rfft(out)) ** 2
    assert spectrum[4200:].sum() < 1e-3 * spectrum.sum() and out.shape == noise_.shape


@pytest.mark.slow  # builds every task twice (the `built` fixture)
@needs("esc")
def test_esc_folds_by_recording_session(built):
    meta, vocab, splits, sources = load(built["esc"][0])
    assert vocab == list(esc.LABELS) and len(vocab) >= 10
    fold_of_group: dict[str, set[str]] = {}
    for file, src in sources.items():
        fold_of_group.setdefault(src["group"], set()).add(src["split"])
        relative = src["file"].removeprefix(esc.DATA + "/")
        assert esc.label_of(relative) == splits[src["split"]][file][0]
    assert all(len(f) == 1 for f in fold_of_group.values())


def test_esc_map():
    assert esc.label_of("sound/animals/bird3_01.ogg") == "bird"
    assert esc.label_of("world/critters/duck/duck_00.ogg") == "bird"
    assert esc.label_of("sound/farm/sheep_02.ogg") == "farm_animal"
    assert esc.label_of("sound/animals/wolf_00.ogg") == "wild_mammal"
    assert esc.label_of("sound/woodcutting/tree_falling_00.ogg") == "wood_chopping"
    assert esc.label_of("sound/farm/scythe_00.ogg") is None  # of no class
    assert esc.label_of("sound/animals/frog.ogg") is None
    assert esc.group_of("sound/animals/bird1_02.ogg") == esc.group_of("sound/animals/bird1_00.ogg")
    assert esc.group_of("sound/animals/bird1_02.ogg") != esc.group_of("sound/animals/bird2_00.ogg")
    zero_ad = esc.CLASSES_0AD  # 0ad-data 0.0.26's names
    assert esc.label_of("actor/fauna/animal/elephant_attack1.ogg", zero_ad) == "wild_mammal"
    assert esc.label_of("actor/fauna/animal/horse_idle2.ogg", zero_ad) == "farm_animal"
    assert esc.label_of("actor/fauna/death/goat_12.ogg", zero_ad) == "farm_animal"
    assert esc.label_of("actor/singlesteps/fs_grass1.ogg", zero_ad) == "footsteps"
    assert esc.label_of("attack/weapon/swordhit_12b.ogg", zero_ad) == "sword"
    assert esc.label_of("attack/impact/arrow_metal_3.ogg", zero_ad) == "arrow"
    assert esc.label_of("resource/lumbering/lumber_treeexpire_1.ogg", zero_ad) is None
    assert esc.label_of("actor/human/death/male_death_3.ogg", zero_ad) is None
    assert esc.group_of("0ad:attack/weapon/swordhit_12b.ogg") == "0ad:attack/weapon/swordhit"
    assert esc.group_of("0ad:actor/fauna/animal/horse_attack1.ogg") == "0ad:actor/fauna/animal/horse_attack"


@pytest.mark.slow  # builds every task twice (the `built` fixture)
@needs("speaker_count")
def test_speaker_count_held_out_voices_and_word_split(built):
    meta, vocab, splits, sources = load(built["speaker_count"][0])
    assert vocab == ["1", "2", "3", "4"]
    words = meta["words"]
    assert not (set(words["train"]) & set(words["test"]) or set(words["valid"]) & set(words["test"]))
    for file, src in sources.items():
        voices = src["voices"]
        assert splits[src["split"]][file] == [str(len(voices))]
        assert len({v["speaker"] for v in voices}) == len(voices)  # distinct speakers
        assert all(_corpus_split(v["voice"]) == "test" for v in voices)


def test_midi_file_layout():
    data = pitch.midi_file(5, [(60, 100), (61, 90)])
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
    assert int.from_bytes(data[18:22], "big") == len(data) - 22
    assert data.endswith(b"\xff\x2f\x00")
    assert bytes([0xC0, 5]) in data and bytes([0x90, 61, 90]) in data


def test_split_groups_keeps_groups_whole_and_balances():
    weights = {"a": 30, "b": 20, "c": 20, "d": 10, "e": 10, "f": 10, "g": 20}
    split_of = common.split_groups(weights, common.rng(0, "t"))
    assert set(split_of) == set(weights) and set(split_of.values()) == {"train", "valid", "test"}
    test_share = sum(w for g, w in weights.items() if split_of[g] == "test") / 120
    assert abs(test_share - 0.25) < 0.05
    assert split_of == common.split_groups(weights, common.rng(0, "t"))  # seeded
    with pytest.raises(ValueError):
        common.split_groups({"a": 1, "b": 1}, common.rng(0, "t"))


def test_fold_groups_balances_whole_groups():
    weights = {"a": 50, "b": 40, "c": 30, "d": 20, "e": 10, "f": 10, "g": 5, "h": 5}
    folds = [f"fold{i:02d}" for i in range(5)]
    fold_of = common.fold_groups(weights, folds, common.rng(0, "t"))
    load_ = {f: sum(w for g, w in weights.items() if fold_of[g] == f) for f in folds}
    assert set(fold_of) == set(weights) and min(load_.values()) >= 20  # 170 / 5 = 34 ideal


def test_drum_class_from_instrument_names():
    assert drums.drum_class("Kick (Tama Superstar 22\")") == "kick"
    assert drums.drum_class("c3 - bass drum 1") == "kick"
    assert drums.drum_class("Hi Hat Closed") == "hihat"
    assert drums.drum_class("Closed HH 2") == "hihat"
    assert drums.drum_class("Ride (Custom, Zagrebin 22\")") == "cymbal"
    assert drums.drum_class("Pearl Tom Floor") == "tom"
    assert drums.drum_class("Hand Clap") == "clap"
    assert drums.drum_class("Snare Rimshot (Pearl Free Floating Maple 14x3.5)") == "snare"
    assert drums.drum_class("Cowbell") is None and drums.drum_class("Djembe1 Slap") is None


def test_writer_rejects_wrong_length_and_unknown_labels(tmp_path):
    info = common.TaskInfo("t", "scene", "multiclass", "trainvaltest", ("train", "valid", "test"),
                           ("a", "b"), ("top1_acc",), 0.5, 16000)
    writer = common.TaskWriter(tmp_path, info, "tiny", [16000])
    with pytest.raises(ValueError):
        writer.add("train", np.zeros(100, np.float32), ["a"], {})
    loud = np.full(8000, 3.0, np.float32)  # scaled down to MAX_PEAK, not clipped
    for split in info.splits:
        name = writer.add(split, loud, ["c"], {})
    audio, rate = sf.read(str(tmp_path / "t-v1-tiny" / "16000" / "test" / name))
    assert rate == 16000 and len(audio) == 8000
    assert abs(np.abs(audio).max() - common.MAX_PEAK) < 1e-3
    with pytest.raises(ValueError, match="outside the vocabulary"):
        writer.finish()


@needs("drums")
def test_cli_writes_requested_rates_only(tmp_path, capsys):
    cli([str(tmp_path), "--task", "drums", "--size", "tiny", "--sample-rates", "22050"])
    folder = tmp_path / "drums-v1-tiny"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["22050"]
    assert json.loads((folder / "task_metadata.json").read_text())["sample_rates"] == [22050]
    assert "drums-v1-tiny" in capsys.readouterr().out
    shutil.rmtree(folder)
