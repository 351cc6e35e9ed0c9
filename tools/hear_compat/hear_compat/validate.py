"""`python -m hear_compat.validate MODULE [--model PATH] [--device D] [--model-options JSON]`:
hear-validator with fix 3 (for hearbaseline's naive model) and heareval's `--model-options`
(a JSON dict of keyword arguments for `load_model`, which hear-validator itself lacks)."""

import argparse
import importlib
import json
import sys

import hear_compat


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m hear_compat.validate", description=__doc__)
    parser.add_argument("module")
    parser.add_argument("--model", "-m", default="")
    parser.add_argument("--device", "-d", default=None)
    parser.add_argument("--model-options", default="{}", help="JSON dict for load_model")
    args = parser.parse_args()
    options = json.loads(args.model_options)
    if not isinstance(options, dict):
        parser.error("--model-options must be a JSON dict")

    hear_compat.positional_librosa_mel()
    from hearvalidator import validate

    if options:  # the validator imports this same module object and calls load_model on it
        module = importlib.import_module(args.module)
        load_model = module.load_model
        module.load_model = lambda *a, **kw: load_model(*a, **{**options, **kw})
    sys.argv = ["hear-validator", args.module, "--model", args.model]
    if args.device:
        sys.argv += ["--device", args.device]
    validate.main()


if __name__ == "__main__":
    main()
