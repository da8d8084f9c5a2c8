"""Cloze numbers: the ones a user typed (for messages) and the ones Anki reads (for cards).

Anki makes one card per cloze number it finds in a note's *stored* field HTML, after our
Markdown rendering and sanitising: a cloze the sanitiser removed makes no card, and one that
only Markdown unescaping produced (``{\\{c2::b\\}\\}``) makes one. So cards are counted with
``card_numbers`` on the final HTML, following Anki's own parser (rslib ``cloze.rs``):
``{{c1,2::`` openers with comma-separated numbers that fit in 16 bits, at most 10 open at once
(deeper openers are plain text), and clozes never closed dropping out together with everything
nested in them. ``scan`` reads the text as typed, to point out mistakes in the user's terms.
genanki's own cloze detection uses a non-greedy regex and misses nested clozes; a package must
hold every card (Anki does not regenerate missing ones on import), so we count them ourselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_CLOZE = 500  # Anki folds every cloze number above 500 into card 500
ANKI_MAX_OPEN = 10  # Anki ignores a cloze opener while this many are open
_TOKEN = re.compile(r"\{\{c(\d+)::|\{\{|\}\}")
_ANKI_TOKEN = re.compile(r"\{\{c([0-9,]*)::|\}\}")
_EMPTY_HEAD = re.compile(r"\s*(?:::|\Z)")
_U16_MAX = 0xFFFF


def scan(text: str) -> tuple[set[int], list[str]]:
    """Return (cloze numbers, problems) of the text as typed. Problems are messages; an empty
    list means well formed. Linear in the text: each cloze's emptiness is decided from its
    first characters, never by copying its body."""
    numbers: set[int] = set()
    problems: list[str] = []
    stack: list[tuple[int | None, int]] = []  # (cloze number or None for a plain '{{', end of opener)
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok == "}}":
            if not stack:
                problems.append("unbalanced `}}`: it closes nothing")
                continue
            number, body_start = stack.pop()
            if number is not None and _EMPTY_HEAD.match(text, body_start, m.start()):
                problems.append(f"cloze c{number} is empty")
        elif tok == "{{":
            stack.append((None, m.end()))
        else:
            number = int(m.group(1)) if len(m.group(1)) < 6 else MAX_CLOZE + 1
            if number == 0:
                problems.append("cloze numbers start at 1: `{{c0::` makes no card")
            elif number > MAX_CLOZE:
                problems.append(f"cloze number c{m.group(1)} is above the supported maximum c{MAX_CLOZE}")
            else:
                numbers.add(number)
            stack.append((number, m.end()))
    if stack:
        problems.append(f"unbalanced `{{{{`: {len(stack)} not closed with `}}}}`")
    return numbers, problems


def _ordinals(digits: str) -> set[int]:
    """Anki's reading of ``1,2`` in ``{{c1,2::``: each part a 16-bit number, bad parts skipped."""
    if 0 < len(digits) < 5 and "," not in digits:
        return {int(digits)}  # the common case: one number, small enough
    found = set()
    for part in digits.split(","):
        part = part.lstrip("0") or ("0" if part else "")
        if part and len(part) <= 5 and int(part) <= _U16_MAX:
            found.add(int(part))
    return found


def card_numbers(field_html: str) -> set[int]:
    """The cloze numbers Anki finds in one field's stored HTML: one card each (0 makes none).

    Like Anki, a cloze counts only once it is closed and everything around it is closed too,
    and only the first ``ANKI_MAX_OPEN`` nested openers open a cloze. One pass over the text.
    """
    numbers: set[int] = set()
    # per open cloze: its own numbers and those of the clozes closed inside it
    open_clozes: list[set[int]] = []
    for m in _ANKI_TOKEN.finditer(field_html):
        digits = m.group(1)
        if digits is not None:
            ordinals = _ordinals(digits)
            if ordinals and len(open_clozes) < ANKI_MAX_OPEN:
                open_clozes.append(ordinals)
        elif open_clozes:
            closed = open_clozes.pop()
            (open_clozes[-1] if open_clozes else numbers).update(closed)
    numbers.discard(0)
    return numbers


def card_ords(fields_html: Iterable[str]) -> list[int]:
    """Anki's card ordinals for a cloze note: every field counts, numbers above the maximum
    share the last card (``min(n, 500) - 1``, as in rslib ``cardgen.rs``)."""
    found: set[int] = set()
    for html in fields_html:
        found |= card_numbers(html)
    return sorted({min(n, MAX_CLOZE) - 1 for n in found})
