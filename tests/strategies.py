"""Hypothesis strategies shared across test folders."""

from __future__ import annotations

from hypothesis import strategies as st

# Text parameters refuse C0/C1 controls, line/paragraph separators, surrogates and bidi marks (see
# tests/unit/test_catalogue.py): tests about something else draw their parameter text from the rest.
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
PARAM_CHARS = st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"], exclude_characters=BIDI)


def param_text(min_size: int = 1, max_size: int = 60) -> st.SearchStrategy[str]:
    """Any text a provider parameter may hold: printable, not blank."""
    return st.text(PARAM_CHARS, min_size=min_size, max_size=max_size).filter(str.strip)
