"""`python -m hear_compat.predictions ARGS...`: heareval's prediction runner with fix 1
(full torch.load of its own checkpoints) and fix 2 (settable FitLoop.current_epoch)."""

import hear_compat

hear_compat.allow_full_torch_load()  # before torch is imported
hear_compat.settable_fit_loop_epoch()

from heareval.predictions.runner import runner  # noqa: E402 (after the fixes)

if __name__ == "__main__":
    runner(prog_name="python -m hear_compat.predictions")
