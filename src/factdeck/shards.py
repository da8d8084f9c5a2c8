"""Read a deck file header first, and a large file's notes on two cores.

Reading the header (deck, tags, sources) before the notes lets each note be validated and
assembled the moment the parser finishes it, so only its final form is kept. A block-style
`notes:` list can be cut at item boundaries without parsing: each item starts on a line
holding `-` at the list's indentation. The header is parsed with the notes blanked out; each
piece of the notes is parsed as a document of its own, padded with blank lines so every line
and column stays what it is in the file. Nearly all of a large build is per-note Python work,
so a large file's second piece goes to a forked child process.

Anything unusual (a YAML error in any piece, such as an alias to an anchor in another piece;
line ends other than LF; more than one `notes:`; a list not starting on the next line) makes
the caller fall back to the one-pass read, so what users see, errors included, never depends
on this path (tests/test_shards.py compares the two).
"""

from __future__ import annotations

import contextlib
import itertools
import marshal
import os
import re
import signal
from dataclasses import astuple

from .assemble import Built, BuiltDeck, NoteAssembler, deck_anki_id, deck_renderer, describe
from .diagnostics import Collector, Diagnostic
from .notetypes import BY_KEY
from .validate import NoteReader, check_citations, finish, validate_header
from .yamlload import load

MIN_BYTES = 2_000_000
_NOTES_LINE = re.compile(r"^notes:[ \t]*(?:#.*)?$", re.M)
_OTHER_LINE_BREAKS = ("\r", "\x85", "\u2028", "\u2029")  # YAML counts these as line ends too
_FIRST_ITEM = re.compile(r"^( *)-(?: |$)", re.M)


class Fallback(Exception):
    """This file needs the ordinary one-pass read."""


def split(text: str, pieces: int) -> tuple[str, list[tuple[int, int, int]]]:
    """(header document, [(lines before, start, end) of each piece of the notes]), or Fallback."""
    found = list(_NOTES_LINE.finditer(text))
    if len(found) != 1 or any(c in text for c in _OTHER_LINE_BREAKS):
        raise Fallback
    notes_line = found[0]
    first = _FIRST_ITEM.search(text, notes_line.end())
    if first is None or text.count("\n", notes_line.end(), first.start()) != 1:
        raise Fallback  # only a list starting on the next line is cut here
    indent = len(first.group(1))
    if indent:
        end_re = re.compile(
            rf"^ {{0,{indent - 1}}}[^ \n#]|^ {{{indent}}}[^ \n#-]|^ {{{indent}}}-[^ \n]", re.M
        )
    else:
        end_re = re.compile(r"^[^ \n#-]|^-[^ \n]", re.M)
    end = end_re.search(text, first.start())
    block_end = end.start() if end else len(text)
    block = text[first.start() : block_end]
    item_re = re.compile(rf"^ {{{indent}}}-(?: |$)", re.M)
    cuts = [first.start()]
    for k in range(1, pieces):
        found = item_re.search(text, first.start() + len(block) * k // pieces, block_end)
        if found and found.start() > cuts[-1]:
            cuts.append(found.start())
    cuts.append(block_end)
    docs = [(text.count("\n", 0, lo), lo, hi) for lo, hi in itertools.pairwise(cuts)]
    header = (
        text[: notes_line.start()]
        + "notes: []"
        + text[notes_line.end() : first.start()]
        + "\n" * block.count("\n")
        + text[block_end:]
    )
    return header, docs


def piece_document(text: str, piece: tuple[int, int, int]) -> str:
    """A piece of the notes as a document of its own, every line where it is in the file."""
    line, lo, hi = piece
    return "\n" * (line - 1) + "notes:\n" + text[lo:hi]


_TEXT = ""  # the file being read: a forked child inherits it instead of receiving a copy


def _compile_piece(path: str, piece: tuple[int, int, int], deck) -> tuple:
    """Parse, validate and assemble one piece: (built notes, media, diagnostics, id positions, count).

    Each note is assembled as soon as it is valid, so only its final form is kept.
    """
    out = Collector(path)
    assembler = NoteAssembler(deck, deck_renderer(deck), out)

    def emit(note) -> None:
        check_citations([note], deck.sources, out)
        assembler.add(note)

    reader = NoteReader(out, emit, deck)
    load(piece_document(_TEXT, piece), out, on_note=reader)
    if any(d.code.startswith("yaml") for d in out.items):
        raise Fallback
    positions = [reader.id_positions[note.id] for note in assembler.built]
    return assembler.built, assembler.renderer.media, out.items, positions, reader.count


def _fork(path: str, piece, deck) -> tuple[int, int]:
    """Start a child process on one piece; it inherits the file text and header (no copies)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: work, send the result down the pipe, leave without cleanup
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.close(read_end)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(_in_child((path, piece, deck)) or b"")
        finally:
            os._exit(0)
    os.close(write_end)
    return pid, read_end


def _collect(child: tuple[int, int]) -> bytes:
    """The child's packed result; empty if it failed in any way."""
    pid, read_end = child
    with os.fdopen(read_end, "rb") as pipe:
        blob = pipe.read()
    _, status = os.waitpid(pid, 0)
    return blob if status == 0 else b""


def _end(children: list[tuple[int, int]], kill: bool = False) -> None:
    """Reap every child (killed first when their work is no longer wanted)."""
    for pid, _ in children:
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for child in children:
        _collect(child)


def _in_child(args) -> bytes | None:
    """The piece, packed as flat columns of strings: marshal reads those back far faster
    than pickle reads 50,000 small objects."""
    try:
        built, media, diags, positions, count = _compile_piece(*args)
    except Exception:
        return None
    columns = (
        [b.id for b in built],
        [b.guid for b in built],
        [b.notetype.key for b in built],
        [b.flds for b in built],
        ["\x1f".join(b.tags) for b in built],
        [tuple(b.ords) for b in built],
        [b.hash for b in built],
        ["\x1f".join(b.sources) for b in built],
        [b.subdeck for b in built],
    )
    return marshal.dumps((columns, media, [astuple(d) for d in diags], positions, count))


def _unpack(blob: bytes, deck) -> tuple:
    columns, media, diags, positions, count = marshal.loads(blob)
    split = _split_joined
    types = {**BY_KEY, **deck.notetypes}
    built = [
        Built(i, g, types[k], f, split(t), list(o), h, split(src), sub)
        for i, g, k, f, t, o, h, src, sub in zip(*columns)
    ]
    return built, media, [Diagnostic(*d) for d in diags], positions, count


def _split_joined(value: str) -> list[str]:
    return value.split("\x1f") if value else []


def compile_file(path: str, text: str, pieces: int = 2) -> tuple[BuiltDeck | None, list[Diagnostic]]:
    """The header-first read of one file, its notes in ``pieces`` processes; raises Fallback
    when the file's layout or content needs the one-pass read."""
    header_text, docs = split(text, pieces)
    out = Collector(path)
    tree = load(header_text, out)
    if any(d.code.startswith("yaml") for d in out.items):
        raise Fallback
    header = validate_header(tree, path, out)
    if header is None:
        raise Fallback
    deck, notes_list = header
    global _TEXT
    _TEXT = text
    children: list[tuple[int, int]] = []
    try:
        try:
            for doc in docs[1:]:
                children.append(_fork(path, doc, deck))
            results = [_compile_piece(path, docs[0], deck)]
        except OSError:  # no memory or processes left to fork: the one-pass read does it all
            _end(children)
            raise Fallback from None
        except Fallback:
            _end(children)
            raise
        except BaseException:  # interrupted, out of memory: the children must not outlive us
            _end(children, kill=True)
            raise
        packed = [_collect(child) for child in children]
    finally:
        _TEXT = ""
    if any(not blob for blob in packed):
        raise Fallback
    results += [_unpack(blob, deck) for blob in packed]
    built, seen, count, media = [], {}, 0, {}
    for piece_built, piece_media, diags, ids, piece_count in results:
        out.items.extend(diags)
        count += piece_count
        media.update(piece_media)
        for note, pos in zip(piece_built, ids):
            if note.id in seen:
                out.error(
                    pos,
                    "duplicate-id",
                    f"note id `{note.id}` is used twice: lines {seen[note.id][0]} and {pos[0]}",
                )
                continue
            seen[note.id] = pos
            built.append(note)
    finish(deck, count, notes_list, {key for note in built for key in note.sources}, out)
    renderer = deck_renderer(deck)
    result = BuiltDeck(deck, deck_anki_id(deck.id), describe(deck, renderer, out), built, media)
    result.media.update(renderer.media)
    return result, out.items


def available() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1
