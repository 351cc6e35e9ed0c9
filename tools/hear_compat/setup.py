from setuptools import setup

setup(
    name="hear-compat-tf-stand-in",
    version="0.1.0",
    description="A tensorflow stand-in that lets the HEAR 2021 tools run torch models",
    py_modules=["tensorflow"],
)
