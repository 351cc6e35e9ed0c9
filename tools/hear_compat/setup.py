from setuptools import setup

# Always install this into the environment that runs the HEAR 2021 tools. Where a real
# TensorFlow is installed, its package shadows the `tensorflow.py` stand-in (Python prefers
# a package to a module of the same name in one folder), so the stand-in is harmless there.
setup(
    name="hear-compat",
    version="0.2.0",
    description="Compatibility fixes that let the HEAR 2021 tools run torch models on "
    "Python 3.11, torch 2.x, pytorch-lightning 1.9 and librosa >= 0.10",
    py_modules=["tensorflow"],
    packages=["hear_compat"],
)
