"""benchmarks/flops.py: the analytic FLOP count, the per-op byte count and the ceilings."""

import pytest
import torch

from benchmarks.flops import (
    TrafficCounter,
    ceilings,
    embedder_window_flops,
    measured_window_bytes,
    measured_window_flops,
)
from hear_mixers.kwmlp import load_model


def test_traffic_counter_counts_reads_and_writes_and_skips_views():
    x, w, b = torch.randn(8, 16), torch.randn(4, 16), torch.randn(4)
    counter = TrafficCounter()
    with counter:
        y = torch.nn.functional.linear(x, w, b)  # reads x, w, b; writes y (8 x 4)
        y.view(32).t().unsqueeze(0)  # views: nothing moves
        torch.ops.aten._unsafe_view(y, [32])  # a view whose schema does not say so
        y.add_(1.0)  # in place: reads y, writes y
        y + b.expand(8, 4)  # a broadcast operand counts its 4 distinct elements
        y.new_empty(1000)  # allocates, writes nothing
    assert counter.ops == 3
    assert counter.read == 4 * ((8 * 16 + 4 * 16 + 4) + 8 * 4 + (8 * 4 + 4))
    assert counter.written == 4 * (8 * 4 * 3)


@pytest.mark.parametrize("depth", [4, 12])
def test_analytic_kwmlp_flops_match_torch_flop_counter(depth):
    model = load_model(depth=depth)
    per = embedder_window_flops(model)
    assert per["source"] == "analytic"
    assert per["matmul"] == pytest.approx(measured_window_flops(model.encoder, model.depths),
                                          rel=1e-9)
    assert per["total"] > per["matmul"]


def test_window_bytes_of_the_api():
    model = load_model(depth=4)
    fp32 = measured_window_bytes(model, "fp32", n=8)
    bf16 = measured_window_bytes(model, "bf16", n=8)
    # a fused call: one second of float32 audio in, 98 frames x 64 float32 values out
    assert fp32["ideal"] == bf16["ideal"] == 4 * (16000 + 98 * 64)
    assert fp32["total"] == fp32["read"] + fp32["written"] > 10 * fp32["ideal"]
    assert bf16["total"] < fp32["total"]  # the encoder's activations shrink to 2 bytes
    assert model.precision == "fp32" and model.chunk_batch_size is None  # not changed


def test_ceilings_take_the_lower_of_compute_and_bandwidth():
    # 100 MFLOP and 10 MB per window: 1 TFLOP/s -> 10,000/s; 1 TB/s -> 100,000/s
    assert ceilings(100e6, 10e6, tflops=1, tbps=1) == (10_000, 10_000)
    assert ceilings(100e6, 10e6, tflops=100, tbps=1) == (1_000_000, 100_000)


def test_precision_table_has_accuracy_and_alternating_speed(capsys):
    from benchmarks.precision import main

    main(["--modules", "hear_mixers.kwmlp_d4", "--rounds", "1"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| hear_mixers")]
    assert [r[1].strip() for r in rows] == ["tf32 (emulated)", "bf16"]  # fp16 skipped on CPU
    emulated, bf16 = rows
    assert emulated[5].strip() == "-"  # emulation is not timed
    assert float(bf16[5].strip().rstrip("x")) > 0
    assert 0 < float(bf16[2]) < 0.05 and float(bf16[4]) > 0.99  # rel. RMS, min cosine


def test_run_times_both_calls_with_naive_in_the_same_table(tmp_path):
    import json

    from benchmarks.run import main

    main(["--quick", "--models", "kwmlp_d4", "--modes", "both", "--cases", "4x1s",
          "--out", str(tmp_path)])
    raw = json.loads(next(tmp_path.glob("*.json")).read_text())
    rows = {(r["model"], r["mode"]): r for r in raw["results"]}
    assert set(rows) == {("kwmlp_d4", "both"), ("naive", "both")}
    ours = rows[("kwmlp_d4", "both")]
    assert ours["units_per_call"] == 2 * 4  # one window per 1 s clip, in each of the two calls
    assert ours["output_shape"] == [4, 1024]  # the scene call's output
    table = next(tmp_path.glob("*.md")).read_text()
    assert "| kwmlp_d4 | 4x1s | both |" in table and "| naive | 4x1s | both |" in table


def test_one_pass_runs_the_encoder_once_and_is_compared_with_naives_two_calls(tmp_path):
    import json

    from benchmarks.run import main

    main(["--quick", "--models", "kwmlp_d4", "--modes", "one-pass", "--cases", "4x1s",
          "--out", str(tmp_path)])
    raw = json.loads(next(tmp_path.glob("*.json")).read_text())
    rows = {(r["model"], r["mode"]): r for r in raw["results"]}
    assert set(rows) == {("kwmlp_d4", "one-pass"), ("naive", "both")}  # naive has no one-pass
    ours = rows[("kwmlp_d4", "one-pass")]
    assert ours["units_per_call"] == 4  # one window per 1 s clip, once
    assert ours["output_shape"] == [4, 1024]  # the scene embeddings
    line = next(row for row in next(tmp_path.glob("*.md")).read_text().splitlines()
                if row.startswith("| kwmlp_d4 | 4x1s | one-pass |"))
    assert line.split("|")[4].strip() == "fp32"  # the precision it ran in
    assert line.split("|")[7].strip() != "n/a"  # naive's both row is the reference


def test_rounds_pool_every_timed_call_of_a_measurement(tmp_path):
    import json

    from benchmarks.run import main

    main(["--quick", "--models", "kwmlp_d4", "--modes", "timestamp", "--cases", "4x1s",
          "--repeats", "2", "--rounds", "3", "--out", str(tmp_path)])
    raw = json.loads(next(tmp_path.glob("*.json")).read_text())
    rows = {(r["model"], r["mode"]): r for r in raw["results"]}
    assert set(rows) == {("kwmlp_d4", "timestamp"), ("naive", "timestamp")}  # one row each
    for r in rows.values():
        assert len(r["times_s"]) == 6 and len(r["round_medians_s"]) == 3
        assert r["median_s"] == sorted(r["times_s"])[3] and r["best_s"] == min(r["times_s"])
    assert "in each of 3 rounds" in next(tmp_path.glob("*.md")).read_text()
