"""One-command HEAR evaluation of hear_mixers (and peers): task builders, the runner and the
score summary. Not installed with the package; run from a checkout with the [eval] extra:
`python -m evaluation.run eval_configs/tiny.toml`."""
