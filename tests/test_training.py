"""The training machinery on tiny data: augmentation, schedule, a short run, evaluation."""

import json

import numpy as np
import pytest
import torch

from hear_mixers import load_model
from training.augment import (AugmentConfig, augment, bandlimit, mix_at_snr, noise_segments,
                              place, reverb, spec_augment)
from training.data import WORDS, Clips
from training.train import TrainConfig, lr_factor


def tiny_words(per_word: int = 4, words: int = 35, seed: int = 0) -> Clips:
    rng = np.random.default_rng(seed)
    clips, labels, split, voice = [], [], [], []
    for k in range(words):
        for v in range(per_word):
            t = np.arange(rng.integers(3000, 9000)) / 16000
            clips.append(0.5 * np.sin(2 * np.pi * (150 + 60 * k) * t) * np.hanning(len(t)))
            labels.append(k)
            split.append(["train", "train", "valid", "test"][v % 4])
            voice.append(f"voice{v}")
    return Clips.from_list(clips, labels=labels, split=split, source=["tone"] * len(clips), voice=voice)


def tiny_noise() -> Clips:
    rng = np.random.default_rng(1)
    clips = [0.2 * rng.standard_normal(n) for n in (5000, 24000, 40000, 20000)]
    return Clips.from_list(clips, labels=[-1] * 4, split=["train", "train", "train", "test"],
                           source=["noise"] * 4, voice=["a", "b", "c", "d"])


def test_place_puts_each_word_inside_one_second():
    words, rng = tiny_words(), np.random.default_rng(0)
    out = place(words, np.arange(10), rng)
    assert out.shape == (10, 16000) and out.dtype == np.float32
    for row, i in zip(out, range(10)):
        nz = np.flatnonzero(row)
        assert len(nz) > 0 and nz[-1] - nz[0] + 1 <= words.lengths[i]
    centred = place(words, np.array([0]), rng, centre=True)[0]
    nz = np.flatnonzero(centred)
    assert abs((nz[0] + nz[-1]) / 2 - 8000) <= 2


def test_speed_change_resamples_the_word():
    word = Clips.from_list([np.full(8000, 0.5)], labels=[0], split=["train"], source=["x"], voice=["y"])
    fast = place(word, np.array([0]), np.random.default_rng(0), speed=(1.25, 1.25))[0]
    assert np.count_nonzero(fast) == 6400


def test_noise_segments_tile_short_clips():
    seg = noise_segments(tiny_noise(), 20, np.random.default_rng(0))
    assert seg.shape == (20, 16000) and (np.abs(seg).max(1) > 0).all()


def test_noise_sources_are_drawn_equally_often():
    rare = Clips.from_list([np.full(16000, 0.5)], labels=[-1], split=["train"], source=["drums"], voice=["d"])
    common = Clips.from_list([np.full(16000, -0.25)] * 9, labels=[-1] * 9, split=["train"] * 9,
                             source=["babble"] * 9, voice=list("abcdefghi"))
    seg = noise_segments(Clips.concat([rare, common]), 4000, np.random.default_rng(0))
    share = (seg[:, 0] > 0).mean()
    assert 0.45 < share < 0.55  # 1 clip of 10, but half of the draws


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 30.0])
def test_mix_at_snr_gives_that_snr(snr):
    g = torch.Generator().manual_seed(0)
    speech, noise = torch.randn(3, 16000, generator=g), 5 * torch.randn(3, 16000, generator=g)
    mixed = mix_at_snr(speech, noise, torch.full((3,), snr))
    measured = 10 * torch.log10(speech.pow(2).mean(1) / (mixed - speech).pow(2).mean(1))
    torch.testing.assert_close(measured, torch.full((3,), snr), atol=1e-3, rtol=0)


def test_reverb_keeps_the_peak_and_spreads_energy_later():
    g = torch.Generator().manual_seed(0)
    click = torch.zeros(2, 16000)
    click[:, 100] = 0.5
    wet = reverb(click, torch.tensor([0.3, 0.6]), g)
    torch.testing.assert_close(wet.abs().amax(1), torch.full((2,), 0.5))
    assert (wet[:, 2000:].abs().sum(1) > 0).all()  # a tail after 0.1 s
    assert wet[1, 6000:].pow(2).sum() > wet[0, 6000:].pow(2).sum()  # longer rt60, longer tail


def test_bandlimit_removes_out_of_band_tones():
    t = torch.arange(16000) / 16000
    x = sum(torch.sin(2 * np.pi * f * t) for f in (100, 1000, 6000))[None]
    y = bandlimit(x, torch.tensor([3000.0]), torch.tensor([300.0]))
    spec = torch.fft.rfft(y[0]).abs()
    assert spec[1000] > 1000 and spec[100] < 1e-2 and spec[6000] < 1e-2


def test_augment_keeps_shape_range_and_is_seeded():
    speech = torch.from_numpy(place(tiny_words(), np.arange(16), np.random.default_rng(0)))
    noise = torch.from_numpy(noise_segments(tiny_noise(), 16, np.random.default_rng(0)))
    a = augment(speech.clone(), noise, AugmentConfig(), torch.Generator().manual_seed(3))
    b = augment(speech.clone(), noise, AugmentConfig(), torch.Generator().manual_seed(3))
    assert a.shape == speech.shape and torch.equal(a, b) and a.abs().max() <= 1.0
    assert not torch.equal(a, speech)


def test_spec_augment_masks_bands_with_the_mean():
    feats = torch.randn(8, 40, 98)
    cfg = AugmentConfig(time_mask_width=10, freq_mask_width=5)
    out = spec_augment(feats, cfg, torch.Generator().manual_seed(0))
    changed = out != feats
    assert changed.any() and changed.float().mean() < 0.5
    none = spec_augment(feats, AugmentConfig(time_masks=0, freq_masks=0), torch.Generator())
    assert torch.equal(none, feats)


def test_lr_schedule_warms_up_then_decays_to_zero():
    f = [lr_factor(s, 100, 10) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] < 0.01


def test_short_training_run_writes_a_strict_checkpoint(tmp_path, monkeypatch):
    import sys

    from training import train

    words, noise = tiny_words(per_word=8), tiny_noise()
    words.save(tmp_path / "corpus")
    noise.save(tmp_path / "noise")
    monkeypatch.setitem(train.RECIPES, "test", TrainConfig(epochs=2, batch_size=32, warmup_epochs=0.5))
    out = tmp_path / "kwmlp.pt"
    monkeypatch.setattr(sys, "argv", ["train", "--corpus", str(tmp_path / "corpus"), "--noise",
                                      str(tmp_path / "noise"), "--recipe", "test", "--out", str(out)])
    train.main()
    model = load_model(out)  # loads strictly, no "untrained" warning
    assert model.encoder.cfg.num_classes == len(WORDS)
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["trained"] is True and meta["classes"] == WORDS
    assert meta["recipe"]["train"]["epochs"] == 2 and 0 <= meta["measured"]["test_acc_clean"] <= 1
    history = json.loads(out.with_suffix(".history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert out.with_suffix(".curve.png").stat().st_size > 1000


def test_evaluation_reports_every_card_figure(tmp_path):
    from hear_mixers.checkpoint import save_checkpoint
    from hear_mixers.models.kwmlp import KWMLP
    from training.card_figures import evaluate, markdown

    torch.manual_seed(0)
    save_checkpoint(KWMLP(), tmp_path / "m.pt", trained=False)
    r = evaluate(tmp_path / "m.pt", tiny_words(), tiny_noise(), probe_clips=50)
    assert r["test_clips"] == 35 and set(r["per_engine_clean"]) == {"tone"}
    assert set(r["linear_probe_test_acc"]) == {"4", "8", "12"}
    for key in ("test_acc_clean", "test_acc_snr10", "test_acc_snr0"):
        assert 0.0 <= r[key] <= 1.0
    assert "noise at 0 dB SNR" in markdown(r)


def test_asm_training_run_stores_fbank_statistics_and_feeds_the_ablation(tmp_path, monkeypatch):
    import sys

    from hear_mixers.checkpoint import load_checkpoint
    from training import ablation, train
    from training.card_figures import evaluate

    words, noise = tiny_words(per_word=8), tiny_noise()
    words.save(tmp_path / "corpus")
    noise.save(tmp_path / "noise")
    monkeypatch.setitem(train.RECIPES, "test", TrainConfig(epochs=1, batch_size=32, warmup_epochs=0.5))
    rows = []
    for arch in ("asm", "asm_rh"):
        out = tmp_path / f"{arch}.pt"
        monkeypatch.setattr(sys, "argv", [
            "train", "--arch", arch, "--corpus", str(tmp_path / "corpus"), "--noise",
            str(tmp_path / "noise"), "--recipe", "test", "--max-train-clips", "40", "--out", str(out)])
        train.main()
        model, meta = load_checkpoint(out)
        assert model.cfg.mixer == arch and meta["recipe"]["arch"] == arch
        assert meta["data"]["clips"]["train"] == 40  # the seeded subset
        # fbank statistics of these tones, not the no-op defaults
        assert model.cfg.norm_mean < -1 and model.cfg.norm_std > 1
        rows.append(ablation.row(out))
    table = ablation.markdown(rows)
    assert "| ASM |" in table and "| ASM-RH (both) |" in table and "1 epochs over 40" in table
    r = evaluate(tmp_path / "asm_rh.pt", words, noise, probe_clips=50)
    assert set(r["linear_probe_test_acc"]) == {"2", "4", "6"}  # thirds of 6 blocks
