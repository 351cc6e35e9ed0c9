import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from training import corpus, general_data
from training.general import HEADS, GeneralData, effects, music, speech
from training.sources_train import check_not_reserved

RATE = 16000
HAS_FLUIDSYNTH = shutil.which("fluidsynth") is not None and Path(
    music.FONTS["FluidR3_GM"][1]).is_file()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("general") / "tiny"
    general_data.build(out, "tiny", seed=0)
    return out, GeneralData.load(out)


# ------------------------------------------------------------------ the built set


def test_labels_in_range_and_named(tiny):
    folder, data = tiny
    assert len(data) > 0
    vocab = json.loads((folder / "heads.json").read_text())
    assert {h: tuple(v) for h, v in vocab.items()} == HEADS
    for head, labels in data.heads.items():
        assert labels.shape == (len(data),) and labels.dtype == np.int64
        assert labels.min() >= -1 and labels.max() < len(HEADS[head])
    assert (data.heads["domain"] >= 0).all()  # every clip has a domain
    np.testing.assert_array_equal(data.clips.labels, data.heads["keyword"])


def test_heads_follow_the_domain(tiny):
    _, data = tiny
    domain = np.array(data.names("domain"))
    speech_only = ("keyword", "language")
    music_only = ("pitch", "instrument", "velocity", "harmony", "drum")
    for head in music_only:
        assert (data.heads[head][domain == "speech"] == -1).all()
        assert (data.heads[head][domain == "environment"] == -1).all()
    for head in speech_only:
        assert (data.heads[head][domain == "music"] == -1).all()
    assert (data.heads["sound_class"][(domain == "speech") | (domain == "music")] == -1).all()
    mixed = np.char.find(domain.astype(str), "+") >= 0
    assert (data.heads["velocity"][mixed] == -1).all()  # a mixture is rescaled


def test_clips_are_one_to_two_seconds_and_not_silent(tiny):
    _, data = tiny
    assert data.clips.lengths.min() >= RATE and data.clips.lengths.max() <= 2 * RATE
    for i in range(len(data)):
        assert np.abs(data.clips.clip(i)).max() > 0.01


def test_splits_hold_recordings_out_whole(tiny):
    _, data = tiny
    assert set(data.clips.split) <= {"train", "valid"}
    split_of: dict[str, str] = {}
    for voice, split in zip(data.clips.voice, data.clips.split):
        for part in str(voice).split("|"):  # a mixture's parts come from its own split
            assert split_of.setdefault(part, split) == split, part


def test_no_keyword_test_voice(tiny):
    _, data = tiny
    for voice, source in zip(data.clips.voice, data.clips.source):
        for part in str(voice).split("|"):
            if part.startswith("espeak-ng:"):
                name = part.split(":", 1)[1]
                assert corpus.espeak_split(name.split("+")[1] if "+" in name else
                                           "default") != "test"
            assert not part.startswith(("flite:slt", "festival:cmu_us_slt"))


def test_licences_and_summary_written(tiny):
    folder, data = tiny
    report = json.loads((folder / "licences.json").read_text())
    sources = set(data.clips.source)
    assert sources <= set(report)
    for source in sources - {"mixture"}:
        entry = report[source]
        assert entry["clips"] == int((data.clips.source == source).sum())
        assert entry["licences"], source  # every source names its licence
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["clips"] == len(data)


@pytest.mark.slow
def test_same_seed_same_set(tiny, tmp_path):
    _, data = tiny
    again = GeneralData.load(general_data.build(tmp_path / "again", "tiny", 0) and
                             tmp_path / "again")
    np.testing.assert_array_equal(np.asarray(again.clips.audio), np.asarray(data.clips.audio))
    for head in HEADS:
        np.testing.assert_array_equal(again.heads[head], data.heads[head])
    np.testing.assert_array_equal(again.clips.voice, data.clips.voice)


def test_load_refuses_other_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="heads.npz"):
        GeneralData.load(tmp_path)


def test_unknown_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown size"):
        general_data.build(tmp_path, "huge")


# ------------------------------------------------------------------ parts


def test_reserved_sources_are_refused():
    for name in ("ktuberling-data", "hydrogen-drumkits", "sonic-pi-samples",
                 "timgm6mb-soundfont", "/usr/share/sounds/sf2/TimGM6mb.sf2"):
        with pytest.raises(ValueError, match="reserved"):
            check_not_reserved([name])
    check_not_reserved(["klettres-data", "fluid-soundfont-gm"])
    assert all(p not in ("timgm6mb-soundfont",) for p, _ in music.FONTS.values())


def test_corpus_leaves_out_the_test_voices():
    presets, _ = corpus.build_presets(corpus.SIZES["tiny"], 0, ("train", "valid"))
    assert presets and {p.split for p in presets} == {"train", "valid"}
    everything, _ = corpus.build_presets(corpus.SIZES["tiny"], 0)
    assert [p for p in everything if p.split != "test"] == presets
    with pytest.raises(ValueError, match="unknown splits"):
        corpus.generate(["yes"], corpus.SIZES["tiny"], progress=False, splits=("dev",))


def test_melodic_events_are_labelled_by_their_notes():
    r = np.random.default_rng(0)
    for _ in range(300):
        program = int(r.integers(0, 120))
        e = music.melodic_event("f:0", program, r)
        assert 1.0 <= e.seconds <= 2.0
        assert e.labels["instrument"] == music.FAMILIES[program // 8]
        assert all(0 <= start < end <= e.seconds for start, end, _, _ in e.notes)
        keys = sorted(k for _, _, k, _ in e.notes)
        harmony = e.labels["harmony"]
        if harmony == "phrase":
            assert "pitch" not in e.labels
            continue
        assert e.labels["pitch"] == str(keys[0]) and 21 <= keys[0] <= 108
        assert e.labels["velocity"] == music.velocity_bucket(e.notes[0][3])
        if harmony == "single note":
            assert len(keys) == 1
        elif harmony in music.INTERVALS:
            assert keys[1] - keys[0] == music.INTERVALS.index(harmony) + 1
        else:
            assert tuple(k - keys[0] for k in keys) == music.CHORDS[harmony]


def test_velocity_buckets_and_drum_map():
    assert [music.velocity_bucket(v) for v in (1, 31, 32, 63, 64, 95, 96, 127)] == \
        ["pp", "pp", "p", "p", "f", "f", "ff", "ff"]
    assert set(range(35, 82)) == set(music._DRUM_KEYS)
    assert set(music._DRUM_KEYS.values()) == set(music.DRUMS)


def test_midi_file_structure():
    events = music.plan("f", (0,), (0,), 2, 1, 0, drum_keys=(36,))
    data, starts = music.midi_file(events)
    assert data[:4] == b"MThd" and struct.unpack(">IHHH", data[4:14]) == (6, 0, 1, 500)
    assert data[14:18] == b"MTrk" and struct.unpack(">I", data[18:22])[0] == len(data) - 22
    assert starts[0] == 0
    assert np.all(np.diff(starts) == [round(e.seconds * 1000) for e in events[:-1]])
    assert data.endswith(b"\xff\x2f\x00")


@pytest.mark.skipif(not HAS_FLUIDSYNTH, reason="fluidsynth or FluidR3_GM missing")
def test_rendered_notes_have_their_pitch():
    r = np.random.default_rng(1)
    events = []
    for key in (45, 57, 69):  # A2, A3, A4 on a piano
        e = music.melodic_event("FluidR3_GM:0", 0, r)
        e.notes = [(0.0, 0.8, key, 100)]
        e.seconds = 1.0
        events.append(e)
    clips = music.normalise(events, music.render(music.FONTS["FluidR3_GM"][1], events))
    for key, clip in zip((45, 57, 69), clips):
        assert clip is not None and len(clip) == RATE
        x = clip[: RATE // 2] * np.hanning(RATE // 2)
        spectrum = np.abs(np.fft.rfft(x, 1 << 16))
        freqs = np.fft.rfftfreq(1 << 16, 1 / RATE)
        f0 = 440 * 2 ** ((key - 69) / 12)
        band = (freqs > f0 * 0.97) & (freqs < f0 * 1.03)
        below = (freqs > 30) & (freqs < f0 * 0.9)
        assert spectrum[band].max() > 3 * spectrum[below].max()  # no energy below the note


def test_sound_class_mapping():
    w = "/c/usr/share/games/wesnoth/1.16/data/core/sounds/"
    assert effects.sound_class("wesnoth-1.16-data", w + "sword-1.ogg") == "blade and swing"
    assert effects.sound_class("wesnoth-1.16-data", w + "ambient/birds2.ogg") == "birds"
    assert effects.sound_class("wesnoth-1.16-data", w + "ambient/ship.ogg") is None
    assert effects.sound_class("wesnoth-1.16-data", w + "orc-die-2.ogg") == \
        "creature vocalisation"
    lin = "/c/usr/share/games/lincity-ng/sounds/"
    assert effects.sound_class("lincity-ng-data", lin + "RailTrain2.wav") == "vehicle and engine"
    assert effects.sound_class("lincity-ng-data", lin + "Harbor1.wav") is None
    assert effects.sound_class("supertux-data", "/x/supertux2/sounds/rain.wav") == \
        "rain and thunder"
    assert effects.sound_class("supertux-data", "/x/supertux2/sounds/lifeup.wav") is None
    oa = "/c/usr/share/games/openarena/baseoa/pak0.pk3.d/sound/"
    assert effects.sound_class("openarena-data", oa + "player/footsteps/boot3.wav") == "footsteps"
    assert effects.sound_class("openarena-data", oa + "weapons/shotgun/sshotf1b.wav") == "gunfire"
    assert effects.sound_class("openarena-data", oa + "items/quaddamage.wav") is None
    rc = "/c/usr/share/games/redeclipse/data/sounds/"
    assert effects.sound_class("redeclipse-data", rc + "ambience/hollowwind.ogg") == "wind"
    assert effects.sound_class("redeclipse-data", rc + "ambience/distant_cars.ogg") is None
    assert all(label in effects.SOUND_CLASSES for _, _, label in effects.RULES if label)
    assert set(effects.SOUND_CLASSES) == {label for _, _, label in effects.RULES if label}


def test_cut_pads_short_and_splits_long_sounds():
    r = np.random.default_rng(0)
    short = np.ones(4000, np.float32)
    (clip,) = effects.cut(short, 4, r)
    assert len(clip) == RATE and np.count_nonzero(clip) == 4000
    long = np.sin(np.arange(10 * RATE) / 10).astype(np.float32)
    pieces = effects.cut(long, 4, r)
    assert len(pieces) == 4 and all(RATE <= len(p) <= 2 * RATE for p in pieces)
    assert effects.cut(np.zeros(20000, np.float32), 4, r) == []  # silent: nothing


def test_klettres_languages():
    assert speech.language("/usr/share/klettres/en_GB/alpha/a.ogg") == "en"
    assert speech.language("/usr/share/klettres/pt_BR/syllab/ba.ogg") == "pt"
    assert speech.language("/usr/share/klettres/fr/alpha/a.ogg") == "fr"
    assert speech.language("/usr/share/klettres/pics/x.ogg") is None
    splits = [speech.split_of(f"/k/{i}.ogg", 0) for i in range(400)]
    assert 20 <= splits.count("valid") <= 60
    assert splits == [speech.split_of(f"/k/{i}.ogg", 0) for i in range(400)]
