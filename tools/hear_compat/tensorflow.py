"""Stand-in for `tensorflow` so the HEAR 2021 tools import and run torch models.

Not TensorFlow: it offers only what hearvalidator and heareval touch for torch models.
See README.md beside this file.
"""


class Module:
    """tf.Module: torch models are never instances of it, so the tools take the torch path."""


class test:  # noqa: N801 (mirrors tf.test)
    @staticmethod
    def is_gpu_available(cuda_only=False, min_cuda_compute_capability=None) -> bool:
        import torch

        return torch.cuda.is_available()
