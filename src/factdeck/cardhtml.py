"""A card's question and answer HTML, as Anki renders them from its templates and fields.

This follows Anki's own renderer (rslib ``template.rs`` and ``cloze.rs``): ``{{Field}}``
replacements with filters applied right to left, ``{{#Field}}``/``{{^Field}}`` sections that
treat a field holding only whitespace, ``<br>`` and ``<div>`` tags as empty, ``{{FrontSide}}``
on the answer, and clozes parsed as a tree so nested ones work. The preview shows cards with
it, and the build asks it whether a cloze card's front shows its gap. The tests compare its
output with the real Anki library's for every note type.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from html.entities import name2codepoint
from typing import TYPE_CHECKING

from . import cloze as cloze_syntax
from . import templates
from .notetypes import NoteType

if TYPE_CHECKING:
    from .assemble import Built

# --- clozes -------------------------------------------------------------------------------

_MATHJAX_OPEN = re.compile(r"\\[(\[]")
_MATHJAX_CLOSE = re.compile(r"\\[\])]")
_RUN_START = re.compile(r"[^ >]")  # a furigana base is a run of these
_RUN_END = re.compile(r"[ >]")
# the element names Anki's strip_html removes with their content, as its case-insensitive Rust
# regex matches them: by simple case folding, where only `ſ` (long s) joins the ASCII letters
_ELEMENTS = ((re.compile("[sS\u017f][tT][yY][lL][eE]"), 5), (re.compile("[sS\u017f][cC][rR][iI][pP][tT]"), 6))


_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def _attribute(text: str) -> str:
    """Escape an attribute value as Anki does: every ASCII character but letters and digits."""
    return "".join(c if c.isalnum() or not c.isascii() else _NAMED.get(c) or f"&#x{ord(c):X};" for c in text)


def _reveal(cloze: cloze_syntax.Cloze, active: int, question: bool, buf: list[str]) -> bool:
    """Append one cloze's HTML; True when the active cloze occurs in it."""
    found = active in cloze.ordinals
    if question and found:
        inner: list[str] = []
        for node in cloze.nodes:
            if isinstance(node, str):
                inner.append(node)
            else:
                _reveal(node, active, question, inner)
        hint = cloze.hint if cloze.hint is not None else "..."
        buf.append(
            f'<span class="cloze" data-cloze="{_attribute("".join(inner))}" '
            f'data-ordinal="{cloze.label}">[{hint}]</span>'
        )
        return True
    cls = "cloze" if found else "cloze-inactive"
    buf.append(f'<span class="{cls}" data-ordinal="{cloze.label}">')
    for node in cloze.nodes:
        if isinstance(node, str):
            buf.append(node)
        else:
            found |= _reveal(node, active, question, buf)
    buf.append("</span>")
    return found


def reveal_clozes(text: str, number: int, question: bool) -> str:
    """The ``cloze:`` filter for cloze ``number`` (1-based): hidden as ``[...]`` or ``[hint]`` on
    the question, shown on the answer, other clozes as plain text. Empty when the text has no
    cloze with that number (Anki then shows the card as empty)."""
    buf: list[str] = []
    found = False
    for node in cloze_syntax.parse(text):
        if isinstance(node, str):
            buf.append(node)
        else:
            found |= _reveal(node, number, question, buf)
    if not found:
        return ""
    return _strip_tags_in_mathjax("".join(buf))


def _strip_tags_in_mathjax(text: str) -> str:
    r"""Anki's ``strip_html_inside_mathjax``: tags removed between ``\(`` or ``\[`` and the next
    ``\)`` or ``\]``. Anki's Rust regex is linear; Python's lazy ``.*?`` would rescan to the end
    from every opener never closed, so the next closer is found once and remembered."""
    out: list[str] = []
    pos = done = 0
    close: re.Match[str] | None = None
    searched = False
    while (m := _MATHJAX_OPEN.search(text, pos)) is not None:
        if not searched or (close is not None and close.start() < m.end()):
            close, searched = _MATHJAX_CLOSE.search(text, m.end()), True
        if close is None:
            break  # no closer after this opener, so none after any later one
        out += [text[done : m.end()], _strip_tags(text[m.end() : close.start()]), close.group()]
        pos = done = close.end()
    out.append(text[done:])
    return "".join(out)


def _strip_tags(text: str, elements: bool = False) -> str:
    """Remove ``<!--...-->`` comments and ``<...>`` tags (regex ``<!--.*?-->|<.*?>``) in one pass.

    ``elements``: Anki's ``strip_html`` (the ``text:`` filter), which also removes ``<style>`` and
    ``<script>`` elements with their content (``<style.*?>.*?</style>``, tried before ``<.*?>``),
    matched without case as Rust's regex does (simple case folding: ``ſ`` is an ``s``, ``ı`` is
    no ``i``). Each search resumes where the last one ended: the lazy regex would rescan to the
    end of the text from every ``<`` that no ``>`` (or no end tag) follows.
    """
    out: list[str] = []
    pos = 0
    next_gt = next_comment_end = -2  # -2: not searched yet, -1: none left
    closers = [-2, -2]  # next `</style>` and `</script>`, likewise
    while (lt := text.find("<", pos)) != -1:
        end = -1
        if text.startswith("<!--", lt):
            if next_comment_end != -1 and next_comment_end < lt + 4:
                next_comment_end = text.find("-->", lt + 4)
            if next_comment_end != -1:
                end = next_comment_end + 3
        if end == -1:
            if next_gt != -1 and next_gt < lt + 1:
                next_gt = text.find(">", lt + 1)
            if next_gt == -1:
                break  # no `>` after this `<`, so no tag from here on
            end = next_gt + 1
            if elements:
                for kind, (name, size) in enumerate(_ELEMENTS):
                    if name.match(text, lt + 1):  # then the first `>` is after the name
                        close = closers[kind]
                        if close != -1 and close < next_gt + 1:
                            close = closers[kind] = _end_tag(text, next_gt + 1, name, size)
                        if close != -1:
                            end = close + size + 3
                        break
        out.append(text[pos:lt])
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _end_tag(text: str, start: int, name: re.Pattern[str], size: int) -> int:
    """Where the first ``</name>`` at or after ``start`` begins, or -1."""
    while (i := text.find("</", start)) != -1:
        if name.match(text, i + 2) and text.startswith(">", i + 2 + size):
            return i
        start = i + 2
    return -1


# --- templates ----------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _parse_template(template: str) -> templates.Nodes:
    """Anki's parse of a template (see ``templates.parse``), kept for the templates in use."""
    return templates.parse(template)


@dataclass
class _Context:
    fields: dict[str, str]
    ord: int
    question: bool
    frontside: str = ""
    present: frozenset[str] = frozenset()  # rendered empty, but filled for sections
    left: float = float("inf")  # characters of field text the card may still show


class TooMuchText(Exception):
    """A card shows more field text than its caller allowed (see ``render_card``)."""


def _filter(name: str, text: str, ctx: _Context) -> str:
    if name == "cloze":
        return reveal_clozes(text, ctx.ord + 1, ctx.question)
    if name == "text":  # Anki's strip_html: tags (style and script with their content), then entities
        text = _strip_tags(text, elements=True)
        return _decode_entities(text) if "&" in text else text
    if name == "hint":  # Anki shows a link that reveals the text; show the text
        return text
    if name == "type":  # type-in answer box: nothing to type into in a preview
        return ""
    if name in ("kana", "kanji", "furigana"):
        return _replace_furigana(text.replace("&nbsp;", " "), name)
    return text  # tts and add-on filters: the text as is


_ENTITY = re.compile(r"&(?:#([0-9]+)|#x([0-9A-Fa-f]+)|([^;]*));")


def _decode_entities(text: str) -> str:
    """Anki's ``decode_entities`` (the htmlescape crate): all or nothing. Every ``&`` must start
    ``&name;`` (an HTML 4 name, in its case), ``&#digits;`` or ``&#xhex;`` naming a character;
    otherwise the text stays exactly as it is. Decoded no-break spaces become spaces."""
    out: list[str] = []
    pos = 0
    while (amp := text.find("&", pos)) != -1:
        m = _ENTITY.match(text, amp)
        if m is None:
            return text
        dec, hexa, name = m.groups()
        if name is not None:
            code = name2codepoint.get(name)
        else:
            code = int(dec, 10) if dec is not None else int(hexa, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                code = None
        if code is None:
            return text
        out += [text[pos:amp], chr(code)]
        pos = m.end()
    out.append(text[pos:])
    return "".join(out).replace("\xa0", " ")


def furigana_spans(text: str) -> list[tuple[int, int, int, int]]:
    r"""Each `漢字[かんじ]` as ``(start, base, bracket, end)``, exactly as Anki's
    ``\ ?([^ >]+?)\[(.+?)\]`` (Rust, leftmost-first) finds them, in one pass: Python's
    backtracking regex tries every base length from every start and rescans to the end of the
    line from each `[` (cubic on a field of `a[`). A `[` at ``b`` can end a base when a `]` follows
    on its line after at least one character; the match is the first such `[` inside a run of
    base characters after its first one, with the run's leading space."""
    spans: list[tuple[int, int, int, int]] = []
    close = newline = -2  # the next `]` and line break found so far (-1: none left)
    run_end = -1
    pos = 0
    n = len(text)
    while pos < n:
        if pos >= run_end:
            m = _RUN_START.search(text, pos)
            if m is None:
                break
            base = m.start()
            m = _RUN_END.search(text, base)
            run_end = n if m is None else m.start()
        else:
            base = pos
        bracket = text.find("[", base + 1, run_end)
        while bracket != -1:
            if close != -1 and close < bracket + 2:
                close = text.find("]", bracket + 2)
            if close == -1:
                return spans
            if newline != -1 and newline < bracket + 1:
                newline = text.find("\n", bracket + 1)
            if newline == -1 or close < newline:
                break
            bracket = text.find("[", bracket + 1, run_end)
        if bracket == -1:
            pos = run_end
            continue
        start = base - 1 if base > pos and text[base - 1] == " " else base
        spans.append((start, base, bracket, close + 1))
        pos = close + 1
    return spans


def _replace_furigana(text: str, name: str) -> str:
    """Anki's furigana filters on each `漢字[かんじ]`; a `[sound:...]` tag stays as it is."""
    out: list[str] = []
    pos = 0
    for start, base, bracket, end in furigana_spans(text):
        kanji, reading = text[base:bracket], text[bracket + 1 : end - 1]
        out.append(text[pos:start])
        if reading.startswith("sound:"):
            out.append(text[start:end])
        elif name == "kana":
            out.append(reading)
        elif name == "kanji":
            out.append(kanji)
        else:
            out.append(f"<ruby><rb>{kanji}</rb><rt>{reading}</rt></ruby>")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _render(nodes: templates.Nodes, ctx: _Context, out: list[str]) -> None:
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
            continue
        if kind == "comment":
            out.append(f"<!--{node[1]}-->")
            continue
        key, rest = node[1], node[2]
        if kind == "field":
            if key == "FrontSide":
                text = ctx.frontside
            elif key in ctx.fields:
                text = ctx.fields[key]
                for name in rest:
                    text = _filter(name, text, ctx)
            else:
                text = None
            if text is not None:
                ctx.left -= len(text)
                if ctx.left < 0:
                    raise TooMuchText
                out.append(text)
            if text is None and (key or not rest):  # a filter with no field, `{{tts en_US:}}`, adds nothing
                out.append(f"{{unknown field {html.escape(key)}}}")
        else:
            filled = key in ctx.present or not templates.field_is_empty(ctx.fields.get(key, ""))
            if filled == (kind == "if"):
                _render(rest, ctx, out)


def render_card(note: Built, ord_: int, deck_name: str = "", budget: float = float("inf")) -> tuple[str, str]:
    """(question HTML, answer HTML) of one card, as Anki renders them (without the CSS). A field
    of the note named like a special field (`Deck`, `Tags`, `c1`) hides it, as in Anki. Raises
    TooMuchText once the fields shown pass ``budget`` characters: a template can show a field
    thousands of times, so one card of a small deck could otherwise take gigabytes."""
    nt = note.notetype
    _, qfmt, afmt = nt.templates[0 if nt.cloze else ord_]
    fields = {
        **{
            "Tags": " ".join(note.tags),
            "Type": nt.name,
            "Deck": deck_name,
            "Subdeck": deck_name.split("::")[-1],
            "Card": card_name(nt, ord_),
            "CardFlag": "flag0",  # Anki: flag0 (no flag) to flag7
            "CardID": "",
            f"c{ord_ + 1}": "1",  # Anki sets it for standard types too: `{{#c1}}` holds on card 1
        },
        **dict(zip(nt.field_names, note.fields)),
    }
    # the card's id exists once Anki adds it, so a section on it holds; a preview has no id to show
    ctx = _Context(
        fields, ord_, question=True, present=frozenset({"CardID"} - set(nt.field_names)), left=budget
    )
    q: list[str] = []
    _render(_parse_template(qfmt), ctx, q)
    question = "".join(q)
    ctx.question, ctx.frontside = False, question
    a: list[str] = []
    _render(_parse_template(afmt), ctx, a)
    return question, "".join(a)


def card_name(nt: NoteType, ord_: int) -> str:
    """Anki's {{Card}}: the template's name, or for a cloze type its name and the cloze number."""
    return f"{nt.templates[0][0]} {ord_ + 1}" if nt.cloze else nt.templates[ord_][0]


# --- cloze cards that ask nothing -------------------------------------------------------------


@lru_cache(maxsize=256)
def _cloze_sites(template: str) -> list[templates.ClozeSite]:
    return templates.cloze_sites(_parse_template(template))


def missing_gaps(
    nt: NoteType, values: list[str], has_tags: bool, ords: list[int]
) -> list[tuple[int, str, str | None]]:
    """The cards of a cloze note whose front shows no gap, as Anki renders them: (cloze number,
    why, the field holding that number). Anki makes a card for every cloze number in any field,
    but its question shows the gap only where a ``{{cloze:F}}`` reached through sections that
    hold for this note and card finds that number in F (after the filters applied before it);
    elsewhere the whole field renders empty, so the card asks nothing."""
    names = nt.field_names
    by_name = dict(zip(names, values))
    numbers: dict[str, set[int]] = {}

    def holds(name: str, number: int) -> bool:
        found = numbers.get(name)
        if found is None:
            found = numbers[name] = {
                min(n, cloze_syntax.MAX_CLOZE) for n in cloze_syntax.card_numbers(by_name[name])
            }
        return number in found

    sites = _cloze_sites(nt.templates[0][1])
    filled = templates.nonempty_names(names, values, has_tags)
    problems: list[tuple[int, str, str | None]] = []
    for ord_ in ords:
        number = ord_ + 1
        card = f"c{number}"
        on_card = filled if card in names else filled | {card}
        holder = next((name for name in names if holds(name, number)), None)
        why = None
        for site in sites:
            if site.field not in by_name or not holds(site.field, number):
                continue
            blocked = next(
                ((kind, key) for kind, key in site.sections if (key in on_card) != (kind == "if")), None
            )
            if blocked is not None:
                why = why or _blocked(site, blocked, number, names)
                continue
            text = by_name[site.field]
            ctx = _Context({}, ord_, question=True)
            for name in site.before:
                text = _filter(name, text, ctx)
            if site.before and number not in cloze_syntax.card_numbers(text):
                why = why or (
                    f"`{site.handle}` applies {', '.join(f'`{f}`' for f in site.before)} before `cloze`, "
                    f"which leaves no {card} in it"
                )
                continue
            break
        else:
            if why is None:
                held = " and ".join(f"`{name}`" for name in names if holds(name, number))
                why = f"{card} is only in {held}, which the front does not show with `cloze`"
            problems.append((number, why, holder))
    return problems


def _blocked(site: templates.ClozeSite, section: tuple[str, str], number: int, names: tuple[str, ...]) -> str:
    kind, key = section
    shown = f"`{{{{{'#' if kind == 'if' else '^'}{key}}}}}`"
    if key in names:
        state = "empty" if kind == "if" else "not empty"
        return f"its `{site.handle}` is inside {shown}, and `{key}` is {state} in this note"
    if key == "Tags":
        return f"its `{site.handle}` is inside {shown}, and this note has {'no tags' if kind == 'if' else 'tags'}"
    card = templates.card_conditional(key)
    if card is not None:
        return f"its `{site.handle}` is inside {shown}, which {'holds only on' if kind == 'if' else 'excludes'} card c{card}"
    return f"its `{site.handle}` is inside {shown}, which {'never' if kind == 'if' else 'always'} holds on card c{number}"
