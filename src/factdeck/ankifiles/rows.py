"""What an Anki notes row holds beyond the note's fields, made where the note is made.

A large file's notes are made on two cores (shards.py), and the checksum computed there is off
the serial write of the package. Nothing here imports genanki, so `check` stays quick to start.
"""

from __future__ import annotations

import hashlib
import re

_TAGS = re.compile(r"<[^>]*>")


def sort_field(flds: str) -> str:
    """Anki's `sfld` as factdeck writes it: the first field without HTML tags (Anki recomputes
    it on import from the note type's sort field)."""
    first = flds[: flds.find("\x1f")] if "\x1f" in flds else flds
    return _TAGS.sub("", first) if "<" in first else first


def checksum(sort_text: str) -> int:
    """Anki's `csum`: the first 8 hex digits of the sort field's SHA-1."""
    return int(hashlib.sha1(sort_text.encode()).hexdigest()[:8], 16)
