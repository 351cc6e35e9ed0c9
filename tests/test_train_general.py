"""The general trainer on a tiny synthetic stand-in of the general data folder: feature
bank, log-mel augmentation, objectives, exact resume, export."""

import json
import signal
import threading

import numpy as np
import pytest
import torch

from hear_mixers.checkpoint import load_checkpoint
from hear_mixers.models.asm import ASM
from training.augment import FeatureAugmentConfig, augment_features, crop_frames, mel_centres_hz, reverb_power
from training.data import Clips
from training.features import LOG_FLOOR, FeatureBank
from training.objectives import GeneralModel, ObjectiveConfig, info_nce, masked_cross_entropy
from training.resume import load_state, random_states, save_state, set_random_states
from training.train_general import RECIPES, LabelledClips, Trainer, encoder_config, main

SR = 16000


def tiny_general(folder, n: int = 48, seed: int = 0):
    """A general data folder: tones (pitch head) and noise bursts (sound-class head) of
    varied lengths, with -1 where a head does not apply."""
    rng = np.random.default_rng(seed)
    clips, pitch, sound, split = [], [], [], []
    for i in range(n):
        length = int(rng.integers(3000, 40000))
        t = np.arange(length) / SR
        if i % 2:
            k = i % 4
            clips.append(0.3 * np.sin(2 * np.pi * 220 * 2 ** (k / 12) * t))
            pitch.append(k), sound.append(-1)
        else:
            k = (i // 2) % 3
            clips.append(0.1 * rng.standard_normal(length) * np.exp(-t * (2 + 10 * k)))
            pitch.append(-1), sound.append(k)
        split.append("valid" if i % 8 == 7 else "train")
    data = Clips.from_list(clips, labels=[-1] * n, split=split, source=["synth"] * n,
                           voice=[f"v{i}" for i in range(n)])
    data.save(folder)
    np.savez(folder / "heads.npz", pitch=np.array(pitch), sound=np.array(sound))
    (folder / "heads.json").write_text(json.dumps({"pitch": ["A3", "A#3", "B3", "C4"],
                                                   "sound": ["slow", "mid", "fast"]}))
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tiny_general(tmp_path_factory.mktemp("general"))


def trainer(data_dir, cache, objectives="all", **recipe):
    import dataclasses

    r = dataclasses.replace(RECIPES["tiny"], **recipe)
    return Trainer(LabelledClips.load(data_dir), r, ObjectiveConfig(objectives=objectives), cache_dir=cache)


def test_feature_bank_matches_the_fbank_and_is_reused(data_dir, tmp_path):
    from hear_mixers.frontends.fbank import FbankConfig, KaldiFbank

    clips = Clips.load(data_dir)
    bank = FeatureBank.build(clips, FbankConfig(), tmp_path)
    with torch.no_grad():
        ref = KaldiFbank(FbankConfig())(torch.from_numpy(clips.clip(3))[None])[0].numpy()
    ref = ref if ref.shape[1] == 128 else ref.T  # (frames, mel)
    assert bank.clip(3).shape == ref.shape
    np.testing.assert_allclose(bank.clip(3).astype(np.float32), ref, atol=0.02)  # float16
    again = FeatureBank.build(clips, FbankConfig(), tmp_path)
    assert again.frames.filename == bank.frames.filename  # read back, not rebuilt


def test_crops_place_short_clips_in_silence_and_cut_long_ones():
    frames = np.arange(30 * 4, dtype=np.float16).reshape(30, 4)
    bank = FeatureBank(frames, np.array([0, 10]), np.array([10, 20]))
    out = crop_frames(bank, np.array([0, 1]), 15, np.random.default_rng(0), centre=True)
    assert out.shape == (2, 15, 4)
    short = out[0, :, 0]
    assert (short == LOG_FLOOR).sum() == 5 and list(short[short != LOG_FLOOR]) == list(range(0, 40, 4))
    np.testing.assert_array_equal(out[1], frames[12:27])  # the middle 15 of 20
    fast = crop_frames(bank, np.array([1]), 8, np.random.default_rng(0), stretch=(2.0, 2.0), centre=True)
    assert np.all(np.diff(fast[0, :, 0]) == 8)  # every second frame


def test_feature_augmentation_is_seeded_and_keeps_the_floor():
    from hear_mixers.frontends.fbank import FbankConfig

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 96, 128, generator=g) - 3
    nz = torch.randn(8, 96, 128, generator=g) - 5
    centres = mel_centres_hz(FbankConfig())
    a = augment_features(x, nz, FeatureAugmentConfig(), torch.Generator().manual_seed(1), centres, 0.01)
    b = augment_features(x, nz, FeatureAugmentConfig(), torch.Generator().manual_seed(1), centres, 0.01)
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    assert a.min() >= LOG_FLOOR - 1e-4 and torch.isfinite(a).all()
    off = FeatureAugmentConfig(gain_db=(0, 0), reverb_prob=0, bandlimit_prob=0, mix_prob=0)
    same = augment_features(x, nz, off, torch.Generator(), centres, 0.01)
    torch.testing.assert_close(same, x, atol=1e-4, rtol=0)


def test_reverb_adds_a_decaying_tail_and_keeps_the_peak():
    p = torch.full((2, 50, 3), 1e-7)
    p[:, 5] = 1.0
    wet = reverb_power(p, torch.tensor([0.1, 0.5]), torch.tensor([0.0, 0.0]), 0.01)
    torch.testing.assert_close(wet.sum(2).amax(1), p.sum(2).amax(1))
    assert wet[1, 20:].sum() > wet[0, 20:].sum()  # longer rt60, longer tail
    assert (wet[:, 6:10].sum((1, 2)) > 10 * p[:, 6:10].sum((1, 2))).all()


def test_masked_cross_entropy_ignores_missing_labels():
    logits = torch.randn(4, 3, requires_grad=True)
    full = masked_cross_entropy(logits[:2], torch.tensor([0, 2]), 0.1)
    part = masked_cross_entropy(logits, torch.tensor([0, 2, -1, -1]), 0.1)
    torch.testing.assert_close(full, part)
    none = masked_cross_entropy(logits, torch.full((4,), -1), 0.1)
    none.backward()
    assert none.item() == 0.0 and torch.equal(logits.grad, torch.zeros_like(logits))


def test_info_nce_prefers_matching_pairs():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(16, 8, generator=g)
    assert info_nce(q, q, 0.2) < info_nce(q, torch.randn(16, 8, generator=g), 0.2)


def test_ema_target_follows_the_online_encoder():
    cfg = ObjectiveConfig(ema_momentum=0.5)
    model = GeneralModel(ASM(encoder_config(3)), {"a": 3}, "a", cfg)
    online = model.encoder.patch_embed.weight
    target = model.target_encoder.patch_embed.weight
    assert torch.equal(online, target) and not target.requires_grad
    with torch.no_grad():
        online.add_(1.0)
    model.update_target()
    torch.testing.assert_close(target, online - 0.5)


@pytest.mark.parametrize("objectives", ["all", "supervised", "ssl"])
def test_every_objective_family_trains(data_dir, tmp_path, objectives):
    t = trainer(data_dir, tmp_path, objectives, steps=3, batch_size=8)
    losses = [t.train_step() for _ in range(3)]
    assert all(np.isfinite(v) for row in losses for v in row.values())
    assert ("ssl" in losses[0]) == (objectives != "supervised")
    assert ("pitch" in losses[0]) == (objectives != "ssl")


def test_resume_gives_bitwise_the_same_run(data_dir, tmp_path):
    straight = trainer(data_dir, tmp_path, steps=6, batch_size=8)
    for _ in range(6):
        straight.train_step()
    first = trainer(data_dir, tmp_path, steps=6, batch_size=8)
    for _ in range(3):
        first.train_step()
    save_state(tmp_path / "state.pt", first.state())
    torch.manual_seed(123), np.random.seed(5)  # disturb the process-wide generators
    resumed = trainer(data_dir, tmp_path, steps=6, batch_size=8)
    resumed.load(load_state(tmp_path / "state.pt"))
    losses = [resumed.train_step() for _ in range(3)]
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    oa, ob = straight.opt.state_dict()["state"], resumed.opt.state_dict()["state"]
    assert all(torch.equal(oa[i][k], ob[i][k]) for i in oa for k in oa[i])
    assert all(np.isfinite(v) for row in losses for v in row.values())


def test_prefetching_batches_changes_nothing(data_dir, tmp_path):
    plain, ahead = (trainer(data_dir, tmp_path, steps=3, batch_size=8) for _ in range(2))
    ahead.prefetch = True
    assert [plain.train_step() for _ in range(3)] == [ahead.train_step() for _ in range(3)]
    a, b = plain.model.state_dict(), ahead.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_balanced_drawing_flattens_the_classes(data_dir, tmp_path):
    t = trainer(data_dir, tmp_path, steps=3, batch_size=8, balance="pitch", balance_power=0.0)
    groups, counts = np.unique(t.data.heads["pitch"][t.train_rows], return_counts=True)
    assert len(groups) == 3 and counts.max() >= 2 * counts.min()  # -1 (noise clips), two pitches
    drawn = np.concatenate([t._rows(s) for s in range(400)])
    shares = np.unique(t.data.heads["pitch"][drawn], return_counts=True)[1] / len(drawn)
    assert np.allclose(shares, 1 / 3, atol=0.03)
    assert np.array_equal(t._rows(7), t._rows(7))  # a function of the step


def test_a_changed_run_refuses_to_resume(data_dir, tmp_path):
    t = trainer(data_dir, tmp_path, steps=4, batch_size=8)
    other = trainer(data_dir, tmp_path, "supervised", steps=4, batch_size=8)
    with pytest.raises(ValueError, match="objectives"):
        other.load(t.state())
    state = t.state()
    state["config"]["encoder"]["a_field_this_version_lacks"] = 1
    trainer(data_dir, tmp_path, steps=4, batch_size=8).load(state)  # not a difference
    state["config"]["encoder"]["dim"] = 64
    with pytest.raises(ValueError, match="encoder.dim"):
        trainer(data_dir, tmp_path, steps=4, batch_size=8).load(state)


def test_random_states_round_trip(tmp_path):
    import random

    states = random_states()
    save_state(tmp_path / "r.pt", {"random": states})
    draws = (random.random(), np.random.rand(), torch.rand(1))
    set_random_states(load_state(tmp_path / "r.pt")["random"])
    assert draws == (random.random(), np.random.rand(), torch.rand(1))


def test_command_runs_stops_resumes_and_exports(data_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    base = ["--data", str(data_dir), "--run", str(run), "--recipe", "tiny", "--steps", "4",
            "--eval-every", "2", "--cache", str(tmp_path / "cache"), "--threads", "1"]
    main(base + ["--max-minutes", "1e-9", "--eval-every", "1"])  # stops after its first step
    state = load_state(run / "state.pt")
    assert state["step"] == 1 and state["runs"][0]["stopped"] == "max minutes"
    main(base + ["--max-minutes", "0", "--export", str(tmp_path / "first.pt")])  # export only
    assert load_checkpoint(tmp_path / "first.pt")[1]["measured"]["steps"] == 1
    assert load_state(run / "state.pt")["step"] == 1 and len(load_state(run / "state.pt")["runs"]) == 1
    main(base + ["--export", str(tmp_path / "general.pt")])
    model, meta = load_checkpoint(tmp_path / "general.pt")
    assert [r["first_step"] for r in meta["runs"]] == [0, 1] and meta["measured"]["steps"] == 4
    geometry = getattr(model, "geometry", model)
    assert meta["heads"]["pitch"][0] == "A3" and geometry.frame_hop == 800  # 50 ms
    assert len(model.forward_intermediates(torch.zeros(2, geometry.window_samples), [2, 6])) == 2
    assert [json.loads(x)["step"] for x in (run / "history.jsonl").read_text().splitlines()] == [1, 2, 4]


def test_sigterm_saves_the_state_and_stops(data_dir, tmp_path):
    from training.train_general import run as run_loop

    t = trainer(data_dir, tmp_path, steps=1000, batch_size=8)
    timer = threading.Timer(2.0, lambda: signal.raise_signal(signal.SIGTERM))
    timer.start()
    reason = run_loop(t, tmp_path / "run", 10.0, 10.0, 1000, "test")
    assert reason == "SIGTERM" and 0 < t.step < 1000
    assert load_state(tmp_path / "run" / "state.pt")["step"] == t.step


@pytest.mark.slow
def test_a_command_stopped_by_sigterm_and_started_again_ends_as_one_run(data_dir, tmp_path, monkeypatch):
    """The CLI end to end: a run interrupted at whatever step SIGTERM finds and started
    again ends with bitwise the weights and optimiser state of an uninterrupted run."""
    def args(run):
        return ["--data", str(data_dir), "--run", str(run), "--recipe", "tiny", "--steps", "30",
                "--eval-every", "10", "--cache", str(tmp_path / "cache"), "--threads", "1"]

    main(args(tmp_path / "straight"))
    step = Trainer.train_step

    def signalled_step(self):  # SIGTERM arrives during step 13
        out = step(self)
        if self.step == 13:
            signal.raise_signal(signal.SIGTERM)
        return out

    monkeypatch.setattr(Trainer, "train_step", signalled_step)
    main(args(tmp_path / "split"))
    first = load_state(tmp_path / "split" / "state.pt")
    assert first["runs"][0]["stopped"] == "SIGTERM" and first["step"] == 13
    monkeypatch.setattr(Trainer, "train_step", step)
    main(args(tmp_path / "split"))
    a, b = (load_state(tmp_path / name / "state.pt") for name in ("straight", "split"))
    assert a["step"] == b["step"] == 30 and [r["last_step"] for r in b["runs"]] == [first["step"], 30]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    oa, ob = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(torch.equal(oa[i][k], ob[i][k]) for i in oa for k in oa[i])
