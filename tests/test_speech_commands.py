import numpy as np
import pytest
import soundfile as sf

from training.data import WORDS, Clips
from training.speech_commands import load_speech_commands, main


def _wav(path, seconds=0.25, rate=16000, channels=1, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (int(seconds * rate), channels) if channels > 1 else int(seconds * rate)
    sf.write(path, 0.1 * np.random.default_rng(seed).standard_normal(shape), rate,
             subtype="PCM_16")


@pytest.fixture
def sc_root(tmp_path):
    names = ["aaaa1111_nohash_0", "aaaa1111_nohash_1", "bbbb2222_nohash_0", "cccc3333_nohash_0"]
    for w, word in enumerate(["yes", "no", "zero"]):
        for n, name in enumerate(names):
            _wav(tmp_path / word / f"{name}.wav", seconds=0.2 + 0.1 * n, seed=10 * w + n)
    _wav(tmp_path / "_unknown_" / "dddd4444_nohash_0.wav")  # not one of the 35 words
    _wav(tmp_path / "_background_noise_" / "white_noise.wav", seconds=2.0, seed=1)
    _wav(tmp_path / "_background_noise_" / "pink_noise.wav", seconds=1.5, seed=2)
    lists = {"validation_list.txt": ["yes/bbbb2222", "no/bbbb2222"],
             "testing_list.txt": ["yes/cccc3333", "zero/cccc3333"]}
    for name, stems in lists.items():
        (tmp_path / name).write_text("".join(f"{s}_nohash_0.wav\n" for s in stems))
    return tmp_path


def test_words(sc_root):
    words, _ = load_speech_commands(sc_root)
    assert len(words) == 12
    assert sorted(set(words.labels)) == sorted(WORDS.index(w) for w in ["yes", "no", "zero"])
    assert set(words.source) == {"speech_commands"}
    assert set(words.voice) == {"aaaa1111", "bbbb2222", "cccc3333"}
    valid = words.subset(words.split == "valid")
    assert sorted(WORDS[i] for i in valid.labels) == ["no", "yes"]
    assert set(valid.voice) == {"bbbb2222"}
    test = words.subset(words.split == "test")
    assert sorted(WORDS[i] for i in test.labels) == ["yes", "zero"]
    # zero/bbbb2222 is in neither list, so it trains
    assert (words.split == "train").sum() == 8
    # audio is stored whole and exactly (16-bit PCM)
    i = int(np.flatnonzero((words.labels == WORDS.index("no")) & (words.voice == "cccc3333"))[0])
    stored, _ = sf.read(sc_root / "no" / "cccc3333_nohash_0.wav", dtype="int16")
    s = int(words.starts[i])
    np.testing.assert_array_equal(words.audio[s : s + int(words.lengths[i])], stored)


def test_noise(sc_root):
    _, noise = load_speech_commands(sc_root)
    assert len(noise) == 2
    assert set(noise.labels) == {-1}
    assert set(noise.split) == {"train"}
    assert set(noise.source) == {"speech_commands_noise"}
    assert sorted(noise.lengths) == [24000, 32000]


def test_round_trip_and_cli(sc_root, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("out")
    main([str(sc_root), str(out)])
    assert "valid" in capsys.readouterr().out
    words, noise = load_speech_commands(sc_root)
    for original, folder in [(words, out / "words"), (noise, out / "noise")]:
        loaded = Clips.load(folder)
        np.testing.assert_array_equal(loaded.audio, original.audio)
        for a, b in zip(loaded._index(), original._index()):
            np.testing.assert_array_equal(a, b)


def test_wrong_sample_rate(sc_root):
    _wav(sc_root / "no" / "eeee5555_nohash_0.wav", rate=8000)
    with pytest.raises(ValueError, match="eeee5555_nohash_0.wav.*16000 Hz mono"):
        load_speech_commands(sc_root)


def test_stereo_rejected(sc_root):
    _wav(sc_root / "yes" / "ffff6666_nohash_0.wav", channels=2)
    with pytest.raises(ValueError, match="ffff6666.*2 channels"):
        load_speech_commands(sc_root)


def test_not_speech_commands(tmp_path):
    _wav(tmp_path / "music" / "song.wav")
    with pytest.raises(ValueError, match="does not look like Speech Commands"):
        load_speech_commands(tmp_path)


def test_missing_lists(sc_root):
    (sc_root / "testing_list.txt").unlink()
    with pytest.raises(ValueError, match="missing testing_list.txt"):
        load_speech_commands(sc_root)


def test_training_command_takes_a_speech_commands_folder(sc_root, tmp_path, monkeypatch):
    import sys

    import torch

    from training import train
    from training.train import TrainConfig

    monkeypatch.setitem(train.RECIPES, "test", TrainConfig(epochs=1, batch_size=4, warmup_epochs=0.5))
    out = tmp_path / "out" / "kwmlp_sc.pt"
    monkeypatch.setattr(sys, "argv", ["train", "--speech-commands", str(sc_root), "--recipe", "test",
                                      "--out", str(out)])
    train.main()  # noise: the folder's own _background_noise_
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["data"]["clips"] == {"train": 8, "valid": 2, "test": 2}
    assert meta["data"]["corpus"] == str(sc_root) and meta["data"]["noise_clips"] == 2
