"""Files per second and peak memory per process of `hear-mixers embed` over a corpus:
the single-process engine against Ray Data (--engine ray) with N embedding workers, and the
peak memory of one long file in both modes.

    python -m benchmarks.corpus [--files 300] [--seconds 10] [--workers 2] [--model kwmlp]
                                [--long-minutes 60] [--corpus DIR] [--out DIR]

The corpus (made once, under --corpus, default /tmp/hear_mixers_corpus): `--files` WAV files
of `--seconds` each, 44.1 kHz stereo 16-bit noise, so every file is decoded, downmixed and
resampled to 16 kHz. Every case is one `hear-mixers embed` command in a fresh subprocess,
into a fresh output folder, timed from start to exit; a second run of the same command,
with everything already done, times the fixed cost (start-up, model load, Ray's start and
stop, the folder check), and files/s is also given without it. Peak memory: VmHWM of every
process of the case, read from /proc every 0.1 s while it runs (the single-process engine:
the command itself; Ray: the driver and each worker process, grouped by the name Ray gives
it, e.g. ray::_Embed for an embedding actor). The machine's load average is printed before
and after each case: on a shared machine the figures move with it.
Output: a Markdown table (printed and saved) and the raw numbers as JSON, in `--out`
(default benchmarks/results/corpus-cpu-<date>.{md,json}).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="Ray embedding actors")
    parser.add_argument("--model", default="kwmlp")
    parser.add_argument("--long-minutes", type=float, default=60.0, help="0: no long file")
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/hear_mixers_corpus"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args(argv)

    folder = make_corpus(args.corpus / f"{args.files}x{args.seconds:g}s", args.files,
                         args.seconds)
    work = args.corpus / "runs"
    shutil.rmtree(work, ignore_errors=True)
    base = ["embed", str(folder), "--model", args.model, "--format", "parquet"]
    cases = [("single process, 1 thread", base + ["--threads", "1"]),
             (f"single process, {len(os.sched_getaffinity(0))} threads", base)]
    if not args.skip_ray:
        cases.append((f"ray, {args.workers} workers x 1 thread",
                      base + ["--engine", "ray", "--workers", str(args.workers)]))
    results = []
    for i, (label, command) in enumerate(cases):
        out = work / f"case{i}"
        result = {"case": label, "command": "hear-mixers " + " ".join(command + ["--out", "DIR"])}
        result["load_before"] = os.getloadavg()
        first = run_case(command + ["--out", str(out)])
        again = run_case(command + ["--out", str(out)])  # everything done: the fixed cost
        result["load_after"] = os.getloadavg()
        result.update(files=args.files, wall_s=first["wall_s"], fixed_s=again["wall_s"],
                      peaks_mb=first["peaks_mb"], returncode=first["returncode"])
        result["files_per_s"] = args.files / first["wall_s"]
        result["files_per_s_without_fixed"] = args.files / max(first["wall_s"] - again["wall_s"],
                                                                1e-9)
        results.append(result)
        print(f"{label}: {result['files_per_s']:.1f} files/s "
              f"({result['files_per_s_without_fixed']:.1f} without the fixed "
              f"{again['wall_s']:.1f} s), peaks {first['peaks_mb']}, load "
              f"{result['load_before'][0]:.1f} -> {result['load_after'][0]:.1f}", flush=True)

    long_results = []
    if args.long_minutes:
        path = make_long(args.corpus / f"long-{args.long_minutes:g}min.wav", args.long_minutes)
        for mode in ("scene", "timestamps"):
            out = work / f"long-{mode}"
            load = os.getloadavg()
            run = run_case(["embed", str(path), "--model", args.model, f"--{mode}", "--threads",
                            "1", "--out", str(out)])
            long_results.append({"mode": mode, "minutes": args.long_minutes, "wall_s":
                                 run["wall_s"], "peak_mb": max(run["peaks_mb"].values()),
                                 "load_before": load, "load_after": os.getloadavg()})
            print(f"long file {args.long_minutes:g} min 44.1 kHz stereo, {mode}: peak "
                  f"{long_results[-1]['peak_mb']:.0f} MB, {run['wall_s']:.1f} s", flush=True)

    write_results(args, results, long_results)
    return 0


def make_corpus(folder: Path, files: int, seconds: float) -> Path:
    if len(list(folder.glob("*.wav"))) == files:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    g = np.random.default_rng(0)
    for i in range(files):
        data = 0.1 * g.standard_normal((round(seconds * 44100), 2))
        sf.write(folder / f"clip{i:05d}.wav", data.astype(np.float32), 44100, "PCM_16")
    return folder


def make_long(path: Path, minutes: float) -> Path:
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    minute = (0.1 * np.random.default_rng(1).standard_normal((60 * 44100, 2))).astype(np.float32)
    with sf.SoundFile(path, "w", 44100, 2, "PCM_16") as f:
        whole, part = divmod(minutes, 1)
        for _ in range(int(whole)):
            f.write(minute)
        f.write(minute[: round(part * 60 * 44100)])
    return path


def run_case(arguments: list) -> dict:
    """`hear-mixers ARGUMENTS` in a subprocess -> wall time and VmHWM (MB) per process kind."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])
           + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "hear_mixers.cli", *arguments],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peaks, stop = {}, threading.Event()
    watcher = threading.Thread(target=watch, args=(child.pid, peaks, stop), daemon=True)
    watcher.start()
    out, err = child.communicate()
    wall = time.perf_counter() - start
    stop.set()
    watcher.join()
    if child.returncode != 0:
        print(out, err, file=sys.stderr)
    by_kind = {}
    for (_, kind), kb in peaks.items():  # the largest process of each kind
        if kb:  # 0: a process already gone (a zombie) when read
            by_kind[kind] = max(by_kind.get(kind, 0.0), kb / 1024)
    return {"wall_s": wall, "peaks_mb": {k: round(v) for k, v in sorted(by_kind.items())},
            "returncode": child.returncode, "stdout": out}


def watch(root: int, peaks: dict, stop: threading.Event) -> None:
    """Every 0.1 s: VmHWM of `root` and its descendants, by (pid, kind)."""
    while not stop.is_set():
        for pid in descendants(root):
            status = read(f"/proc/{pid}/status")
            hwm = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")]
            if hwm:
                kind = process_kind(pid, root)
                peaks[(pid, kind)] = max(peaks.get((pid, kind), 0), int(hwm[0]))
        stop.wait(0.1)


def descendants(root: int) -> list:
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read(f"/proc/{entry}/stat")
            if stat:
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def process_kind(pid: int, root: int) -> str:
    if pid == root:
        return "driver"
    command = read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()
    if command.startswith("ray::"):
        return command.split()[0].split(".")[0]  # ray::_Embed, ray::IDLE, ray::Map(_decode)...
    for name in ("raylet", "gcs_server", "dashboard", "log_monitor", "runtime_env_agent"):
        if name in command:
            return f"ray {name}"
    return "other ray process" if "ray" in command else "other"


def read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def write_results(args, results: list, long_results: list) -> None:
    date = datetime.date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"corpus-cpu-{date}"
    info = {"date": date, "machine": platform.processor() or platform.machine(),
            "cores": len(os.sched_getaffinity(0)), "files": args.files, "seconds": args.seconds,
            "model": args.model, "cases": results, "long_file": long_results}
    stem.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    lines = [f"# hear-mixers embed over {args.files} x {args.seconds:g} s (44.1 kHz stereo "
             f"WAV), model {args.model}, {info['cores']} cores, {date}", "",
             "| case | files/s | files/s without the fixed cost | fixed cost s | peak MB per "
             "process (largest of each kind) | load average before -> after |",
             "|---|---|---|---|---|---|"]
    for r in results:
        peaks = ", ".join(f"{k} {v}" for k, v in r["peaks_mb"].items())
        lines.append(f"| {r['case']} | {r['files_per_s']:.1f} | "
                     f"{r['files_per_s_without_fixed']:.1f} | {r['fixed_s']:.1f} | {peaks} | "
                     f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} |")
    if long_results:
        lines += ["", "| long file (44.1 kHz stereo) | mode | peak MB | wall s | load before "
                  "-> after |", "|---|---|---|---|---|"]
        for r in long_results:
            lines.append(f"| {r['minutes']:g} min | {r['mode']} | {r['peak_mb']:.0f} | "
                         f"{r['wall_s']:.1f} | {r['load_before'][0]:.1f} -> "
                         f"{r['load_after'][0]:.1f} |")
    text = "\n".join(lines) + "\n"
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
