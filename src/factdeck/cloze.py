"""Cloze numbers: the ones a user typed (for messages) and the ones Anki reads (for cards).

Anki makes one card per cloze number it finds in a note's *stored* field HTML, after our
Markdown rendering and sanitising: a cloze the sanitiser removed makes no card, and one that
only Markdown unescaping produced (``{\\{c2::b\\}\\}``) makes one. So cards are counted with
``card_numbers`` on the final HTML, following Anki's own parser (rslib ``cloze.rs``):
``{{c1,2::`` openers with comma-separated numbers that fit in 16 bits, at most 10 open at once
(deeper openers are plain text), and clozes never closed dropping out together with everything
nested in them. ``parse`` reads the same syntax as a tree, for the preview's ``cloze:`` filter;
``card_numbers`` is the same reading, only counting (it runs for every note of a build), and a
test holds the two to each other as well as to Anki. ``scan`` reads the text as typed, to point
out mistakes in the user's terms.
genanki's own cloze detection uses a non-greedy regex and misses nested clozes; a package must
hold every card (Anki does not regenerate missing ones on import), so we count them ourselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_CLOZE = 500  # Anki folds every cloze number above 500 into card 500
ANKI_MAX_OPEN = 10  # Anki ignores a cloze opener while this many are open
_TOKEN = re.compile(r"\{\{c([0-9]+(?:,[0-9]+)*)::|\{\{|\}\}")
_ANKI_TOKEN = re.compile(r"\{\{c([0-9,]*)::|\}\}")
_EMPTY_HEAD = re.compile(r"\s*(?:::|\Z)")
_U16_MAX = 0xFFFF


def scan(text: str) -> tuple[set[int], list[str]]:
    """Return (cloze numbers, problems) of the text as typed. Problems are messages; an empty
    list means well formed. Linear in the text: each cloze's emptiness is decided from its
    first characters, never by copying its body."""
    numbers: set[int] = set()
    problems: list[str] = []
    stack: list[
        tuple[str | None, int]
    ] = []  # (cloze numbers as typed, or None for a plain '{{', end of opener)
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok == "}}":
            if not stack:
                problems.append("unbalanced `}}`: it closes nothing")
                continue
            label, body_start = stack.pop()
            if label is not None and _EMPTY_HEAD.match(text, body_start, m.start()):
                problems.append(f"cloze c{label} is empty")
        elif tok == "{{":
            stack.append((None, m.end()))
        else:
            label = m.group(1)
            for part in label.split(","):
                number = int(part) if len(part) < 6 else MAX_CLOZE + 1
                if number == 0:
                    problems.append(
                        "cloze numbers start at 1: `{{c0::` makes no card"
                        if label == part
                        else f"cloze numbers start at 1: the 0 in `{{{{c{label}::` makes no card"
                    )
                elif number > MAX_CLOZE:
                    problems.append(f"cloze number c{part} is above the supported maximum c{MAX_CLOZE}")
                else:
                    numbers.add(number)
            stack.append((label, m.end()))
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


@dataclass
class Cloze:
    """One cloze as Anki reads it: its numbers (``{{c1,3::`` has two, sorted), what it holds
    (text and nested clozes) and its hint."""

    ordinals: tuple[int, ...]
    nodes: list[str | Cloze] = field(default_factory=list)
    hint: str | None = None

    @property
    def label(self) -> str:
        return ",".join(map(str, self.ordinals))


def parse(text: str) -> list[str | Cloze]:
    """Text and clozes as a tree, as Anki's ``parse_text_with_clozes``: hints after the first
    ``::`` of a cloze's text, nesting, a stray ``}}`` kept as text, an opener while
    ``ANKI_MAX_OPEN`` are open dropped (its ``}}`` then closes the cloze around it), and clozes
    never closed vanishing with everything in them."""
    out: list[str | Cloze] = []
    stack: list[Cloze] = []
    pos = 0
    for m in _ANKI_TOKEN.finditer(text):
        digits = m.group(1)
        ordinals = _ordinals(digits) if digits is not None else None
        if ordinals is not None and not ordinals:
            continue  # no number Anki reads: plain text
        _add_text(text[pos : m.start()], out, stack)
        pos = m.end()
        if ordinals is not None:
            if len(stack) < ANKI_MAX_OPEN:
                stack.append(Cloze(tuple(sorted(ordinals))))
        elif stack:
            closed = stack.pop()
            (stack[-1].nodes if stack else out).append(closed)
        else:
            out.append("}}")
    _add_text(text[pos:], out, stack)
    return out


def _add_text(chunk: str, out: list[str | Cloze], stack: list[Cloze]) -> None:
    if not chunk:
        return
    if not stack:
        out.append(chunk)
        return
    cloze = stack[-1]
    if "::" in chunk:
        chunk, cloze.hint = chunk.split("::", 1)
    cloze.nodes.append(chunk)


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


def breakage(field_html: str) -> tuple[list[str], str | None]:
    """How Anki's rendering of this field's clozes breaks its HTML, in any card that shows it
    with ``{{cloze:...}}``: (the clozes whose ``{{c..::`` or ``}}`` lies inside an HTML tag, by
    label, and the label of the first cloze never closed, or None).

    Anki wraps every cloze it reads in a ``<span>`` (the gap on the question), so one that
    opens or closes inside a tag (an image's ``alt``, a ``title``) writes that span into the
    attribute: the tag breaks and its rest shows as text. A cloze never closed is dropped with
    everything after it (the clozes inside it too, so they break nothing). Read as ``card_numbers`` reads, on factdeck's final HTML, where every
    ``<`` starts a tag that the next ``>`` ends (the sanitiser escapes both everywhere else).
    """
    tags: list[tuple[int, int]] = []
    at = field_html.find("<")
    while at != -1:
        end = field_html.find(">", at)
        if end == -1:
            break
        tags.append((at, end))
        at = field_html.find("<", end)
    inside: list[str] = []
    tag = 0

    def in_tag(pos: int) -> bool:
        nonlocal tag
        while tag < len(tags) and tags[tag][1] < pos:
            tag += 1
        return tag < len(tags) and tags[tag][0] < pos

    # per open cloze: its label, whether its opener is inside a tag, and the labels of clozes
    # closed inside it that break a tag (they count only once every cloze around them closes)
    open_clozes: list[tuple[str, bool, list[str]]] = []
    for m in _ANKI_TOKEN.finditer(field_html):
        digits = m.group(1)
        if digits is not None:
            ordinals = _ordinals(digits)
            if ordinals and len(open_clozes) < ANKI_MAX_OPEN:
                open_clozes.append((",".join(map(str, sorted(ordinals))), in_tag(m.start()), []))
        elif open_clozes:
            label, opened_in_tag, broken = open_clozes.pop()
            if opened_in_tag or in_tag(m.start()):
                broken.append(label)
            (open_clozes[-1][2] if open_clozes else inside).extend(broken)
    return inside, open_clozes[0][0] if open_clozes else None


def card_ords(fields_html: Iterable[str]) -> list[int]:
    """Anki's card ordinals for a cloze note: every field counts, numbers above the maximum
    share the last card (``min(n, 500) - 1``, as in rslib ``cardgen.rs``)."""
    found: set[int] = set()
    for html in fields_html:
        found |= card_numbers(html)
    return sorted({min(n, MAX_CLOZE) - 1 for n in found})
