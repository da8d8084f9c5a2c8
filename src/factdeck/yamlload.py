"""Read a deck file into plain mappings, lists and strings, with positions, from libyaml events.

Why not ``yaml.safe_load``: it coerces ``no``/``1.10``/``2024-01-01`` into other types,
silently keeps the last of duplicate keys, forgets where each value came from, and spends
most of a large build constructing nodes. Building straight from parse events keeps every
scalar a string, records a (line, col) for every key and value, and is several times faster.
Aliases are shared, not copied, and their expansion is budgeted so alias bombs end in an error.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from yaml import events as ev

from .diagnostics import Collector

if TYPE_CHECKING:
    from yaml.error import Mark

try:  # libyaml: the fast path; PyYAML wheels ship it.
    from yaml._yaml import CParser as _Parser

    _BYTE_OFFSETS = True  # libyaml reports reader errors at a byte offset into the UTF-8 text
except ImportError:  # pragma: no cover - pure-Python fallback
    # The pure-Python loader offers the same get_event() API under another class name.
    from yaml.loader import BaseLoader as _Parser  # type: ignore[assignment]

    _BYTE_OFFSETS = False

MAX_DEPTH = 64
# Aliases may repeat at most this many nodes, and characters of text, plus ten times what the
# file itself holds: more is an alias bomb (a few kilobytes that expand to gigabytes).
ALIAS_NODES = 10_000
ALIAS_CHARS = 1_000_000
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a line end
ALLOWED_TAGS = {None, "!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


Pos = tuple[int, int]  # (line, column), both from 1


class YMap(dict[str, "Node"]):
    """A mapping that remembers where it, each key and each value started."""

    __slots__ = ("key_pos", "pos", "val_pos")
    key_pos: dict[str, Pos]
    pos: Pos
    val_pos: dict[str, Pos]


class YList(list["Node"]):
    """A sequence that remembers where it and each item started."""

    __slots__ = ("item_pos", "pos")
    item_pos: list[Pos]
    pos: Pos


Node = str | YMap | YList  # what the loader builds: every scalar stays text
OnNote = Callable[[Node, Pos], None]  # takes each item of the top-level `notes` list


class _Abort(Exception):
    pass


@dataclass
class Outline:
    """What the parser saw of a document's shape, for checking that a text-level cut of a file
    (see shards.py) stands where the parser itself would cut."""

    root_flow: bool | None = None  # the top-level collection is in flow style ({...} or [...])
    tag_directives: bool = False  # a %TAG directive changes what tags mean
    anchors: set[str] = field(default_factory=set)
    alias_nodes: int = 0  # nodes and characters that aliases repeated
    alias_chars: int = 0
    notes_end: tuple[int, int] | None = None  # where the streamed `notes` list ended


def decode(data: bytes, out: Collector) -> str | None:
    """Strict UTF-8 (a BOM is fine); anything else is an error located at the bad byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        out.error(None, "encoding", "file is UTF-16; save it as UTF-8")
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start].decode("utf-8")  # valid up to the bad byte: count characters
        out.error(
            position(before, len(before)),
            "encoding",
            f"file is not valid UTF-8 (byte 0x{data[e.start]:02x}); save it as UTF-8",
        )
        return None


def load(
    text: str, out: Collector, on_note: OnNote | None = None, outline: Outline | None = None
) -> Node | None:
    """Parse one YAML document into YMap/YList/str. Returns None when nothing usable was read.

    With ``on_note``, each item of the top-level ``notes`` list is handed to
    ``on_note(item, pos)`` as soon as it is complete instead of being kept in the tree.
    ``outline``, when given, is filled in with what the parser saw of the document's shape.
    """
    try:
        return _build(text, out, on_note, Outline() if outline is None else outline)
    except _Abort:
        return None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        if e.context_mark is not None and "end of stream" in (e.problem or ""):
            mark = e.context_mark  # point at what was left open, not at the end of the file
        out.error(_mark_pos(mark), "yaml-syntax", _syntax_message(e, _char_at(text, e.problem_mark)))
    except yaml.reader.ReaderError as e:
        out.error(
            position(text, _char_index(text, e.position)),
            "yaml-syntax",
            f"invalid character {chr(e.character)!r} (U+{e.character:04X}) in YAML"
            if isinstance(e.character, int)
            else f"invalid YAML: {e.reason}",
        )
    except yaml.YAMLError as e:  # pragma: no cover - unmarked libyaml failures
        out.error(None, "yaml-syntax", f"invalid YAML: {e}")
    return None


def _mark_pos(mark: Mark | None) -> Pos | None:
    return (mark.line + 1, mark.column + 1) if mark is not None else None


def position(text: str, index: int) -> tuple[int, int]:
    """(line, column), 1-based and counted in characters, of ``text[index]``, with line ends
    counted as libyaml counts them (CRLF, CR, LF, NEL, LS, PS), so that every position in a
    report agrees with the ones the parser gives."""
    line, start = 1, 0
    for m in _LINE_BREAK.finditer(text, 0, index):
        line, start = line + 1, m.end()
    return line, index - start + 1


def _char_index(text: str, offset: int) -> int:
    """libyaml's byte offset into the UTF-8 text as an index into ``text``."""
    if not _BYTE_OFFSETS:  # pragma: no cover - the pure-Python reader counts characters
        return offset
    return len(text.encode("utf-8", "surrogatepass")[:offset].decode("utf-8", "ignore"))


def _char_at(text: str, mark: Mark | None) -> str:
    if mark is None or not 0 <= mark.index < len(text):
        return ""
    return text[mark.index]


def _syntax_message(e: yaml.MarkedYAMLError, char: str) -> str:
    problem = (e.problem or "syntax error").strip()
    if char == "\t" or "'\\t'" in problem:
        return "tab character where YAML expects indentation or a value; indent with spaces"
    if "end of stream" in problem and "quoted scalar" in (e.context or ""):
        return "invalid YAML: this quoted text is never closed (missing closing quote)"
    msg = f"invalid YAML: {problem}"
    if e.context:
        msg += f" {e.context.strip()}"
        if (
            e.context_mark is not None
            and e.problem_mark is not None
            and (e.context_mark.line != e.problem_mark.line or e.context_mark.column != e.problem_mark.column)
        ):
            msg += f" (started at line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
    return msg


_MERGE_KEY = (
    "merge key `<<` is not supported: write the keys out (YAML 1.2 has no merge keys, so tools "
    "disagree on what it means); quote it (`'<<'`) for a key named `<<`"
)


def _build(text: str, out: Collector, on_note: OnNote | None, outline: Outline) -> Node | None:
    parser = _Parser(text)
    get_event = parser.get_event
    anchors: dict[str, tuple[Node, int, int]] = {}  # name -> (node, nodes in it, characters in it)
    # A frame is [container, pending key (or _NO_KEY), key position, node count at start, anchor, position,
    # sink]: a sink takes the items of a list (the top-level `notes`) instead of the list keeping them.
    stack: list[list[Any]] = []
    # stack[-1] (or None), kept at hand: most events go to it. Any, not list[Any] | None: in_map
    # implies a frame, which mypy cannot follow, and a check per event would cost time.
    frame: Any = None
    in_map = False
    root: Node | None = None
    documents = 0
    total = 0  # nodes after alias expansion
    expanded = 0  # of which came from aliases
    expanded_chars = 0  # characters of text that aliases repeated
    char_limit = ALIAS_CHARS + 10 * len(text)
    anchored_at: dict[int, tuple[int, int]] = {}  # anchored collection -> (start index, expanded_chars)

    Scalar, MapStart, SeqStart = ev.ScalarEvent, ev.MappingStartEvent, ev.SequenceStartEvent
    MapEnd, SeqEnd, Alias = ev.MappingEndEvent, ev.SequenceEndEvent, ev.AliasEvent
    DocStart, StreamEnd = ev.DocumentStartEvent, ev.StreamEndEvent

    def attach(value: Node, pos: Pos) -> None:
        """Put a finished node (or a scalar that is not a key) into the current container."""
        nonlocal root
        if frame is None:
            root = value
            return
        container = frame[0]
        if not in_map:
            if frame[6] is not None:
                frame[6](value, pos)
                return
            container.append(value)
            container.item_pos.append(pos)
        elif frame[1] is _NO_KEY:
            out.error(pos, "yaml-key", "a mapping key must be plain text, not a list or mapping")
            frame[1] = _BAD_KEY
        else:
            key = frame[1]
            frame[1] = _NO_KEY
            if key is _BAD_KEY:
                return
            if key in container:
                first = container.key_pos[key]
                out.error(
                    frame[2],
                    "duplicate-key",
                    f"duplicate key `{key}` (first defined at line {first[0]}); remove one of them",
                )
                return
            container[key] = value
            container.key_pos[key] = frame[2]
            container.val_pos[key] = pos

    while True:
        # Any: dispatch on type(event) is faster than isinstance but does not narrow for mypy.
        event: Any = get_event()
        cls = type(event)
        if cls is Scalar:
            total += 1
            mark = event.start_mark
            pos = (mark.line + 1, mark.column + 1)
            if event.tag is not None and event.tag not in ALLOWED_TAGS:
                _bad_tag(event.tag, pos, out)
            if event.anchor is not None:
                anchors[event.anchor] = (event.value, 1, len(event.value))
                outline.anchors.add(event.anchor)
            if in_map:
                key = frame[1]
                if key is _NO_KEY:
                    frame[1] = event.value
                    frame[2] = pos
                    if event.value == "<<" and not event.style:  # plain, not quoted
                        out.error(pos, "yaml-merge-key", _MERGE_KEY)
                        frame[1] = _BAD_KEY
                    continue
                container = frame[0]
                if type(key) is str and key not in container:  # the common case, inlined
                    frame[1] = _NO_KEY
                    container[key] = event.value
                    container.key_pos[key] = frame[2]
                    container.val_pos[key] = pos
                    continue
            elif frame is not None and frame[6] is None:  # an item of an ordinary list, inlined
                frame[0].append(event.value)
                frame[0].item_pos.append(pos)
                continue
            attach(event.value, pos)
        elif cls is MapStart or cls is SeqStart:
            total += 1
            mark = event.start_mark
            pos = (mark.line + 1, mark.column + 1)
            if event.tag is not None and event.tag not in ALLOWED_TAGS:
                _bad_tag(event.tag, pos, out)
            if len(stack) >= MAX_DEPTH:
                out.error(
                    pos, "yaml-depth", f"nesting deeper than {MAX_DEPTH} levels; a deck file needs at most 5"
                )
                raise _Abort
            node: YMap | YList
            if cls is MapStart:
                node = YMap()
                node.key_pos = {}
                node.val_pos = {}
            else:
                node = YList()
                node.item_pos = []
            node.pos = pos
            sink = None
            if not stack:
                outline.root_flow = bool(event.flow_style)
            elif (
                on_note is not None
                and cls is SeqStart
                and len(stack) == 1
                and in_map
                and frame[1] == "notes"
                and "notes" not in frame[0]  # a second `notes` is a duplicate key, not more notes
            ):
                sink = on_note
            if event.anchor is not None:
                anchored_at[id(node)] = (mark.index, expanded_chars)
                outline.anchors.add(event.anchor)
            frame = [node, _NO_KEY, None, total, event.anchor, pos, sink]
            stack.append(frame)
            in_map = cls is MapStart
        elif cls is MapEnd or cls is SeqEnd:
            node, _, _, started, anchor, pos, sink = stack.pop()
            if anchor is not None:
                start_index, chars_before = anchored_at.pop(id(node))
                chars = event.end_mark.index - start_index + expanded_chars - chars_before
                anchors[anchor] = (node, total - started + 1, chars)
            if sink is not None:
                outline.notes_end = (event.start_mark.line + 1, event.start_mark.column + 1)
            frame = stack[-1] if stack else None
            in_map = frame is not None and type(frame[0]) is YMap
            attach(node, pos)
        elif cls is Alias:
            mark = event.start_mark
            pos = (mark.line + 1, mark.column + 1)
            target = anchors.get(event.anchor)
            if target is None:
                out.error(pos, "yaml-alias", f"alias `*{event.anchor}` refers to no anchor defined before it")
                raise _Abort
            total += target[1]
            expanded += target[1] - 1
            expanded_chars += target[2]
            outline.alias_nodes, outline.alias_chars = expanded, expanded_chars
            if expanded > ALIAS_NODES + 10 * (total - expanded) or expanded_chars > char_limit:
                out.error(
                    pos,
                    "yaml-alias-bomb",
                    "aliases expand this file more than tenfold; refusing to expand (alias bomb?)",
                )
                raise _Abort
            if in_map and frame[1] is _NO_KEY:
                out.error(
                    pos, "yaml-key", f"alias `*{event.anchor}` used as a mapping key; write the key out"
                )
                frame[1] = _BAD_KEY
                continue
            attach(target[0], pos)
        elif cls is DocStart:
            documents += 1
            outline.tag_directives |= bool(event.tags)
            if documents > 1:
                out.error(
                    _mark_pos(event.start_mark),
                    "yaml-documents",
                    "a deck file holds one YAML document; found a second `---`",
                )
                raise _Abort
        elif cls is StreamEnd:
            break
    return root


_NO_KEY = object()
_BAD_KEY = object()


def _bad_tag(tag: str, pos: Pos, out: Collector) -> None:
    shown = tag.replace("tag:yaml.org,2002:", "!!")
    out.error(
        pos, "yaml-tag", f"YAML tag `{shown}` is not allowed: deck files hold only text, lists and mappings"
    )


# --- positions inside a scalar ------------------------------------------------------------------

_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_HEX = re.compile(r"[0-9A-Fa-f]+")
_BLOCK_HEADER = re.compile(r"[|>](?:[+-]?([1-9])?|([1-9])[+-]?)[ \t]*(?:#[^\r\n]*)?(?:\r\n|[\r\n]|\Z)")
Chars = list[tuple[str, int]]  # each character of a scalar's value, with its index in the file


def value_position(text: str | None, start: Pos, value: str, offset: int) -> Pos | None:
    """Where ``value[offset]`` is written in the file: ``value`` is the scalar whose node starts
    at ``start`` (a loader position) in ``text``. None when that cannot be told for sure: no
    text, an alias, an explicit indentation indicator, or any reading that does not give back
    ``value`` exactly.

    The scalar is read again from the file by the rules of its style (plain, single- or
    double-quoted with escapes and line folding, literal or folded block), character by
    character, and trusted only when that reading reproduces the loaded value: so a position
    is either exact or not given. Only error paths call this: it may scan the whole file.
    """
    if not 0 <= offset < len(value):
        return None
    return value_positions(text, start, value, [offset]).get(offset)


def value_positions(text: str | None, start: Pos, value: str, offsets: Iterable[int]) -> dict[int, Pos]:
    """``value_position`` for many offsets into one value, reading the scalar and the file once
    (a template with thousands of problems is not read again for each); offsets whose position
    cannot be told for sure are left out."""
    if text is None:
        return {}
    i = _index(text, start)
    if i is None:
        return {}
    chars = _scalar_chars(text, i, len(value))
    if chars is None or len(chars) != len(value) or "".join(c for c, _ in chars) != value:
        return {}
    at = {offset: chars[offset][1] for offset in offsets if 0 <= offset < len(value)}
    if not at:
        return {}
    ends = [m.end() for m in _LINE_BREAK.finditer(text, 0, max(at.values()))]
    out: dict[int, Pos] = {}
    for offset, index in at.items():
        line = bisect.bisect_right(ends, index)
        out[offset] = (line + 1, index - (ends[line - 1] if line else 0) + 1)
    return out


def _index(text: str, pos: Pos) -> int | None:
    line, col = pos
    start = 0
    if line > 1:
        for n, m in enumerate(_LINE_BREAK.finditer(text), 2):
            if n == line:
                start = m.end()
                break
        else:
            return None
    index = start + col - 1
    return index if index <= len(text) else None


def _is_break(text: str, i: int) -> bool:
    return i < len(text) and text[i] in "\r\n"


def _after_break(text: str, i: int) -> int:
    return i + 2 if text.startswith("\r\n", i) else i + 1


def _skip_white(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _scalar_chars(text: str, i: int, limit: int) -> Chars | None:
    """The first ``limit`` characters of the scalar node at ``text[i]``, or None."""
    while i < len(text) and text[i] in "&!":  # an anchor or a tag before the scalar
        while i < len(text) and text[i] not in " \t\r\n":
            i += 1
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
    if i >= len(text) or text[i] in "*#":
        return None
    head = text[i]
    if head in "|>":
        return _block(text, i, limit)
    if head in "\"'":
        return _flow(text, i + 1, head, limit)
    return _flow(text, i, None, limit)


def _flow(text: str, i: int, quote: str | None, limit: int) -> Chars | None:
    """A plain or quoted scalar: escapes (double-quoted), and line folding, in which a single
    line break is a space, each empty line after it a line feed, and white space around
    breaks is dropped."""
    out: Chars = []
    n = len(text)
    while len(out) < limit and i < n:
        c = text[i]
        if quote is not None and c == quote:
            if quote == "'" and text.startswith("''", i):
                out.append(("'", i))
                i += 2
                continue
            break
        if quote == '"' and c == "\\":
            i, ok = _escape(text, i, out)
            if not ok:
                return None
            continue
        if c in " \t":
            end = _skip_white(text, i)
            if not _is_break(text, end):
                out.extend((text[k], k) for k in range(i, end))
            i = end
            continue
        if c in "\r\n":
            i = _fold(text, i, out, space=True)
            continue
        out.append((c, i))
        i += 1
    return out


def _fold(text: str, i: int, out: Chars, space: bool) -> int:
    """At a line break inside a flow scalar: the empty lines after it as line feeds, else one
    space (none after an escaped break); returns where the next line's text starts."""
    at = i
    i = _after_break(text, i)
    empty = False
    while True:
        j = _skip_white(text, i)
        if not _is_break(text, j):
            break
        out.append(("\n", j))
        empty = True
        i = _after_break(text, j)
    if space and not empty:
        out.append((" ", at))
    return _skip_white(text, i)


def _escape(text: str, i: int, out: Chars) -> tuple[int, bool]:
    """A double-quoted escape at ``text[i]`` (the backslash)."""
    if i + 1 >= len(text):
        return i, False
    e = text[i + 1]
    if e in "\r\n":
        return _fold(text, i + 1, out, space=False), True
    if e in _ESCAPES:
        out.append((_ESCAPES[e], i))
        return i + 2, True
    size = _HEX_ESCAPES.get(e)
    if size is None:
        return i, False
    digits = text[i + 2 : i + 2 + size]
    if len(digits) != size or not _HEX.fullmatch(digits):
        return i, False
    code = int(digits, 16)
    if code > 0x10FFFF:
        return i, False
    out.append((chr(code), i))
    return i + 2 + size, True


def _block(text: str, i: int, limit: int) -> Chars | None:
    """A literal (``|``) or folded (``>``) block scalar with its indentation found from its
    first non-empty line; with an explicit indentation indicator, None (that needs the parent
    node's indentation)."""
    m = _BLOCK_HEADER.match(text, i)
    if m is None or m.group(1) or m.group(2):
        return None
    folded = text[i] == ">"
    lines: list[tuple[int, int, int]] = []  # (start, end before the break, index of the break)
    j = m.end()
    n = len(text)
    while j < n:
        k = j
        while k < n and text[k] not in "\r\n":
            k += 1
        lines.append((j, k, k))
        j = _after_break(text, k) if k < n else n
    indent = None
    for start, end, _ in lines:
        spaces = _skip_spaces(text, start, end) - start
        if start + spaces < end:
            indent = spaces
            break
    if not indent:
        return None
    out: Chars = []
    previous: str | None = None  # "text" or "spaced": the last content line; None before the first
    pending: list[int] = []  # breaks since the last content line: of that line, then of empty lines
    for start, end, brk in lines:
        if len(out) >= limit:
            break
        spaces = _skip_spaces(text, start, end) - start
        if start + spaces == end and spaces <= indent:  # an empty line
            pending.append(brk)
            continue
        if spaces < indent:
            break  # a less indented line: the scalar ended
        kind = "spaced" if text[start + indent] in " \t" else "text"
        if previous is None or not folded:
            out.extend(("\n", b) for b in pending)
        elif previous == "text" and kind == "text":
            out.extend([(" ", pending[0])] if len(pending) == 1 else [("\n", b) for b in pending[1:]])
        else:
            out.extend(("\n", b) for b in pending)
        out.extend((text[k], k) for k in range(start + indent, end))
        pending = [brk]
        previous = kind
    out.extend(("\n", b) for b in pending)
    return out[:limit]


def _skip_spaces(text: str, i: int, end: int) -> int:
    while i < end and text[i] == " ":
        i += 1
    return i
