"""Training and evaluation of hear_mixers encoders. Not part of the installed package:
run from a checkout, e.g. `python -m training.train`.

`DATA_BUILDERS` lists every builder of training data as `build(out_dir, size, seed)`; each
takes at least the size "tiny" (seconds) and "full". The evaluation suite's leak test runs
each at its smallest size and checks that none reads a source the suite reserves.
"""

from pathlib import Path


def build_corpus(out_dir: Path, size: str, seed: int) -> None:
    """The keyword corpus's train and valid voices (`python -m training.corpus --splits
    train,valid`); its test voices are the suite's."""
    from training import corpus
    from training.data import WORDS

    if size not in corpus.SIZES:
        raise ValueError(f"unknown size {size!r}: {sorted(corpus.SIZES)}")
    clips, _, _ = corpus.generate(list(WORDS), corpus.SIZES[size], seed, jobs=1,
                                  progress=False, splits=("train", "valid"))
    clips.save(out_dir)


def build_noise(out_dir: Path, size: str, seed: int) -> None:
    """The noise bank (`python -m training.noise`)."""
    from training import noise

    noise.build(Path(out_dir), size, seed)


def build_general(out_dir: Path, size: str, seed: int) -> None:
    """The multi-domain set (`python -m training.general_data`)."""
    from training import general_data

    general_data.build(Path(out_dir), size, seed)


DATA_BUILDERS = [build_corpus, build_noise, build_general]
