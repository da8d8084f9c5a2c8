"""Anki's card template language: parsing, the checks Anki makes, and which cards a note gets.

Everything here follows Anki's own code (rslib ``template.rs``, ``notetype/mod.rs`` and
``notetype/cardgen.rs``), down to its quirks: a handle runs to the first ``}}`` (so
``{{{Field}}}`` is ``Field`` followed by ``}``), HTML comments hide the handles inside them,
field names are not trimmed after ``:`` filters, and a field holding only whitespace,
``<br>`` or ``<div>`` tags counts as empty. The tests compare the card rule with the real
``anki`` library over generated templates and fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

# Nodes: ("text", str) | ("comment", str) | ("field", key, filters in the order applied)
#        | ("if" | "unless", key, children)
Node = tuple[Any, ...]  # a tagged tuple, see above; tuples keep parsing and evaluation cheap
Nodes = list[Node]

SPECIAL_FIELDS = ("FrontSide", "Card", "CardFlag", "Deck", "Subdeck", "Tags", "Type", "CardID")
_ALT_DIRECTIVE = "{{=<% %>=}}"
# Rust's char::is_whitespace (Unicode White_Space), which str.strip() does not match exactly
_WS = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_EMPTY_FIELD = re.compile(r"(?:[\t\n\x0b\x0c\r ]|</?(?:br|div) ?/?>)*\Z", re.I | re.S | re.A)
_CLOZE_CONDITIONAL = re.compile(r"c\+?[0-9]+\Z")
_CARD_TAG = re.compile(r"\{\{\s*Card\s*\}\}")
MAX_DEPTH = 50  # sections nested deeper are refused: no real template needs them, and the checks recurse


class TemplateError(ValueError):
    """A template Anki cannot parse; ``offset`` is where in the template the problem is."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Token:
    kind: str  # text | comment | field | open | negated | close
    value: str
    offset: int


def _classify(inner: str, offset: int) -> Token:
    start = inner.lstrip("{").strip(_WS)
    if len(start) < 2:
        return Token("field", start, offset)
    head = start[0]
    if head == "#":
        return Token("open", start[1:].lstrip(_WS), offset)
    if head == "/":
        return Token("close", start[1:].lstrip(_WS), offset)
    if head == "^":
        return Token("negated", start[1:].lstrip(_WS), offset)
    return Token("field", start, offset)


def tokens(template: str) -> list[Token]:
    """Anki's lexer: handles ``{{...}}`` (or legacy ``<%...%>``), comments, and text between."""
    base = 0
    begin, end = "{{", "}}"
    stripped = template.lstrip(_WS)
    if stripped.startswith(_ALT_DIRECTIVE):
        base = len(template) - len(stripped) + len(_ALT_DIRECTIVE)
        while template.startswith(_ALT_DIRECTIVE, base):  # trim_start_matches removes every repeat
            base += len(_ALT_DIRECTIVE)
        begin, end = "<%", "%>"
    out: list[Token] = []
    i = text_start = base
    n = len(template)
    handles = comments = True  # once no closing marker follows, none can later either
    while i < n:
        candidates = []
        if handles:
            h = template.find(begin, i)
            if h == -1:
                handles = False
            else:
                candidates.append(h)
        if comments:
            c = template.find("<!--", i)
            if c == -1:
                comments = False
            else:
                candidates.append(c)
        if not candidates:
            break
        i = min(candidates)
        if handles and template.startswith(begin, i):
            close = template.find(end, i + 2)
            if close == -1:
                handles = False
            else:
                if text_start < i:
                    out.append(Token("text", template[text_start:i], text_start))
                out.append(_classify(template[i + 2 : close], i))
                i = text_start = close + 2
                continue
        if comments and template.startswith("<!--", i):
            close = template.find("-->", i + 4)
            if close == -1:
                comments = False
            else:
                if text_start < i:
                    out.append(Token("text", template[text_start:i], text_start))
                out.append(Token("comment", template[i + 4 : close], i))
                i = text_start = close + 3
                continue
        i += 1
    if text_start < n:
        out.append(Token("text", template[text_start:], text_start))
    return out


def parse(template: str, lexed: list[Token] | None = None) -> Nodes:
    """The template as nodes (from its ``tokens``, when the caller has them); raises
    TemplateError where Anki's parser would fail."""
    root: Nodes = []
    stack: list[tuple[str, int, Nodes]] = []  # (open key, offset, children)
    current = root
    for tok in tokens(template) if lexed is None else lexed:
        kind = tok.kind
        if kind == "text" or kind == "comment":
            current.append((kind, tok.value))
        elif kind == "field":
            parts = tok.value.split(":")
            current.append(("field", parts[-1], tuple(reversed(parts[:-1]))))
        elif kind == "open" or kind == "negated":
            if len(stack) >= MAX_DEPTH:
                raise TemplateError(f"sections are nested more than {MAX_DEPTH} deep", tok.offset)
            children: Nodes = []
            current.append(("if" if kind == "open" else "unless", tok.value, children))
            stack.append((tok.value, tok.offset, current))
            current = children
        else:
            if not stack or stack[-1][0] != tok.value:
                if stack:
                    raise TemplateError(
                        f"`{{{{/{tok.value}}}}}` closes a section, but `{{{{/{stack[-1][0]}}}}}` was expected",
                        tok.offset,
                    )
                raise TemplateError(
                    f"`{{{{/{tok.value}}}}}` closes no section: open it first with "
                    f"`{{{{#{tok.value}}}}}` or `{{{{^{tok.value}}}}}`",
                    tok.offset,
                )
            _, _, current = stack.pop()
    if stack:
        key, offset, _ = stack[-1]
        raise TemplateError(f"section `{{{{#{key}}}}}` is never closed with `{{{{/{key}}}}}`", offset)
    return root


# --- what a template refers to ----------------------------------------------------------------


def referenced_fields(nodes: Nodes, with_conditionals: bool = True, cloze_only: bool = False) -> set[str]:
    """Anki's ``find_field_references``: replaced names, and section names unless `{{#c1}}`."""
    found: set[str] = set()

    def walk(items: Nodes) -> None:
        for node in items:
            kind = node[0]
            if kind == "field":
                if not cloze_only or "cloze" in node[2]:
                    found.add(node[1])
            elif kind == "if" or kind == "unless":
                if with_conditionals and not is_cloze_conditional(node[1]):
                    found.add(node[1])
                walk(node[2])

    walk(nodes)
    return found


def is_cloze_conditional(key: str) -> bool:
    return bool(_CLOZE_CONDITIONAL.match(key)) and int(key[1:]) < 2**32


def cloze_fields(nodes: Nodes) -> set[str]:
    """The fields a template reveals with the ``cloze`` filter."""
    return referenced_fields(nodes, with_conditionals=False, cloze_only=True)


class ClozeSite(NamedTuple):
    """One replacement that applies the ``cloze`` filter: where a cloze card can show its gap."""

    field: str
    filters: tuple[str, ...]  # in the order applied
    before: tuple[str, ...]  # the filters applied before the last `cloze`
    sections: tuple[tuple[str, str], ...]  # ("if" | "unless", key) around it, outermost first

    @property
    def handle(self) -> str:
        return "{{" + "".join(f"{name}:" for name in reversed(self.filters)) + self.field + "}}"


def cloze_sites(nodes: Nodes) -> list[ClozeSite]:
    """Every replacement of a template that applies ``cloze``, in template order."""
    found: list[ClozeSite] = []

    def walk(items: Nodes, sections: tuple[tuple[str, str], ...]) -> None:
        for node in items:
            kind = node[0]
            if kind == "field" and "cloze" in node[2]:
                filters = node[2]
                last = len(filters) - 1 - filters[::-1].index("cloze")
                found.append(ClozeSite(node[1], filters, filters[:last], sections))
            elif kind == "if" or kind == "unless":
                walk(node[2], (*sections, (kind, node[1])))

    walk(nodes, ())
    return found


def card_conditional(key: str) -> int | None:
    """The card a `{{#c2}}` section holds on (2), or None: Anki sets only `c<number>`, spelt as
    it spells the number (`c02` and `c+2` never hold), and makes cards up to c500."""
    if key[:1] == "c" and key[1:].isdigit() and key[1:].isascii():
        number = int(key[1:])
        if key == f"c{number}" and 1 <= number <= 500:
            return number
    return None


def can_show_gap(nodes: Nodes, fields: tuple[str, ...]) -> bool:
    """False when no note can make this cloze front show a gap: every ``{{cloze:F}}`` of it is
    inside sections that contradict each other or F being filled, or names no field of the type.
    Filters before ``cloze`` are taken to keep the cloze (a note may make them)."""
    always = {s for s in SPECIAL_FIELDS if s not in fields and s not in ("FrontSide", "Tags")}
    for site in cloze_sites(nodes):
        if site.field not in fields:
            continue  # a special field never holds a cloze
        need = {site.field: True}
        card: str | None = None
        possible = True
        for kind, key in site.sections:
            want = kind == "if"
            if key in fields or key == "Tags":
                pass
            elif key in always:
                possible = possible and want
            elif card_conditional(key) is not None:
                if want:
                    possible = possible and card in (None, key)
                    card = key
            else:
                possible = possible and not want
            possible = possible and need.setdefault(key, want) == want
        if possible:
            return True
    return False


def can_show_something(nodes: Nodes, fields: tuple[str, ...]) -> bool:
    """False when no choice of empty and filled fields makes Anki see a non-empty front.

    Anki makes a card when a replacement of a non-empty field is reached through sections
    whose conditions hold; this looks for one path whose conditions do not contradict.
    """
    always = {s for s in SPECIAL_FIELDS if s not in fields and s not in ("FrontSide", "Tags")}
    can_fill = set(fields) | always | ({"Tags"} if "Tags" not in fields else set())

    def walk(items: Nodes, filled: frozenset[str], empty: frozenset[str]) -> bool:
        for node in items:
            kind = node[0]
            if kind == "field":
                if node[1] in can_fill and node[1] not in empty:
                    return True
            elif kind == "if":
                key = node[1]
                if key in can_fill and key not in empty and walk(node[2], filled | {key}, empty):
                    return True
            elif kind == "unless":
                key = node[1]
                if key not in always and key not in filled and walk(node[2], filled, empty | {key}):
                    return True
        return False

    return walk(nodes, frozenset(), frozenset())


# --- which cards a note gets ------------------------------------------------------------------


def field_is_empty(html: str) -> bool:
    """Anki's rule: only ASCII whitespace and ``<br>``/``<div>`` tags."""
    return _EMPTY_FIELD.match(html) is not None


def renders_with_fields(nodes: Nodes, nonempty: set[str] | frozenset[str]) -> bool:
    """Anki's ``renders_with_fields``: would this front show a non-empty field?"""
    for node in nodes:
        kind = node[0]
        if kind == "field":
            if node[1] in nonempty:
                return True
        elif kind == "if":
            if node[1] in nonempty and renders_with_fields(node[2], nonempty):
                return True
        elif kind == "unless" and node[1] not in nonempty and renders_with_fields(node[2], nonempty):
            return True
    return False


def nonempty_names(names: tuple[str, ...], values: list[str], has_tags: bool) -> set[str]:
    """The names Anki treats as filled when generating a standard note's cards."""
    filled = {name for name, value in zip(names, values) if not field_is_empty(value)}
    for special in SPECIAL_FIELDS:
        if special not in names and special != "FrontSide" and (special != "Tags" or has_tags):
            filled.add(special)
    return filled


def duplicate_front(fronts: list[str]) -> tuple[int, int] | None:
    """(first, second) index of two identical fronts, which Anki refuses (unless `{{Card}}` tells them apart)."""
    seen: dict[str, int] = {}
    for index, front in enumerate(fronts):
        if front in seen and not _CARD_TAG.search(front):
            return seen[front], index
        seen.setdefault(front, index)
    return None


def _renders_for_reqs(nodes: Nodes, nonempty: set[str]) -> bool:
    """``renders_with_fields_for_reqs``: sections `{{^F}}` always count as open."""
    for node in nodes:
        kind = node[0]
        if kind == "field":
            if node[1] in nonempty:
                return True
        elif kind == "if":
            if node[1] in nonempty and _renders_for_reqs(node[2], nonempty):
                return True
        elif kind == "unless" and _renders_for_reqs(node[2], nonempty):
            return True
    return False


def requirements(nodes: Nodes, field_names: tuple[str, ...]) -> tuple[str, list[int]]:
    """Anki's legacy required-fields cache (`req`) for one front: ("any" | "all" | "none", ords)."""
    alone = [i for i, name in enumerate(field_names) if _renders_for_reqs(nodes, {name})]
    if alone:
        return "any", alone
    every = set(field_names)
    needed = [i for i, name in enumerate(field_names) if not _renders_for_reqs(nodes, every - {name})]
    if needed and _renders_for_reqs(nodes, every):
        return "all", needed
    return "none", []


def has_empty_replacement(nodes: Nodes) -> bool:
    """A `{{}}` (no field, no filter): Anki accepts the note type but shows an error card."""
    for node in nodes:
        if node[0] == "field" and not node[1] and not node[2]:
            return True
        if node[0] in ("if", "unless") and has_empty_replacement(node[2]):
            return True
    return False
