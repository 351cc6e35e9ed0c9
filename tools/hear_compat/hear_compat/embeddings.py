"""`python -m hear_compat.embeddings ARGS...`: heareval's embedding runner with fix 3
(hearbaseline's naive model builds its mel filters with a positional librosa call)."""

import hear_compat

hear_compat.positional_librosa_mel()

from heareval.embeddings.runner import runner  # noqa: E402 (after the fix)

if __name__ == "__main__":
    runner(prog_name="python -m hear_compat.embeddings")
