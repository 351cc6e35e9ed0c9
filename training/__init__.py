"""Training and evaluation of hear_mixers encoders. Not part of the installed package:
run from a checkout, e.g. `python -m training.train`."""
