"""`python -m hear_compat.predictions ARGS... [--probe-seed N]`: heareval's prediction runner
with fix 1 (full torch.load of its own checkpoints) and fix 2 (settable FitLoop.current_epoch).
`--probe-seed N` seeds the probes with N instead of heareval's fixed 42 (`probe_seed`)."""

import sys

import hear_compat

hear_compat.allow_full_torch_load()  # before torch is imported
hear_compat.settable_fit_loop_epoch()

from heareval.predictions.runner import runner  # noqa: E402 (after the fixes)


def pop_probe_seed(argv: list[str]) -> int | None:
    """Remove `--probe-seed N` from argv (heareval's runner does not know it); N or None."""
    if "--probe-seed" not in argv:
        return None
    i = argv.index("--probe-seed")
    if i + 1 >= len(argv) or not argv[i + 1].lstrip("-").isdigit():
        raise SystemExit("--probe-seed needs an integer")
    seed = int(argv[i + 1])
    del argv[i:i + 2]
    return seed


if __name__ == "__main__":
    seed = pop_probe_seed(sys.argv)
    if seed is not None:
        hear_compat.probe_seed(seed)
    runner(prog_name="python -m hear_compat.predictions")
