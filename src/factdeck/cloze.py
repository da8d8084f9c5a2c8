"""Find the cloze numbers in a text the way Anki does, nested clozes and hints included.

genanki's own cloze detection uses a non-greedy regex and misses ``{{c2::...}}`` nested in
``{{c1::...}}``; a package must hold every card (Anki does not regenerate missing ones on
import), so we count them ourselves.
"""

from __future__ import annotations

import re

MAX_CLOZE = 500
_TOKEN = re.compile(r"\{\{c(\d+)::|\{\{|\}\}")


def scan(text: str) -> tuple[set[int], list[str]]:
    """Return (cloze numbers, problems). Problems are messages; an empty list means well formed."""
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
            if number is not None and not text[body_start : m.start()].split("::", 1)[0].strip():
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
