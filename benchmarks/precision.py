"""How far the reduced-precision modes of `load_model(precision=...)` move the embeddings, and
how much faster they are.

    python -m benchmarks.precision [--device cpu|cuda] [--modules hear_mixers.kwmlp_d12 ...]
                                   [--rounds 7]

For each module and precision (tf32, bf16, fp16) it embeds the same audio (16 clips of 2 s,
benchmarks.run's noise plus tones) and prints, against fp32: the relative RMS difference
||low - fp32|| / ||fp32|| of timestamp and scene embeddings, and the lowest cosine similarity
of any timestamp frame. On CUDA every mode runs for real. Off CUDA "tf32" changes nothing,
so it is emulated: the float32 operands of every matmul-like call (F.linear, @, matmul, bmm,
baddbmm, mm, addmm, einsum) are rounded to TF32 (10 mantissa bits, round to nearest even)
and the products accumulate in float32, as tensor cores do; the table says "tf32 (emulated)".
CPU fp16 is skipped (autocast fp16 is ~8x slower there, and GPUs are what it is for).

Speed: fp32's time over the mode's for timestamp embeddings of 256 one-second clips, medians
of `--rounds` calls that alternate fp32 and the mode in one process, so a machine that
speeds up or slows down over minutes moves both alike (emulated TF32 is not timed).
"""

import argparse
import contextlib
import importlib
import statistics
import time

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from benchmarks.run import make_audio

MATMULS = {F.linear, torch.matmul, torch.bmm, torch.mm, torch.einsum, torch.baddbmm, torch.addmm,
           torch.Tensor.__matmul__, torch.Tensor.__rmatmul__, torch.Tensor.matmul}
ADDEND_FIRST = {torch.baddbmm, torch.addmm}  # their first argument is added, not multiplied


def round_to_tf32(x: torch.Tensor) -> torch.Tensor:
    """float32 -> nearest TF32 value (10 explicit mantissa bits; ties to even), as float32."""
    bits = x.contiguous().view(torch.int32)
    lsb = (bits >> 13) & 1
    return ((bits + 0x0FFF + lsb) & ~0x1FFF).view(torch.float32).view_as(x)


class EmulatedTF32(TorchFunctionMode):
    """Rounds the float32 operands of matmul-like calls to TF32; counts the calls it saw."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in MATMULS:
            self.calls += 1
            skip = 1 if func in ADDEND_FIRST else 0
            args = tuple(round_to_tf32(a) if i >= skip and isinstance(a, torch.Tensor)
                         and a.dtype == torch.float32 else a for i, a in enumerate(args))
        return func(*args, **kwargs)


def embed(module, audio, precision: str, device: str, emulate: bool):
    model = module.load_model(precision=precision).to(device)
    mode = EmulatedTF32() if emulate else contextlib.nullcontext()
    with mode:
        ts, _ = module.get_timestamp_embeddings(audio, model)
        scene = module.get_scene_embeddings(audio, model)
    if emulate and mode.calls == 0:
        raise RuntimeError("the TF32 emulation saw no matmul: it would measure nothing")
    return ts.float().cpu(), scene.float().cpu()


def speedup(module, precision: str, device: str, rounds: int) -> float:
    """fp32's median time over `precision`'s, timed alternately on 256 one-second clips."""
    models = {p: module.load_model(precision=p).to(device) for p in ("fp32", precision)}
    audio = make_audio(256, 1.0, models["fp32"].sample_rate).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    times = {p: [] for p in models}
    for i in range(rounds + 1):  # round 0 warms up
        for p, model in models.items():
            sync()
            start = time.perf_counter()
            module.get_timestamp_embeddings(audio, model)
            sync()
            if i:
                times[p].append(time.perf_counter() - start)
    return statistics.median(times["fp32"]) / statistics.median(times[precision])


def rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    return ((a - ref).norm() / ref.norm()).item()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--modules", nargs="+",
                    default=["hear_mixers.kwmlp_d4", "hear_mixers.kwmlp_d12", "hear_mixers.asmrh"])
    ap.add_argument("--rounds", type=int, default=7, help="timed calls per mode (speed)")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    cuda = args.device == "cuda"
    print(f"device {torch.cuda.get_device_name() if cuda else 'cpu'}, torch {torch.__version__}; "
          "16 clips of 2 s; differences against fp32 on the same device")
    print(f"{torch.get_num_threads()} torch threads; speed: x fp32's, {args.rounds} alternating "
          "calls each on 256 x 1 s")
    print("| module | precision | timestamp rel. RMS | scene rel. RMS | min frame cosine "
          "| speed vs fp32 |")
    print("|---|---|---:|---:|---:|---:|")
    for name in args.modules:
        module = importlib.import_module(name)
        rate = module.load_model().sample_rate
        audio = make_audio(16, 2.0, rate).to(args.device)
        ref_ts, ref_scene = embed(module, audio, "fp32", args.device, emulate=False)
        for precision in ("tf32", "bf16", "fp16"):
            if precision == "fp16" and not cuda:
                continue
            emulate = precision == "tf32" and not cuda
            ts, scene = embed(module, audio, "fp32" if emulate else precision, args.device, emulate)
            cos = F.cosine_similarity(ts, ref_ts, dim=-1).min().item()
            label = precision + (" (emulated)" if emulate else "")
            speed = "-" if emulate else f"{speedup(module, precision, args.device, args.rounds):.2f}x"
            print(f"| {name} | {label} | {rel(ts, ref_ts):.2e} | {rel(scene, ref_scene):.2e} "
                  f"| {cos:.6f} | {speed} |", flush=True)


if __name__ == "__main__":
    main()
