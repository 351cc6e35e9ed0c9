"""Throughput ("x real time") and extra peak memory of the HEAR modules, with
hearbaseline.naive on the same inputs as the reference.

    python -m benchmarks.run [--device cpu|cuda] [--models kwmlp_d4 kwmlp_d12 asmrh]
                             [--modes timestamp scene both one-pass] [--cases 256x1s 16x10s]
                             [--out DIR] [--quick] [--repeats N] [--rounds R]
                             [--precision fp32|tf32|bf16|fp16|auto] [--chunk-batch-size N]

Every (model, case, mode) runs in a fresh subprocess (--quick: in this process), so memory
peaks do not mix: the model is
loaded and the audio made, the peak is reset there (CPU: /proc/self/clear_refs resets VmHWM;
GPU: torch.cuda.reset_peak_memory_stats), then one warm-up call and `--repeats` timed calls.
"Extra peak MB" is the peak above that baseline (CPU: VmHWM - VmRSS; GPU:
max_memory_allocated - memory_allocated). Throughput is audio-seconds per wall-second of the
median call. With --rounds R the whole list of measurements runs R times in turn and each
one's timed calls are pooled (this machine's speed drifts by tens of percent over minutes).
Output: a Markdown table (printed and saved) and a JSON file with every raw
number, in `--out` (default benchmarks/results/<device>-<date>.{md,json}; a --precision and a
--chunk-batch-size add -<precision> and -chunk<N> to the name). Without --precision each
module runs in its own default precision (general, asmrh and asm: "auto", bf16 on a CPU with
native bf16); every row names the precision it ran in.
"""

import argparse
import contextlib
import datetime
import gc
import importlib
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks import flops
from hear_mixers.variants import VARIANTS

# name -> HEAR module: every registered variant, and hearbaseline's naive peer
MODELS = {**{name: v.module for name, v in VARIANTS.items()}, "naive": "hearbaseline.naive"}
CASES = {"256x1s": (256, 1.0), "16x10s": (16, 10.0), "1x20min": (1, 1200.0)}  # (batch, s)
# on a GPU also the batch sizes at which the plain baseline was measured
GPU_CASES = {**CASES, "4096x1s": (4096, 1.0)}
QUICK_CASES = {"4x1s": (4, 1.0), "1x5s": (1, 5.0)}  # --quick: in-process, 1 timed call
# "both": a timestamp call then a scene call on the same audio (frames for events and one
# vector per clip); "one-pass": the same two outputs from get_timestamp_and_scene_embeddings.
# naive has no one-pass function: its "both" row is the reference for our "one-pass" rows.
MODES = ("timestamp", "scene", "both", "one-pass")
NAIVE_REFERENCE = {"one-pass": "both"}  # our mode -> naive's mode it is compared with
SEED = 0


def make_audio(batch: int, seconds: float, sample_rate: int, seed: int = SEED) -> torch.Tensor:
    """(batch, samples) float32: noise plus three tones per clip, fixed seed, peak < 1."""
    gen = torch.Generator().manual_seed(seed)
    n = round(seconds * sample_rate)
    audio = 0.1 * torch.randn(batch, n, generator=gen)
    freqs = torch.randint(100, 4000, (batch, 3), generator=gen)  # Hz, whole numbers
    k = torch.arange(n)
    for j in range(3):  # exact phase in integers: (k * f mod sr) / sr, no float64 time axis
        phase = (k[None] * freqs[:, j : j + 1]) % sample_rate
        audio += 0.2 * torch.sin(phase.float() * (2 * torch.pi / sample_rate))
    return audio


# ---------------------------------------------------------------------------- one measurement


def _status_kb(field: str) -> int:
    return int(re.search(rf"{field}:\s*(\d+)", Path("/proc/self/status").read_text()).group(1))


class PeakMemory:
    """Extra peak memory above the moment of `start`, in MB."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def start(self) -> None:
        gc.collect()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return
        try:  # "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)
            Path("/proc/self/clear_refs").write_text("5")
            self.method, self.base = "VmHWM - VmRSS", _status_kb("VmRSS") * 1024
        except OSError:
            self.method = "ru_maxrss delta (lower bound)"
            self.base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def extra_mb(self) -> float:
        if self.cuda:
            return (torch.cuda.max_memory_allocated() - self.base) / 2**20
        if self.method.startswith("VmHWM"):
            peak = _status_kb("VmHWM") * 1024
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return max(0.0, peak - self.base) / 2**20

    def describe(self) -> str:
        return "cuda max_memory_allocated - memory_allocated" if self.cuda else self.method


@contextlib.contextmanager
def counted_work(name: str, model):
    """Counts the work of the calls made inside the block: on leaving it, the yielded dict
    holds `flops`, `units` (encoder windows for hear_mixers, frames for naive) and the FLOP
    count's `source`. The per-window FLOPs are counted on entering, before the block's calls."""
    result = {}
    if name == "naive":
        units = []
        hook = model.register_forward_pre_hook(lambda m, inp: units.append(inp[0].shape[0]))
        try:
            yield result
        finally:
            hook.remove()
        result.update(units=sum(units), flops=sum(units) * flops.naive_frame_flops()["total"],
                      source="analytic")
        return
    per = flops.embedder_window_flops(model)
    with flops.captured_work(model.encoder, keep=False) as work:
        yield result
    result.update(units=work.window_count, source=per.get("source", "analytic"),
                  flops=flops.flops_per_call(per, work.window_count, work.frames,
                                             model.encoder.geometry))


def worker(job: dict) -> dict:
    """Load, make audio, reset the memory peak, warm up, time `repeats` calls."""
    torch.manual_seed(SEED)
    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    name, device = job["model"], job["device"]
    if name == "naive":
        import hear_compat

        hear_compat.positional_librosa_mel()
    module = importlib.import_module(MODELS[name])
    options = {"precision": job["precision"]} if job["precision"] else {}
    if job.get("chunk_batch_size") and name != "naive":
        options["chunk_batch_size"] = job["chunk_batch_size"]
    model = module.load_model(**options).to(device)
    precision = "fp32" if name == "naive" else model.precision_on(torch.device(device))
    audio = make_audio(job["batch"], job["seconds"], model.sample_rate).to(device)
    if job["mode"] == "both":
        def fn(audio, model):
            module.get_timestamp_embeddings(audio, model)
            return module.get_scene_embeddings(audio, model)
    elif job["mode"] == "one-pass":
        fn = module.get_timestamp_and_scene_embeddings
    else:
        fn = getattr(module, f"get_{job['mode']}_embeddings")
    sync = torch.cuda.synchronize if device.startswith("cuda") else lambda: None

    memory = PeakMemory(device)
    with counted_work(name, model) as work:  # the warm-up call's work: every call's
        memory.start()
        t = time.perf_counter()
        out = fn(audio, model)
        sync()
        warmup_s = time.perf_counter() - t
    times = []
    for _ in range(job["repeats"]):
        sync()
        t = time.perf_counter()
        out = fn(audio, model)
        sync()
        times.append(time.perf_counter() - t)
    out = out[-1] if job["mode"] == "one-pass" else out[0] if isinstance(out, tuple) else out
    return {
        **job,
        "precision": precision,  # the one it ran in ("auto" resolved)
        "sample_rate": model.sample_rate,
        "audio_seconds": job["batch"] * job["seconds"],
        "warmup_s": warmup_s,
        "times_s": times,
        "median_s": sorted(times)[len(times) // 2],
        "best_s": min(times),
        "extra_peak_mb": memory.extra_mb(),
        "memory_method": memory.describe(),
        "output_shape": list(out.shape),
        "units_per_call": work["units"],  # encoder windows (hear_mixers) or frames (naive)
        "flops_source": work["source"],
        "flops_per_call": work["flops"],
        "torch_threads": torch.get_num_threads(),
    }


# ---------------------------------------------------------------------------- orchestration


def available(name: str) -> str:
    """'' if the module imports and its default weights load, else why not."""
    if name == "naive":
        return ""
    try:
        importlib.import_module(MODELS[name]).load_model()
    except Exception as e:  # noqa: BLE001 (any failure means: skip it)
        return f"{type(e).__name__}: {e}"
    return ""


def machine(device: str, threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_start": list(os.getloadavg()),
        "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None,
    }
    gflops, how = flops.cpu_peak_gflops(threads)
    info["cpu_peak_gflops"], info["cpu_peak_how"] = gflops, how
    return info


def peak_flops(info: dict, device: str, precision: str):
    """(FLOP/s, label) of the device at this precision, or (None, 'unknown')."""
    if device.startswith("cuda"):
        name, tflops = flops.gpu_peak(info["gpu"], precision)
        return (tflops * 1e12, f"{name} {precision} dense") if tflops else (None, "unknown")
    if info["cpu_peak_gflops"] and precision == "fp32":
        return info["cpu_peak_gflops"] * 1e9, info["cpu_peak_how"]
    return None, "unknown"


def run_job(job: dict, timeout: float, in_process: bool = False) -> dict:
    if in_process:  # peaks then start from this process's state: smoke tests only
        return worker(job)
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", json.dumps(job)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**job, "error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {**job, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}


def merge_rounds(done: list) -> dict:
    """One job's results over the rounds -> one result: every timed call pooled (median and
    best over all), the highest extra peak; an error in any round stands for the job."""
    errors = [r for r in done if "error" in r]
    if errors or len(done) == 1:
        return errors[0] if errors else done[0]
    times = [t for r in done for t in r["times_s"]]
    return {**done[0], "times_s": times, "median_s": sorted(times)[len(times) // 2],
            "best_s": min(times), "extra_peak_mb": max(r["extra_peak_mb"] for r in done),
            "round_medians_s": [r["median_s"] for r in done]}


def table(results: list, peaks: dict) -> str:
    """Markdown rows; `peaks`: precision -> device peak FLOP/s (None: unknown)."""
    ok = [r for r in results if "error" not in r]
    naive = {(r["case"], r["mode"]): r for r in ok if r["model"] == "naive"}
    rows = [
        "| model | case | mode | precision | x real time (median) | best | naive x real time "
        "| ours / naive | extra peak MB | GFLOP/s | % of peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['model']} | {r['case']} | {r['mode']} | {r['precision'] or ''} "
                        f"| error: {r['error']} |||||||")
            continue
        xrt = r["audio_seconds"] / r["median_s"]
        ref = naive.get((r["case"], NAIVE_REFERENCE.get(r["mode"], r["mode"])))
        ref_xrt = ref["audio_seconds"] / ref["median_s"] if ref else None
        gflops = r["flops_per_call"] / r["median_s"] / 1e9
        peak = peaks.get(r["precision"])
        rows.append(
            f"| {r['model']} | {r['case']} | {r['mode']} | {r['precision']} | {xrt:.0f} | "
            f"{r['audio_seconds'] / r['best_s']:.0f} | "
            + (f"{ref_xrt:.0f} | {xrt / ref_xrt:.2f} | " if ref_xrt else "n/a | n/a | ")
            + f"{r['extra_peak_mb']:.0f} | {gflops:.1f} | "
            + (f"{100 * gflops * 1e9 / peak:.1f} |" if peak else "unknown |")
        )
    return "\n".join(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--models", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                    help="default: every variant")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES,
                    help="timestamp, scene, both (the two calls in turn on the same audio), "
                         "one-pass (both outputs from one call; naive: compared with its both)")
    ap.add_argument("--cases", nargs="+", default=None,
                    help=f"a subset of the cases ({', '.join(GPU_CASES)}; --quick: "
                         f"{', '.join(QUICK_CASES)})")
    ap.add_argument("--out", type=Path, default=None, help="folder for the .md and .json")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: two small cases, one timed call, all in this process")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls (default 5, quick 1)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the whole list of measurements this many times, in turn, and "
                         "pool each one's timed calls: models measured over the same span of "
                         "time, so a machine whose speed drifts favours none of them")
    ap.add_argument("--precision", default=None, choices=["fp32", "tf32", "bf16", "fp16", "auto"],
                    help="passed to load_model(precision=...) of hear_mixers modules "
                         "(default: each module's own)")
    ap.add_argument("--chunk-batch-size", type=int, default=None,
                    help="passed to load_model(chunk_batch_size=...) of hear_mixers modules "
                         "(default: the API's, 64 windows on CPU, 256 on GPU)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's); 1 on a shared, busy machine")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per measurement")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device here")
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = QUICK_CASES if args.quick else GPU_CASES if args.device == "cuda" else CASES
    if args.cases:
        unknown = sorted(set(args.cases) - set(cases))
        if unknown:
            sys.exit(f"--cases: unknown {unknown}; this run has {list(cases)}")
        cases = {c: cases[c] for c in args.cases}
    repeats = args.repeats or (1 if args.quick else 5)
    info = machine(args.device, torch.get_num_threads())
    models = []
    for name in args.models:
        why = available(name)
        if why:
            print(f"note: skipping {name} ({MODELS[name]}): {why}")
        else:
            models.append(name)
    print(f"{info['date']}  {info['cpu']} ({info['cpu_cores']} cores, {info['torch_threads']} "
          f"torch threads)  torch {info['torch']}  GPU: {info['gpu'] or 'none'}  "
          f"load average {info['load_average_start'][0]:.2f}")

    busy = info["load_average_start"][0] > 0.5 * info["cpu_cores"]
    if busy:
        print(f"warning: load average {info['load_average_start'][0]:.1f} on "
              f"{info['cpu_cores']} cores: this machine is busy, timings are not representative"
              + ("" if args.threads == 1 else " (threads that wait for each other suffer most: "
                 "try --threads 1)"))
    jobs = []
    for name in models + ["naive"]:
        for case, (batch, seconds) in cases.items():
            modes = args.modes
            if name == "naive":  # naive has no one-pass call: its reference mode instead
                modes = list(dict.fromkeys(NAIVE_REFERENCE.get(m, m) for m in modes))
            jobs += [{"model": name, "case": case, "batch": batch, "seconds": seconds,
                      "mode": mode, "device": args.device, "repeats": repeats,
                      "threads": args.threads, "chunk_batch_size": args.chunk_batch_size,
                      "precision": None if name == "naive" else args.precision}
                     for mode in modes]
    rounds = [[] for _ in jobs]  # per job, its result in each round
    for n in range(args.rounds):
        for job, done in zip(jobs, rounds):
            r = run_job(job, args.timeout, in_process=args.quick)
            done.append(r)
            print(f"  {job['model']:10s} {job['case']:8s} {job['mode']:9s} "
                  + (f"round {n + 1}: " if args.rounds > 1 else "")
                  + (f"error: {r['error']}" if "error" in r else
                     f"{r['audio_seconds'] / r['median_s']:8.0f}x real time, "
                     f"extra peak {r['extra_peak_mb']:6.0f} MB"), flush=True)
    results = [merge_rounds(done) for done in rounds]

    info["load_average_end"] = list(os.getloadavg())
    ran_in = sorted({r["precision"] for r in results if r.get("precision")} | {"fp32"})
    found = {p: peak_flops(info, args.device, p) for p in ran_in}  # p -> (FLOP/s, label)
    peaks = {p: flop_s for p, (flop_s, _) in found.items()}
    labels = "; ".join(f"{p}: {label}" + (f" = {flop_s / 1e9:.0f} GFLOP/s" if flop_s else "")
                       for p, (flop_s, label) in found.items())
    md = "\n".join([
        f"# hear_mixers benchmark, {args.device}, {info['date']}",
        "",
        f"Machine: {info['cpu']}, {info['cpu_cores']} cores, {info['torch_threads']} torch "
        f"threads, torch {info['torch']}, GPU: {info['gpu'] or 'none'}; load average "
        f"{info['load_average_start'][0]:.2f} at start, {info['load_average_end'][0]:.2f} at end"
        + (" (busy machine: timings not representative)." if busy else "."),
        f"Precision: {args.precision or 'each module its own'}; chunk batch size "
        f"{args.chunk_batch_size or 'the API default'}; {repeats} timed calls after one warm-up"
        + (f", in each of {args.rounds} rounds over the whole list (medians over all "
           f"{args.rounds * repeats} calls)" if args.rounds > 1 else "")
        + ("; --quick: all in one process, peaks not isolated" if args.quick else "") + "; "
        f"peak for % of peak ({labels}).",
        "Cases: " + ", ".join(f"{c} = {b} clip(s) of {s:g} s" for c, (b, s) in cases.items())
        + "; naive runs on audio of the same durations at its own 44.1 kHz.",
        "ours / naive: throughput ratio (above 1: faster than naive; a one-pass row is "
        "compared with naive's both). FLOP/s: analytic FLOPs "
        "(benchmarks/flops.py) of the windows or frames processed, over the median time.",
        "",
        table(results, peaks),
        "",
    ])
    print("\n" + md)
    out = args.out or Path(__file__).parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    # runs that differ in precision or chunk size get files of their own
    stem = (f"{args.device}-{info['date'][:10]}" + ("-quick" if args.quick else "")
            + (f"-{args.precision}" if args.precision else "")
            + (f"-chunk{args.chunk_batch_size}" if args.chunk_batch_size else ""))
    (out / f"{stem}.md").write_text(md)
    raw = {"machine": info, "precision": args.precision, "peak_flops": peaks,
           "peak_label": labels, "results": results}
    (out / f"{stem}.json").write_text(json.dumps(raw, indent=1))
    print(f"wrote {out / stem}.md and .json")


if __name__ == "__main__":
    main()
