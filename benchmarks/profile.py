"""Where the time of one embedding call goes: frontend, stem, blocks, and the rest of the API
(window cutting, seam gather, copies), each the best of `--repeats` interleaved runs.

    python -m benchmarks.profile [--module hear_mixers.kwmlp_d12] [--batch 256] [--seconds 1]
                                 [--device cpu|cuda] [--threads N] [--repeats 5]
                                 [--chunk-batch-size N] [--precision fp32|bf16|fp16]
"""

import argparse
import importlib
import time

import torch

from benchmarks.flops import captured_work
from benchmarks.run import make_audio
from hear_mixers.api import PRECISIONS


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", default="hear_mixers.kwmlp_d12")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk-batch-size", type=int, default=None, help="load_model option")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                    help="load_model option; the stages run under the same autocast")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    module = importlib.import_module(args.module)
    options = {"chunk_batch_size": args.chunk_batch_size} if args.chunk_batch_size else {}
    model = module.load_model(precision=args.precision, **options).to(args.device)
    dtype = PRECISIONS[args.precision]
    enc, depths = model.encoder, model.depths
    audio = make_audio(args.batch, args.seconds, model.sample_rate).to(args.device)

    with captured_work(enc) as work:  # the audio and windows the API hands to the encoder
        module.get_timestamp_embeddings(audio, model)
    (clips,) = work.audio  # one call: one batch of clips, one window source
    cuts = [(c, s) for _, c, s in work.cuts]  # (clip, first feature frame) of each chunk's windows

    def blocks(x):
        for d, block in enumerate(enc.blocks[: max(depths)], start=1):
            x = block(x)
        return enc.norm(x) if enc.geometry.num_blocks in depths else x

    def float32(fn):  # the API runs the frontend and the stem with autocast off
        def run():
            with torch.autocast(torch.device(args.device).type, enabled=False):
                return fn()
        return run

    autocast = torch.autocast(torch.device(args.device).type, dtype=dtype, enabled=dtype is not None)
    tokens = work.tokens  # the blocks' input of each chunk, as the API made it
    with torch.no_grad(), torch.autocast(torch.device(args.device).type, enabled=False):
        feats = enc.features(clips)  # (B, bins, frames)

    def stem():  # the stem (once per clip where it can be) and each chunk's window tokens
        source = enc.window_source(feats)
        return [enc.window_tokens(source, c, s) for c, s in cuts]

    stages = {  # name -> callable over the whole call's work
        "api total": lambda: module.get_timestamp_embeddings(audio, model),
        "frontend, once per clip": float32(lambda: enc.features(clips)),
        "features -> window tokens (stem)": float32(stem),
        f"blocks 1..{max(depths)}": lambda: [blocks(x) for x in tokens],
    }
    best = {k: float("inf") for k in stages}
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else lambda: None
    with torch.no_grad(), autocast:
        for _ in range(args.repeats):
            for name, fn in stages.items():
                sync()
                t = time.perf_counter()
                fn()
                sync()
                best[name] = min(best[name], time.perf_counter() - t)
    total = best.pop("api total")
    best["rest of the API (windows, seams, copies)"] = total - sum(best.values())
    windows = sum(len(x) for x in tokens)
    print(f"{args.module}: {args.batch} x {args.seconds:g} s on {args.device}, {args.precision}, "
          f"{torch.get_num_threads()} threads, {windows} windows in {len(tokens)} chunks; "
          f"best of {args.repeats}: {total * 1e3:.1f} ms = "
          f"{args.batch * args.seconds / total:.0f}x real time")
    for name, t in best.items():
        print(f"  {name:42s} {t * 1e3:8.1f} ms {100 * t / total:5.1f} %")
    if best["rest of the API (windows, seams, copies)"] < 0:
        print("  (the stages timed apart took longer than the whole call, where each chunk's data "
              "is still in cache from the stage before: the rest is too small to measure here)")


if __name__ == "__main__":
    main()
