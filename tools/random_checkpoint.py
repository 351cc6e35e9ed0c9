"""Write a seeded, randomly initialised KW-MLP checkpoint, marked untrained.

For checking the plumbing (hear-validator, heareval runners) while no trained weights
ship; load_model warns whenever it reads such a file.
Usage: python tools/random_checkpoint.py OUT.pt [--seed N]
"""

import argparse

import torch

from hear_mixers.checkpoint import save_checkpoint
from hear_mixers.models.kwmlp import KWMLP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    save_checkpoint(KWMLP(), args.out, trained=False, note=f"random init, seed {args.seed}")
    print(f"wrote untrained KW-MLP checkpoint {args.out}")


if __name__ == "__main__":
    main()
