"""Runtime fixes that let the HEAR 2021 tools (heareval 2021.1.3, hearbaseline 2021.1.1)
run on torch >= 2.6, pytorch-lightning 1.9 and librosa >= 0.10. Each fix is idempotent and
does nothing where it is not needed. See README.md beside this package for the reasons.

The wrappers apply them and then run the tool:
    python -m hear_compat.validate MODULE [--model PATH] [--model-options JSON]
    python -m hear_compat.embeddings MODULE [heareval embedding runner options]
    python -m hear_compat.predictions EMBEDDING_TASK_DIRS... [--grid faster|fast|default] [--probe-seed N]
"""

import functools
import inspect
import os

# librosa.filters.mel's parameters in the order librosa < 0.10 accepted them positionally
_MEL_PARAMETERS = ("sr", "n_fft", "n_mels", "fmin", "fmax", "htk", "norm", "dtype")


def allow_full_torch_load() -> None:
    """Fix 1: torch >= 2.6 loads with weights_only=True by default; heareval's and
    lightning's loads of their own checkpoints need full unpickling. The variable only
    changes calls that do not pass weights_only themselves."""
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"


def settable_fit_loop_epoch() -> None:
    """Fix 2: give lightning 1.9's FitLoop a settable `current_epoch` again (the lightning
    heareval was written for had one), so that heareval's
    `trainer.fit_loop.current_epoch = best_epoch` takes effect."""
    from pytorch_lightning.loops import FitLoop

    existing = inspect.getattr_static(FitLoop, "current_epoch", None)
    if isinstance(existing, property) and existing.fset is not None:
        return

    def get(self: FitLoop) -> int:
        return self.epoch_progress.current.completed

    def set_(self: FitLoop, epoch: int) -> None:
        self.epoch_progress.current.completed = epoch

    FitLoop.current_epoch = property(get, set_, doc="epochs completed (settable again)")


def positional_librosa_mel() -> None:
    """Fix 3: librosa >= 0.10 made `librosa.filters.mel` keyword-only; hearbaseline's naive
    model calls `mel(sr, n_fft=..., n_mels=...)`. Wrap it to turn positions into keywords."""
    import librosa.filters

    mel = librosa.filters.mel
    sr = inspect.signature(mel).parameters.get("sr")
    if getattr(mel, "hear_compat", False) or sr is None or sr.kind is not sr.KEYWORD_ONLY:
        return  # already wrapped, or an older librosa where positions work

    @functools.wraps(mel)
    def mel_with_positions(*args, **kwargs):
        if len(args) > len(_MEL_PARAMETERS):
            raise TypeError(f"mel() takes at most {len(_MEL_PARAMETERS)} positional arguments")
        return mel(**dict(zip(_MEL_PARAMETERS, args)), **kwargs)

    mel_with_positions.hear_compat = True
    librosa.filters.mel = mel_with_positions


def probe_seed(seed: int) -> None:
    """Not a fix: seed heareval's probes with `seed` instead of its fixed 42. The seed
    chooses the grid points tried, the probes' initial weights and the batch order; scoring
    the same embeddings under several seeds shows how far a task's score moves by chance."""
    from heareval.predictions import task_predictions

    seed_everything = getattr(task_predictions.seed_everything, "original",
                              task_predictions.seed_everything)

    def seeded(_seed, *args, **kwargs):
        return seed_everything(seed, *args, **kwargs)

    seeded.original = seed_everything
    task_predictions.seed_everything = seeded
