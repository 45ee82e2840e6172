"""The lines the run path said (ImageMagicWarnings), out of a record of warnings that may hold others."""

from __future__ import annotations

from imagemagic import ImageMagicWarning


def said(record) -> list[str]:
    """The ImageMagicWarning messages of a `pytest.warns` or `recwarn` record, in order."""
    return [str(w.message) for w in record if w.category is ImageMagicWarning]
