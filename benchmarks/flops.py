"""Floating-point operations of each encoder + frontend, counted analytically, the memory
traffic of eager execution, device peaks, and the ceilings they set on a GPU.

    python -m benchmarks.flops          # per-model tables, checked against FlopCounterMode

Conventions: a multiply-add is 2 FLOPs (as torch.utils.flop_counter counts matmuls); bias adds,
products and residuals 1 per element; LayerNorm and GELU cost ELEMENTWISE_FLOPS per element
(a small term here); a real FFT of length N costs 2.5 N log2 N (the usual radix-2 estimate,
half of a complex FFT's 5 N log2 N). FlopCounterMode counts matmuls and convolutions only,
so the check compares it with the matmul part of the analytic count.

Memory traffic: `TrafficCounter` adds up the bytes every aten op reads and writes (views and
other aliasing ops move nothing and are skipped; a broadcast operand counts its distinct
elements). Eager execution runs one kernel per op, so on a GPU these bytes go through memory
unless the L2 cache keeps an op's input until the next op (50 MB on an H100; in a chunk of 256
KW-MLP windows the frontend's frames and spectra are 48 MB each, a block's activations 6-13
MB, so some may stay). Two ceilings follow, in windows per second:
compute, peak FLOP/s / FLOPs (no implementation beats it), and eager, min(compute, bandwidth /
eager bytes) (op-by-op execution that hits no cache).
"""

import argparse
import contextlib
import copy
import math
import re
from pathlib import Path
from types import SimpleNamespace

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from hear_mixers.models import fused

ELEMENTWISE_FLOPS = {"layer_norm": 8, "gelu": 8, "log": 1}  # per element (estimates)

# Dense peak TFLOP/s by precision. Source: NVIDIA H100 Tensor Core GPU datasheet (SXM5 and
# PCIe columns; sparse figures are twice these) and NVIDIA H200 datasheet (SXM, same compute
# as H100 SXM5). Matched against torch.cuda.get_device_name() by `pattern`.
GPU_PEAK_TFLOPS = [
    # (pattern, name, {precision: dense TFLOP/s})
    (r"H100.*PCIe", "H100 PCIe", {"fp32": 51, "tf32": 378, "bf16": 756, "fp16": 756}),
    (r"H100", "H100 SXM5", {"fp32": 67, "tf32": 495, "bf16": 989, "fp16": 989}),
    (r"H200", "H200 SXM", {"fp32": 67, "tf32": 495, "bf16": 989, "fp16": 989}),
]
# Memory bandwidth, TB/s, from the same datasheets (HBM2e on H100 PCIe, HBM3 on SXM5, HBM3e).
GPU_BANDWIDTH_TBPS = {"H100 PCIe": 2.0, "H100 SXM5": 3.35, "H200 SXM": 4.8}


def rfft_flops(n: int) -> float:
    return 2.5 * n * math.log2(n)


def kwmlp_window_flops(cfg, max_depth: int, final_norm: bool) -> dict:
    """FLOPs of one KW-MLP window (frontend + stem + `max_depth` blocks), split in parts;
    `frontend` is the frame-local part, `matmul` the share FlopCounterMode sees (mel, DCT,
    stem, block matmuls)."""
    fe = cfg.frontend
    t, d, h = cfg.num_frames, cfg.dim, cfg.dim * cfg.ff_mult  # 98, 64, 256
    c, bins = h // 2, fe.n_fft // 2 + 1  # 128, 241
    ln, gelu = ELEMENTWISE_FLOPS["layer_norm"], ELEMENTWISE_FLOPS["gelu"]
    mel, dct = 2 * t * bins * fe.n_mels, 2 * t * fe.n_mels * fe.n_mfcc
    frontend = (  # frame-local (`MFCC.log_mel`): once per frame of the clip
        t * fe.n_fft  # window
        + t * rfft_flops(fe.n_fft)  # one real FFT per frame
        + 3 * t * bins  # re^2 + im^2
        + mel
        + t * fe.n_mels * (2 + ELEMENTWISE_FLOPS["log"])  # clamp, log10, x10
    )
    cepstra = dct + 2 * t * fe.n_mels  # per window (`MFCC.cepstra`): floor, max, DCT
    stem = 2 * t * fe.n_mfcc * d + t * d
    block_mm = 2 * t * d * h + 2 * t * t * c + 2 * t * c * d  # proj_in, time mixing, proj_out
    block = (
        block_mm
        + t * h * (1 + gelu)  # bias, GELU
        + t * c * (ln + 1 + 1)  # gate LayerNorm, time-mixing bias, res * gate
        + t * d * (1 + ln + 1)  # bias, LayerNorm, residual
    )
    parts = {
        "frontend": frontend,
        "cepstra": cepstra,
        "stem": stem,
        "blocks": max_depth * block,
        "final_norm": t * d * ln if final_norm else 0,
    }
    parts["total"] = sum(parts.values())
    parts["matmul"] = mel + dct + 2 * t * fe.n_mfcc * d + max_depth * block_mm
    return parts


def naive_frame_flops(n_fft: int = 4096, n_mels: int = 256, dim: int = 4096) -> dict:
    """FLOPs of one hearbaseline.naive frame: window, rfft, power, mel, log, projection."""
    bins = n_fft // 2 + 1
    matmul = 2 * bins * n_mels + 2 * n_mels * dim
    total = n_fft + rfft_flops(n_fft) + 3 * bins + matmul + 2 * n_mels
    return {"total": total, "matmul": matmul}


def embedder_window_flops(model) -> dict:
    """FLOPs of one lone window of a hear_mixers Embedder (its frontend included): analytic
    for KW-MLP, else the matmul count of FlopCounterMode (marked 'measured'). `frontend` is
    the frame-local share, which the API runs once per feature frame of a clip, not once per
    window (see `flops_per_call`). The ASMs' patch stem, which the API also runs once per
    clip, is counted per window here: a few per cent too many for them."""
    enc, depths = model.encoder, model.depths
    if getattr(enc, "arch", None) == "kwmlp":
        parts = kwmlp_window_flops(enc.cfg, max(depths), enc.geometry.num_blocks in depths)
        return {**parts, "source": "analytic"}
    matmul, frontend = measured_window_flops(enc, depths), measured_feature_flops(enc)
    return {"total": matmul, "matmul": matmul, "frontend": frontend,
            "source": "measured (matmuls only)"}


def flops_per_call(per_window: dict, windows: int, feature_frames: int, geometry) -> float:
    """FLOPs of an API call that ran `windows` encoder windows over `feature_frames` frames
    of clip features: the frame-local frontend per frame, the rest per window."""
    per_frame = per_window["frontend"] / geometry.window_features
    return windows * (per_window["total"] - per_window["frontend"]) + feature_frames * per_frame


def measured_window_flops(encoder, depths, n: int = 2) -> float:
    """Matmul/conv FLOPs per window counted by torch's FlopCounterMode (no grad)."""
    return _counted_flops(encoder, lambda windows: encoder.forward_intermediates(windows, depths), n)


def measured_feature_flops(encoder, n: int = 2) -> float:
    """Matmul FLOPs of `encoder.features` over one window's audio (FlopCounterMode)."""
    return _counted_flops(encoder, encoder.features, n)


def _fused_linear_flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    """The matmul of models/fused.py's kernel, counted as FlopCounterMode counts addmm."""
    return 2 * math.prod(x_shape[:-1]) * w_shape[0] * w_shape[1]


# FlopCounterMode knows aten's matmuls; the fused oneDNN linear (inference on CPU) is added
FUSED_FLOPS = {} if fused.KERNEL is None else {fused.KERNEL.overloadpacket: _fused_linear_flops}


def _counted_flops(encoder, run, n: int) -> float:
    """FlopCounterMode's count of `run` on `n` windows of silence, per window."""
    from torch.utils.flop_counter import FlopCounterMode

    param = next(encoder.parameters())
    windows = torch.zeros(n, encoder.geometry.window_samples, device=param.device)
    counter = FlopCounterMode(display=False, custom_mapping=FUSED_FLOPS)
    with torch.no_grad(), counter:
        run(windows)
    return counter.get_total_flops() / n


# ---------------------------------------------------------------------------- memory traffic


def distinct_bytes(t: torch.Tensor) -> int:
    """Bytes of the distinct elements a tensor covers (a stride-0, broadcast dim counts once)."""
    n = 1
    for size, stride in zip(t.shape, t.stride()):
        n *= size if stride != 0 else 1
    return n * t.element_size()


ALLOCATE_ONLY = {torch.ops.aten.empty, torch.ops.aten.empty_like, torch.ops.aten.new_empty,
                 torch.ops.aten.empty_strided, torch.ops.aten.new_empty_strided}


class TrafficCounter(TorchDispatchMode):
    """Adds up the bytes each aten op reads (tensor arguments) and writes (tensor results).
    Ops whose results all share memory with an input (views, reshapes, `_unsafe_view`,
    detach) or that only allocate (`empty` and kin) move nothing and are skipped; an in-place
    op counts its read and its write.
    `ops` counts the ops that moved data."""

    def __init__(self):
        super().__init__()
        self.read = self.written = self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket in ALLOCATE_ONLY:
            return out  # memory handed out, nothing read or written
        inputs, outputs = _tensors((args, kwargs)), _tensors(out)
        in_place = any(r.alias_info is not None and r.alias_info.is_write
                       for r in func._schema.returns)
        memory = {t.untyped_storage().data_ptr() for t in inputs}
        if outputs and not in_place and all(
                t.untyped_storage().data_ptr() in memory for t in outputs):
            return out  # a view
        self.ops += 1
        self.read += sum(distinct_bytes(t) for t in inputs)
        self.written += sum(distinct_bytes(t) for t in outputs)
        return out


def _tensors(tree) -> list:
    return [t for t in pytree.tree_leaves(tree) if isinstance(t, torch.Tensor)]


@contextlib.contextmanager
def captured_work(encoder, keep: bool = True):
    """Inside the block, what the API hands the encoder: `window_count` windows run through
    it and `frames`, the feature frames (clips x frames) it computed (once per clip); with
    `keep`, also what it was given, in call order: `audio`, the (n, samples) batches whose
    features it computes, `cuts`, the (source, clips, starts) of each chunk's
    `window_tokens` call (source: `window_source` of the clips' features), and `tokens`, the
    blocks' input of each chunk."""
    work = SimpleNamespace(audio=[], frames=0, cuts=[], tokens=[], window_count=0)
    features, window_tokens = encoder.features, encoder.window_tokens

    def count_features(audio):
        out = features(audio)  # (n, bins, frames)
        work.frames += out.shape[0] * out.shape[-1]
        if keep:
            work.audio.append(audio)
        return out

    def count_windows(source, clips, starts):
        x = window_tokens(source, clips, starts)
        work.window_count += x.shape[0]
        if keep:
            work.cuts.append((source, clips, starts))
            work.tokens.append(x)
        return x

    encoder.features, encoder.window_tokens = count_features, count_windows
    try:
        yield work
    finally:
        del encoder.features, encoder.window_tokens


def measured_window_bytes(model, precision: str = "fp32", n: int = 256) -> dict:
    """Bytes per encoder window that one `get_timestamp_embeddings` call on `n` one-second clips
    moves between ops, with chunks of `n` windows (weights are read once per chunk) at
    `precision` (bf16/fp16 run the API's own autocast, here on the CPU). `ideal` is what a
    kernel fusing the whole call must move at least: the audio in, the embeddings out."""
    from hear_mixers.api import get_timestamp_embeddings

    model = copy.copy(model)  # same encoder, our chunk size and precision
    model.chunk_batch_size, model.precision = n, precision
    audio = torch.zeros(n, model.sample_rate, device=next(model.parameters()).device)
    counter = TrafficCounter()
    with captured_work(model.encoder) as work, counter:
        emb, _ = get_timestamp_embeddings(audio, model)
    per = 1 / work.window_count
    return {"read": counter.read * per, "written": counter.written * per,
            "total": (counter.read + counter.written) * per, "ops": counter.ops,
            "ideal": (distinct_bytes(audio) + distinct_bytes(emb)) * per}


# ---------------------------------------------------------------------------- device peaks


def gpu_peak(device_name: str, precision: str):
    """(matched name, dense TFLOP/s) for a CUDA device name, or (None, None)."""
    for pattern, name, peaks in GPU_PEAK_TFLOPS:
        if re.search(pattern, device_name):
            return name, peaks.get(precision)
    return None, None


def cpu_peak_gflops(cores: int):
    """Estimated FP32 peak of `cores` CPU cores: cores x clock x FLOP/cycle, read from
    /proc/cpuinfo (clock as reported: under a hypervisor this is the nominal TSC clock).
    FLOP/cycle = SIMD lanes x 2 (FMA) x 2 FMA pipes; AMD Zen 4 (family 25) runs AVX-512 on
    256-bit units, so it counts 8 lanes. Returns (GFLOP/s, how) or (None, why not)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        mhz = float(re.search(r"cpu MHz\s*:\s*([\d.]+)", info).group(1))
        flags = re.search(r"flags\s*:(.*)", info).group(1).split()
        vendor = re.search(r"vendor_id\s*:\s*(\S+)", info).group(1)
        family = int(re.search(r"cpu family\s*:\s*(\d+)", info).group(1))
    except (OSError, AttributeError, ValueError):
        return None, "unknown (no /proc/cpuinfo clock or flags)"
    if "fma" not in flags:
        return None, "unknown (no FMA)"
    lanes = 16 if "avx512f" in flags else 8
    if vendor == "AuthenticAMD" and family <= 25:
        lanes = 8  # Zen 2-4: 256-bit FMA datapath
    per_cycle = lanes * 2 * 2
    how = f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} FP32 FLOP/cycle (estimate)"
    return cores * mhz / 1000 * per_cycle, how


# ---------------------------------------------------------------------------- report


def flops_per_second(model, seconds: float, per_window: dict) -> float:
    """FLOPs per audio-second of the API on one clip of `seconds` (windows and feature
    frames counted, not derived, so seams and end alignment are whatever api.Embedder does);
    `per_window`: `embedder_window_flops(model)`."""
    from hear_mixers.api import get_timestamp_embeddings

    with captured_work(model.encoder, keep=False) as work:
        get_timestamp_embeddings(torch.zeros(1, round(seconds * model.sample_rate)), model)
    return flops_per_call(per_window, work.window_count, work.frames,
                          model.encoder.geometry) / seconds


def shipped_models() -> dict:
    """name -> Embedder: every registered variant whose weights load."""
    import importlib

    from hear_mixers.variants import VARIANTS

    models = {}
    for name, variant in VARIANTS.items():
        try:
            models[name] = importlib.import_module(variant.module).load_model()
        except Exception as e:  # noqa: BLE001 (any failure means: not shipped here)
            print(f"note: {name} skipped ({type(e).__name__}: {str(e)[:80]}...)")
    return models


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--long", type=float, default=120.0, help="seconds of the long clip")
    args = ap.parse_args(argv)
    models = shipped_models()
    print("MFLOP per encoder window and per audio-second (frontend included). 'FlopCounterMode'"
          " counts matmuls only: it checks the analytic matmul share.")
    print("| model | source | per window | matmul share | FlopCounterMode | per audio-s, 1 s "
          f"clips | per audio-s, {args.long:g} s clip | same, no seam overlap |")
    print("|---|---|---|---|---|---|---|---|")
    for name, model in models.items():
        per = embedder_window_flops(model)
        measured = measured_window_flops(model.encoder, model.depths)
        if per["source"] == "analytic":
            assert abs(measured - per["matmul"]) <= 1e-6 * measured, (name, measured, per)
        no_seam = copy.copy(model)  # same encoder, windows that do not overlap
        no_seam.seam_context = 0
        print(f"| {name} | {per['source']} | {per['total'] / 1e6:.1f} | "
              f"{per['matmul'] / 1e6:.1f} | {measured / 1e6:.1f} | "
              f"{flops_per_second(model, 1.0, per) / 1e6:.0f} | "
              f"{flops_per_second(model, args.long, per) / 1e6:.0f} | "
              f"{flops_per_second(no_seam, args.long, per) / 1e6:.0f} |")
    from hear_mixers.models.kwmlp import KWMLPConfig

    cfg = KWMLPConfig()
    for depth in (4, 12):
        parts = kwmlp_window_flops(cfg, depth, depth == cfg.depth)
        print(f"KW-MLP d{depth} per window: " + ", ".join(
            f"{k} {v / 1e6:.2f}" for k, v in parts.items() if k not in ("total", "matmul")))
    fe = cfg.frontend
    conv = 2 * cfg.num_frames * fe.n_fft * 2 * (fe.n_fft // 2 + 1)
    print(f"(nnAudio's STFT as two strided convolutions, the frontend before the FFT: "
          f"{conv / 1e6:.1f} MFLOP per window for the STFT alone)")
    nf = naive_frame_flops()
    print(f"hearbaseline.naive: {nf['total']/1e6:.2f} MFLOP per frame ({nf['matmul']/1e6:.2f} "
          f"matmul); timestamps every 50 ms: {20 * nf['total']/1e6:.0f} MFLOP per audio-s, "
          f"scene (250 ms hop): {4 * nf['total']/1e6:.0f}")
    gflops, how = cpu_peak_gflops(torch.get_num_threads())
    print(f"CPU peak ({torch.get_num_threads()} torch threads): "
          + (f"{gflops:.0f} GFLOP/s = {how}" if gflops else how))
    for _, name, peaks in GPU_PEAK_TFLOPS:
        print(f"{name}: " + ", ".join(f"{k} {v} TFLOP/s" for k, v in peaks.items())
              + f" (dense), {GPU_BANDWIDTH_TBPS[name]} TB/s")
    print()
    print_ceilings(models)


def ceilings(flops_per_window: float, bytes_per_window: float, tflops: float, tbps: float):
    """(compute, eager) ceilings in windows per second (= x real time for 1 s clips)."""
    compute = tflops * 1e12 / flops_per_window
    return compute, min(compute, tbps * 1e12 / bytes_per_window)


def print_ceilings(models: dict) -> None:
    """Per model and precision: FLOPs and eager bytes per window of the API on one-second
    clips, arithmetic intensity, and each H100's compute and eager ceilings."""
    gpus = [(name, peaks) for _, name, peaks in GPU_PEAK_TFLOPS if name.startswith("H100")]
    print("GPU ceilings for one-second clips (one window per audio-second), in x real time: "
          "compute = peak / FLOPs; eager = min(compute, bandwidth / eager bytes). Bytes: "
          "`get_timestamp_embeddings` on 256 clips in one chunk, counted per op on this CPU "
          "(bf16: under the API's autocast, CPU op lists; tf32 moves fp32's bytes).")
    print("| model | precision | MFLOP / window | eager MB / window | FLOP / byte | "
          + " | ".join(f"{g} compute | {g} eager" for g, _ in gpus) + " |")
    print("|---|---|---|---|---|" + "---|---|" * len(gpus))
    ideal = {}
    for name, model in models.items():
        per = embedder_window_flops(model)["total"]
        moved = {p: measured_window_bytes(model, p) for p in ("fp32", "bf16")}
        ideal[name] = moved["fp32"]["ideal"]
        for precision in ("fp32", "tf32", "bf16"):
            b = moved["bf16" if precision == "bf16" else "fp32"]["total"]
            cells = []
            for g, peaks in gpus:
                cells += [f"{c / 1e3:,.0f}k" for c in
                          ceilings(per, b, peaks[precision], GPU_BANDWIDTH_TBPS[g])]
            print(f"| {name} | {precision} | {per / 1e6:.1f} | {b / 1e6:.2f} | {per / b:.1f} | "
                  + " | ".join(cells) + " |")
    print("Eager bytes assume no cache reuse, so ops whose inputs stay in L2 can beat 'eager'; "
          "fusing ops (torch.compile) removes traffic and moves the ceiling towards 'compute'. "
          "A fused call still moves the audio in and the embeddings out: "
          + ", ".join(f"{n} {b / 1e3:.0f} kB" for n, b in ideal.items()) + " per window.")


if __name__ == "__main__":
    main()
