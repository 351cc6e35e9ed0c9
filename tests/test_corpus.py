import shutil

import numpy as np
import pytest

from training import corpus
from training.data import SAMPLE_RATE, SPLITS, WORDS, Clips

TEST_WORDS = ["yes", "sheila", "backward"]
INSTALLED = [e for e in corpus.ENGINES if shutil.which(e)]
needs_an_engine = pytest.mark.skipif(not INSTALLED, reason="no speech engine installed")


def generate(seed: int = 0, jobs: int = 2):
    return corpus.generate(TEST_WORDS, corpus.SIZES["tiny"], seed=seed, jobs=jobs, progress=False)


@pytest.fixture(scope="module")
def tiny():
    clips, dropped, _ = generate()
    return clips, dropped


def same(a: Clips, b: Clips) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x, y) for x, y in zip((a.audio, *a._index()), (b.audio, *b._index())))


# ------------------------------------------------------------ signal processing, no engine


def test_clean_trims_normalises_and_resamples():
    rate = 22050
    t = np.arange(int(0.3 * rate)) / rate
    word = 0.2 * np.sin(2 * np.pi * 200 * t)
    audio = np.concatenate([np.zeros(rate // 2), word, 1e-4 * np.ones(rate // 2)])  # -66 dB tail
    out = corpus.clean(audio.astype(np.float32), rate)
    assert out.dtype == np.float32
    expected = 0.3 + 2 * corpus.MARGIN_S  # the word and a margin on each side, at 16 kHz
    assert abs(len(out) / SAMPLE_RATE - expected) < 0.002
    assert abs(np.abs(out).max() - corpus.PEAK) < 1e-3
    assert abs(out[0]) < 1e-6 and abs(out[-1]) < 1e-6  # faded ends


def test_clean_drops_silent_short_and_long_words():
    assert corpus.clean(np.zeros(8000, np.float32), 16000) == "silent"
    assert corpus.clean(np.full(8000, 1e-4, np.float32), 16000) == "silent"
    assert corpus.clean(np.ones(int(1.2 * SAMPLE_RATE), np.float32), SAMPLE_RATE) == "too long"
    click = np.zeros(8000, np.float32)
    click[4000:4100] = 0.5
    assert corpus.clean(click, SAMPLE_RATE) == "too short"


def test_split_at_gaps_cuts_words_apart():
    rate = 16000
    burst = np.ones(3000, np.float32)
    gap = np.zeros(int(corpus.ESPEAK_GAP_S * rate), np.float32)
    short_gap = np.zeros(1000, np.float32)  # a stop closure inside a word: not a cut
    audio = np.concatenate([burst, short_gap, burst, gap, burst, gap, 0.5 * burst, gap])
    parts = corpus.split_at_gaps(audio, rate, 3)
    assert [int(np.count_nonzero(p)) for p in parts] == [6000, 3000, 3000]
    assert sum(len(p) for p in parts) == len(audio)
    assert corpus.split_at_gaps(audio, rate, 4) is None
    assert corpus.split_at_gaps(np.zeros(100, np.float32), rate, 1) is None


def test_held_out_espeak_variants_are_disjoint():
    assert not corpus.ESPEAK_TEST & corpus.ESPEAK_VALID
    assert corpus.espeak_split("f2") == "test" and corpus.espeak_split("steph") == "valid"
    assert corpus.espeak_split("m1") == "train" and corpus.espeak_split("default") == "train"
    for table in (corpus.FLITE_VOICES, corpus.FESTIVAL_VOICES):
        assert {split for split, _ in table.values()} >= {"train", "test"}


def test_unknown_words_are_refused():
    with pytest.raises(ValueError, match="hello"):
        corpus.generate(["yes", "hello"], corpus.SIZES["tiny"], progress=False)


# ------------------------------------------------------------ synthesis, needs engines


@needs_an_engine
def test_clips_are_words_of_at_most_one_second(tiny):
    clips, dropped = tiny
    assert len(clips) > 0 and clips.audio.dtype == np.int16
    assert not any(reason in ("failed", "silent") for _, reason in dropped)
    for i in range(len(clips)):
        s, n = int(clips.starts[i]), int(clips.lengths[i])
        assert corpus.MIN_S * SAMPLE_RATE <= n <= SAMPLE_RATE
        peak = np.abs(clips.audio[s: s + n].astype(np.int32)).max()
        assert abs(peak - corpus.PEAK * 32767) <= 2  # peak-normalised, so not silent
    assert clips.starts[0] == 0 and np.all(np.diff(clips.starts) == clips.lengths[:-1])


@needs_an_engine
def test_labels_are_the_requested_words(tiny):
    clips, dropped = tiny
    labels = [WORDS[i] for i in clips.labels]
    presets, _ = corpus.build_presets(corpus.SIZES["tiny"], 0)
    if not dropped:  # every setting says every word once
        assert sorted(labels) == sorted(TEST_WORDS * len(presets))
    assert set(labels) == set(TEST_WORDS)


@needs_an_engine
def test_splits_hold_voices_out_whole(tiny):
    clips, _ = tiny
    voices = {s: set(clips.voice[clips.split == s]) for s in SPLITS}
    assert all(voices.values())
    assert not voices["train"] & voices["valid"]
    assert not voices["train"] & voices["test"]
    assert not voices["valid"] & voices["test"]
    for voice, split in zip(clips.voice, clips.split):
        engine, name = voice.split(":", 1)
        if engine == "espeak-ng":
            assert split == corpus.espeak_split(name.split("+")[1] if "+" in name else "default")
        else:
            table = corpus.FLITE_VOICES if engine == "flite" else corpus.FESTIVAL_VOICES
            assert split == table[name][0]


@pytest.mark.parametrize("engine", corpus.ENGINES)
def test_each_installed_engine_has_test_clips(tiny, engine):
    if shutil.which(engine) is None:
        pytest.skip(f"{engine} not installed")
    clips, _ = tiny
    mine = clips.source == engine
    assert mine.sum() >= len(TEST_WORDS)
    assert all(v.startswith(f"{engine}:") for v in clips.voice[mine])
    assert (clips.split[mine] == "test").any()


@needs_an_engine
def test_same_seed_same_corpus_whatever_the_jobs(tiny):
    clips, _ = tiny
    again, _, _ = generate(seed=0, jobs=1)
    assert same(clips, again)
    other = corpus.build_presets(corpus.SIZES["tiny"], 1)[0]
    assert other != corpus.build_presets(corpus.SIZES["tiny"], 0)[0]


@needs_an_engine
def test_save_load_round_trip(tiny, tmp_path):
    clips, _ = tiny
    clips.save(tmp_path / "corpus")
    assert same(clips, Clips.load(tmp_path / "corpus"))


@needs_an_engine
def test_cli_writes_the_corpus_and_a_summary(tmp_path, capsys):
    corpus.main([str(tmp_path / "out"), "--size", "tiny", "--words", "no", "--jobs", "1"])
    clips = Clips.load(tmp_path / "out")
    assert len(clips) > 0 and set(clips.labels.tolist()) == {WORDS.index("no")}
    out = capsys.readouterr().out
    assert "wall time" in out and "dropped" in out and f"saved {len(clips)} clips" in out
