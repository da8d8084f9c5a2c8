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
# `html`, `body` and `:root` as a selector writes them: not part of another name, not namespaced
# (`svg|body` rewritten would be an invalid selector, dropping its whole list)
_HOST = re.compile(
    rf"(?<![\w\-.#:|])(html|body)(?![\w\-(|]){_COMPOUND}|(?<![\w\-|]):root(?![\w\-(]){_COMPOUND}", re.I
)
# what a selector's words are not: comments, strings, escapes, and attribute selectors' insides
_ATTR = r"\[(?:[^\]\"'\\]|\\.|\"(?:[^\"\\\n]|\\.)*\"?|'(?:[^'\\\n]|\\.)*'?)*\]?"
_MASK = re.compile(_SKIP.pattern + "|" + _ATTR, re.S)


def for_shadow_root(css: str) -> tuple[str, str]:
    """``css`` as a shadow root holding a card side applies it, and the rules that must go to
    the document instead. In a shadow root no element is `html`, `body` or `:root`: the rules of
    `html` and `:root` go to `:host` (the side's frame, whose custom properties and inherited
    styles reach the card), those of `body` to `.card`: on Anki's card page the body is the
    element of class `card` (and `nightMode`), as the card's element is in the preview.
    `@font-face` and `@import` do nothing there: they are hoisted."""
    inside: list[str] = []
    document: list[str] = []
    _rewrite(css, inside, document)
    return "".join(inside), "\n".join(document)


_GROUP, _KEPT, _HOIST = 0, 1, 2  # a block of rules, one left as written, one going to the document


def _rewrite(css: str, inside: list[str], document: list[str]) -> None:
    """One pass over the statements, however deeply `@media` and the like nest: a block of
    rules keeps the rules' selectors rewritten; any other block is copied as written."""
    stack: list[int] = []
    kept = 0  # how many of the open blocks are not blocks of rules (their contents stay)
    pos = 0  # the text before it is written; a statement, in a block of rules, starts here
    hoist = -1

    def name(head: str) -> str | None:
        rule = _AT.match(_SKIP.sub(lambda m: m.group() if m.group()[0] == "\\" else " ", head))
        return rule.group(1).lower() if rule else None

    for m in _TOKEN.finditer(css):
        c = m.group()
        if c not in "{};":
            continue
        if c == "{":
            if kept:
                stack.append(_KEPT)
                kept += 1
                continue
            head = css[pos : m.start()]
            at = name(head)
            if at in _HOISTED and not stack:
                stack.append(_HOIST)
                kept, hoist = kept + 1, pos
            elif at in _GROUPS:
                stack.append(_GROUP)
                inside.append(css[pos : m.end()])
            else:
                stack.append(_KEPT)
                kept += 1
                inside.append((_host_selectors(head) if at is None else head) + "{")
            pos = m.end()
        elif c == "}":
            if not stack:
                continue  # closes nothing: part of the next statement, as browsers read it
            frame = stack.pop()
            if frame != _GROUP:
                kept -= 1
                if kept:
                    continue
            if frame == _HOIST:
                document.append(css[hoist : m.end()].strip())
            else:
                inside.append(css[pos : m.end()])
            pos = m.end()
        elif not kept:  # `;`
            if not stack and name(css[pos : m.end()]) in _HOISTED:
                document.append(css[pos : m.end()].strip())
            else:
                inside.append(css[pos : m.end()])
            pos = m.end()
    if hoist >= 0 and stack and stack[0] == _HOIST:
        document.append(css[hoist:].strip())
    elif not stack and name(css[pos:]) in _HOISTED and css[pos:].strip():
        document.append(css[pos:].strip())
    else:
        inside.append(css[pos:])


def _host_selectors(prelude: str) -> str:
    """`html`, `:root` (as `:host`) and `body` (as `.card`) in a selector list; comments,
    strings, escaped characters and attribute selectors' values untouched."""
    masked = _MASK.sub(_hidden, prelude)  # same length: a match's spans are the prelude's
    parts, pos = [], 0
    for m in _HOST.finditer(masked):
        group = 2 if m.group(1) else 3
        compound = prelude[m.start(group) : m.end(group)]
        if m.group(1) and m.group(1).lower() == "body":
            new = ".card" + compound
        else:
            new = f":host({compound})" if compound else ":host"
        parts += [prelude[pos : m.start()], new]
        pos = m.end()
    parts.append(prelude[pos:])
    return "".join(parts)


def _hidden(m: re.Match[str]) -> str:
    text = m.group()
    if text.startswith("/*"):
        return " " * len(text)
    if text[0] == "[":
        return (
            "[" + "x" * (len(text) - 2) + "]"
            if len(text) > 1 and text[-1] == "]"
            else "[" + "x" * (len(text) - 1)
        )
    return "x" * len(text)  # an escape or a string: part of a name, never `html` or `body`
