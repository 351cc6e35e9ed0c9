import signal
import sys
from pathlib import Path

import pytest
import torch

# training/ is not installed with the package: make it importable from the checkout. Appended,
# not prepended, so that an installed hear_mixers is still the one under test.
sys.path.append(str(Path(__file__).resolve().parents[1]))

from hear_mixers.checkpoint import save_checkpoint  # noqa: E402
from hear_mixers.models.asm import ASM, make_config  # noqa: E402
from hear_mixers.models.kwmlp import KWMLP, KWMLPConfig  # noqa: E402

# Until trained weights ship, the tests use a seeded, randomly initialised KW-MLP whose
# checkpoint says so. load_model warns about such files; the tests expect that warning.


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore:.*holds untrained weights")
    # heavy tests (long audio, subprocesses, synthesis, training): CI runs them all; the fast
    # set is `pytest -m "not slow" tests`
    config.addinivalue_line("markers", "slow: a heavy test, left out by -m 'not slow'")


def random_kwmlp(seed: int = 0, **cfg) -> KWMLP:
    torch.manual_seed(seed)
    model = KWMLP(KWMLPConfig(**cfg)).eval()
    # give the SGU projections and norms non-trivial values so that every part of the
    # network, the token mixing included, changes the output
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "sgu.proj" in name or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "kwmlp_random.pt"
    save_checkpoint(random_kwmlp(), path, trained=False, note="random init for tests")
    return str(path)


def random_asm(seed: int = 0, **options) -> ASM:
    torch.manual_seed(seed)
    return ASM(make_config("small", **options)).eval()


@pytest.fixture(scope="session")
def asm_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("asm") / "asmrh_random.pt"
    save_checkpoint(random_asm(), path, trained=False, note="random init for tests")
    return str(path)


@pytest.fixture(scope="session")
def model(checkpoint):
    from hear_mixers import load_model

    return load_model(checkpoint)


@pytest.fixture
def kwmlp_cli(monkeypatch):
    """`hear-mixers embed` without --model embeds with hear_mixers.kwmlp in this process: the
    command-line tests' frame counts and sizes are KW-MLP's (10 ms hop, 64 dims). Commands
    run in a subprocess name `--model kwmlp` themselves; test_cli checks the real default."""
    from hear_mixers import cli

    monkeypatch.setattr(cli, "DEFAULT", "kwmlp")


def default_sigint():
    """For subprocess.Popen(preexec_fn=...): SIGINT back to its default in the child before
    exec, so that Python turns it into KeyboardInterrupt even when the tests run in a
    background job (which starts children with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
