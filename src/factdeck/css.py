"""Note-type CSS that a browser (Anki's card view is one) would read otherwise than it looks.

Not a CSS parser: a scan for the few slips that silently change which rules apply, read as
CSS Syntax Level 3 tokenises: a `}` that closes no `{` (it joins the next rule's selector,
and browsers drop that rule), a `{` never closed (every later rule becomes part of its block),
a comment never closed (the rest of the style sheet is ignored), and a string not closed on
its line (browsers drop its declaration). Braces inside strings, comments, `url(...)` and
after a backslash are not braces.
"""

from __future__ import annotations

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
