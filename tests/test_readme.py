"""The README's variants table is the registry's (hear-mixers variants --markdown)."""

from pathlib import Path

from hear_mixers.variants import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- variants:start -->", "<!-- variants:end -->"


def test_readme_variants_table_is_the_registry():
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text, f"{README} lacks the {START} / {END} markers"
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == markdown_table(), (
        "README's variants table differs from the registry: paste the output of "
        "`hear-mixers variants --markdown` between the markers"
    )


def test_readme_stays_short():
    assert len(README.read_bytes()) <= 8192  # the user's front page; details live in docs/
