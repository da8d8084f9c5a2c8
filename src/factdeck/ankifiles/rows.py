"""What an Anki notes row holds beyond the note's fields, made where the note is made.

A large file's notes are made on two cores (shards.py), and what is computed there is off the
serial write of the package. Nothing here imports genanki, so `check` stays quick to start.
"""

from __future__ import annotations

import hashlib
import re

_TAGS = re.compile(r"<[^>]*>")

NoteRowText = tuple[str, str, int]  # (tags as Anki stores them, sort field, checksum)


def note_row_text(flds: str, tags: list[str]) -> NoteRowText:
    """Anki's `tags`, `sfld` and `csum` for a note: its first field without HTML tags, and the
    first 8 hex digits of that text's SHA-1 (Anki recomputes both on import)."""
    first = flds[: flds.find("\x1f")] if "\x1f" in flds else flds
    if "<" in first:
        first = _TAGS.sub("", first)
    return f" {' '.join(tags)} " if tags else "", first, int(hashlib.sha1(first.encode()).hexdigest()[:8], 16)
