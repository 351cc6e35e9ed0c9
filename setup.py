from pathlib import Path

from setuptools import setup

# The HEAR 2021 tools (hearvalidator, heareval, hearbaseline) pin numpy==1.19.2 and
# Python < 3.9, so they cannot be extras: tools/setup_venv.sh installs them with --no-deps
# after `pip install .[eval]`, which brings their real dependencies.
EVAL_REQUIRES = [
    "click",
    "dcase-util",
    "sed-eval",
    "intervaltree",
    "more-itertools",
    "pandas",
    "python-slugify",
    "torchinfo",
    "tqdm",
    "scikit-learn",
    "soundfile",
    "librosa>=0.10",
    "pytorch-lightning>=1.9,<2",  # 2.x removed validation_epoch_end and Trainer(gpus=)
    "setuptools<81",  # lightning 1.9 imports pkg_resources, removed in setuptools 81
    "matplotlib",  # the evaluation suite's bar chart
]

setup(
    name="hear_mixers",
    version="0.1.0",
    description="Small all-MLP audio encoders (KW-MLP, ASM-RH) as HEAR 2021 embedding modules",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=["hear_mixers", "hear_mixers.frontends", "hear_mixers.models", "hear_mixers.weights"],
    # the top-level weights/ folder installs as hear_mixers/weights
    package_dir={"hear_mixers.weights": "weights"},
    package_data={"hear_mixers.weights": ["*.pt", "*.md", "*.json", "SHA256SUMS"]},
    install_requires=[
        # 2.9: torch.backends.cuda.matmul.fp32_precision (precision="tf32"); install
        # torch==2.13.0 first where a CPU build is wanted (tools/setup_venv.sh does)
        "torch>=2.9",
        "nnAudio>=0.3.4",  # the MFCC frontend's mel basis (nnAudio.utils.get_mel), as kwmlp used
        "numpy",
        # the hear-mixers command line: reading audio files, resampling, progress
        "soundfile",
        "soxr",  # python-soxr; torchaudio is not used (no CPU-only build next to torch here)
        "tqdm",
    ],
    extras_require={
        # librosa and kaldi-native-fbank (Kaldi's C++ fbank): references for the frontends
        "test": ["pytest", "librosa>=0.10", "hypothesis", "kaldi-native-fbank"],
        "eval": EVAL_REQUIRES,
        # training/ (run from a checkout, not installed): corpus, augmentation, plots, probes
        "train": ["numpy", "scipy", "soxr", "soundfile", "tqdm", "matplotlib", "scikit-learn"],
        # hear-mixers embed --format parquet
        "parquet": ["pyarrow"],
        # hear-mixers embed --engine ray (docs/cluster.md); ray pinned: the engine and its
        # tests were written and measured against this release
        "ray": ["ray[data]==2.60.0", "pyarrow", "pandas"],
    },
    entry_points={"console_scripts": ["hear-mixers=hear_mixers.cli:main"]},
)
