"""Throughput, memory and FLOP benchmarks of the hear_mixers HEAR modules (not part of the
installed package): `python -m benchmarks.run`, `python -m benchmarks.flops`,
`python -m benchmarks.profile`."""
