"""Note-type CSS that a browser (Anki's card view is one) would read otherwise than it looks.

Not a CSS parser: a scan for the few slips that silently change which rules apply, read as
CSS Syntax Level 3 tokenises: a `}` that closes no `{` (it joins the next rule's selector,
and browsers drop that rule), a `{` never closed (every later rule becomes part of its block),
a comment never closed (the rest of the style sheet is ignored), and a string not closed on
its line (browsers drop its declaration). Braces inside strings, comments, `url(...)` and
after a backslash are not braces.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

# A note type whose CSS starts with this comment is kept as written: `factdeck import` marks
# CSS it took from a package that way, and the build then warns instead of refusing it.
UNCHECKED = "/* factdeck: unchecked, kept as imported */"

_NEWLINES = "\n\r\f"
_URL = re.compile(r"url\(", re.I)
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_\-\u0080-\U0010ffff]")
_STOPS = re.compile(r"[{}\"'\\/]|url\(", re.I)  # where the scan has anything to decide


@dataclass(frozen=True)
class Problem:
    offset: int  # into the CSS text
    message: str


def problems(css: str) -> list[Problem]:
    """Every slip in ``css``, in text order."""
    found: list[Problem] = []
    opened: list[int] = []
    i, n = 0, len(css)
    while True:
        m = _STOPS.search(css, i)
        if m is None:
            break
        i = m.start()
        c = css[i]
        if c == "/":
            if css.startswith("/*", i):
                end = css.find("*/", i + 2)
                if end < 0:
                    found.append(
                        Problem(i, "this comment is never closed: browsers ignore the rest of the CSS")
                    )
                    break
                i = end + 2
            else:
                i += 1
        elif c in "\"'":
            i = _string(css, i, found)
        elif c == "\\":
            i += 1 if i + 1 < n and css[i + 1] in _NEWLINES else 2
        elif c == "{":
            opened.append(i)
            i += 1
        elif c == "}":
            if opened:
                opened.pop()
            else:
                found.append(
                    Problem(
                        i,
                        "this `}` closes no `{`: browsers take it into the next rule's selector and drop that rule",
                    )
                )
            i += 1
        elif i and _IDENT_CHAR.match(css[i - 1]):
            i += 4  # `myurl(`: a function of another name
        else:
            i = _url(css, i, found)
    for at in opened:
        found.append(
            Problem(at, "this `{` is never closed: the rules after it, if any, become part of its block")
        )
    return sorted(found, key=lambda p: p.offset)


def _string(css: str, start: int, found: list[Problem]) -> int:
    """Past the string opened at ``start``; an unclosed one is a problem."""
    quote, i, n = css[start], start + 1, len(css)
    while i < n:
        c = css[i]
        if c == quote:
            return i + 1
        if c == "\\":  # an escape, or a line continued: `\\` and what follows are text
            i += 3 if css.startswith("\r\n", i + 1) else 2
            continue
        if c in _NEWLINES:
            found.append(
                Problem(start, "this string is not closed on its line: browsers drop its declaration")
            )
            return i
        i += 1
    found.append(Problem(start, "this string is never closed: browsers drop its declaration"))
    return n


def _url(css: str, start: int, found: list[Problem]) -> int:
    """Past the `url(` at ``start``: an unquoted URL runs to `)`; a quoted one is a string."""
    i, n = start + 4, len(css)
    while i < n and css[i] in " \t\n\r\f":
        i += 1
    if i < n and css[i] in "\"'":
        return i
    while i < n:
        c = css[i]
        if c == ")":
            return i + 1
        i += 2 if c == "\\" else 1
    found.append(Problem(start, "this `url(` is never closed: browsers ignore the rest of the CSS"))
    return n


def position(css: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in a CSS file's text."""
    return css.count("\n", 0, offset) + 1, offset - css.rfind("\n", 0, offset)


def positions(css: str, offsets: list[int]) -> list[tuple[int, int]]:
    """``position`` of each of ``offsets``, with one scan of the text: hostile CSS can have a
    slip on every line."""
    ends = [m.end() for m in re.finditer("\n", css)]
    found = []
    for offset in offsets:
        line = bisect.bisect_right(ends, offset)
        found.append((line + 1, offset - (ends[line - 1] if line else 0) + 1))
    return found


# --- note-type CSS in a shadow root (the preview) ------------------------------------------------

_SKIP = re.compile(r"/\*.*?(?:\*/|\Z)|\"(?:[^\"\\\n]|\\.)*\"?|'(?:[^'\\\n]|\\.)*'?|\\.", re.S)
_TOKEN = re.compile(_SKIP.pattern + r"|[{};]", re.S)
_AT = re.compile(r"\s*@([A-Za-z-]+)")
_HOISTED = {"font-face", "import"}  # they do nothing inside a shadow root: they go to the document
_GROUPS = {"media", "supports", "layer", "container", "document", "scope"}  # rule lists inside
_COMPOUND = r"((?:[.#][\w-]+|\[[^\]]*\]|:(?!:)[\w-]+(?:\([^)]*\))?)*)"
_ROOT = re.compile(
    rf"(?<![\w\-.#:\\])html(?![\w\-(]){_COMPOUND}|(?<![\w\-\\]):root(?![\w\-(]){_COMPOUND}", re.I
)
_BODY = re.compile(rf"(?<![\w\-.#:\\])body(?![\w\-(]){_COMPOUND}", re.I)


def for_shadow_root(css: str) -> tuple[str, str]:
    """``css`` as a shadow root holding a card side applies it, and the rules that must go to
    the document instead. In a shadow root no element is `html`, `body` or `:root`: the rules of
    `html` and `:root` go to `:host` (the side's frame, whose custom properties and inherited
    styles reach the card), those of `body` to `.card`: on Anki's card page the body is the
    element of class `card` (and `nightMode`), as the card's element is in the preview.
    `@font-face` and `@import` do nothing there: they are hoisted."""
    inside: list[str] = []
    document: list[str] = []
    _rewrite(css, 0, len(css), inside, document, True)
    return "".join(inside), "\n".join(document)


def _statements(css: str, start: int, end: int) -> list[tuple[int, int, int]]:
    """The statements of ``css[start:end]``: (start, its block's `{` or -1, end)."""
    found = []
    at, brace, depth = start, -1, 0
    for m in _TOKEN.finditer(css, start, end):
        c = m.group()
        if c == "{":
            if depth == 0:
                brace = m.start()
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                found.append((at, brace, m.end()))
                at, brace = m.end(), -1
        elif c == ";" and depth == 0:
            found.append((at, -1, m.end()))
            at = m.end()
    if css[at:end].strip():
        found.append((at, brace, end))
    return found


def _rewrite(css: str, start: int, end: int, inside: list[str], document: list[str], top: bool) -> None:
    pos = start
    for at, brace, stop in _statements(css, start, end):
        inside.append(css[pos:at])
        head = css[at : brace if brace >= 0 else stop]
        rule = _AT.match(_SKIP.sub(lambda m: m.group() if m.group()[0] == "\\" else " ", head))
        name = rule.group(1).lower() if rule else None
        if name in _HOISTED and top:
            document.append(css[at:stop].strip())
        elif name in _GROUPS and brace >= 0:
            inside.append(css[at : brace + 1])
            inner_end = stop - 1 if css[stop - 1] == "}" else stop
            _rewrite(css, brace + 1, inner_end, inside, document, False)
            inside.append(css[inner_end:stop])
        elif name is None and brace >= 0:
            inside.append(_host_selectors(head) + css[brace:stop])
        else:
            inside.append(css[at:stop])
        pos = stop
    inside.append(css[pos:end])


def _host_selectors(prelude: str) -> str:
    """`html`, `:root` (as `:host`) and `body` (as `.card`) in a selector list; comments and
    strings untouched."""
    parts, pos = [], 0
    for m in _SKIP.finditer(prelude):
        parts += [_host_words(prelude[pos : m.start()]), m.group()]
        pos = m.end()
    parts.append(_host_words(prelude[pos:]))
    return "".join(parts)


def _host_words(text: str) -> str:
    def host(m: re.Match[str]) -> str:
        compound = m.group(1) or m.group(2) or ""
        return f":host({compound})" if compound else ":host"

    return _ROOT.sub(host, _BODY.sub(lambda m: ".card" + (m.group(1) or ""), text))
