"""Frontends: waveform -> features, run on the audio's device as submodules of a model."""
