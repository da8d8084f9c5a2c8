"""Deck names as Anki stores and compares them, and the names of a build Anki would not keep.

Anki normalises every `::` part of a deck name when it reads a package (rslib's
``decks/name.rs``): to Unicode NFC, without ASCII control characters (tabs, line breaks),
trimmed of whitespace and of single colons (`A:::B` and `A: ::B` are `A::B`), "blank" when
nothing is left. It compares names ignoring case (the
``unicase`` collation: full case folding, so `Straße` is `STRASSE`). So two decks whose
names differ only in case or Unicode form are one deck to Anki: importing one package after
the other merges the second into the first (which may be meant); in one package, Anki keeps one
name and renames the other by appending `_` (which one varies from run to run). A top-level `Default` (any
case) is Anki's own deck 1, in every collection. factdeck reports each such name where it is
written instead of letting Anki rename or merge decks silently. Measured with the `anki`
library (tests/test_names.py).

Checks run once per distinct name (a deck and the subdeck spellings its notes use), never per note.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from .diagnostics import Collector, Diagnostic
from .model import Deck, Pos

# Rust's char::is_whitespace (Unicode White_Space), which Anki's trim uses
_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_DECK = "Default"  # Anki's deck 1: every collection has it


def anki_part(part: str) -> str:
    """One `::` part as Anki stores it."""
    part = unicodedata.normalize("NFC", part)
    part = _ASCII_CONTROL.sub("", part).strip(_WHITESPACE + ":")  # `A: ::B` is A::B (measured)
    return part or "blank"


def anki_name(name: str) -> str:
    """The name Anki gives a deck named ``name`` (`A::::B` -> `A::blank::B`)."""
    if name.isascii() and not _ASCII_CONTROL.search(name):
        parts = name.split("::")
        if all(p and p[0] not in " :" and p[-1] not in " :" for p in parts):
            return name  # the common case: nothing to normalise
    return "::".join(anki_part(p) for p in name.split("::"))


def same_deck_key(name: str) -> str:
    """Names with one key are one deck to Anki (it ignores case, and stores NFC)."""
    return unicodedata.normalize("NFC", anki_name(name).casefold())


def shown(name: str) -> str:
    """``name`` for a message, each part escaped that Unicode form would make look like another."""
    if unicodedata.normalize("NFC", name) == name:
        return name
    return "::".join(
        p if unicodedata.normalize("NFC", p) == p else p.encode("ascii", "backslashreplace").decode()
        for p in name.split("::")
    )


@dataclass
class _Name:
    """A full deck name a build writes: a deck, a subdeck, or a parent Anki creates for one."""

    name: str
    explicit: bool  # a deck of the package (not a parent Anki creates)
    path: str  # the deck file
    pos: Pos  # of the `name:` or `subdeck:` value that makes it
    what: str  # "deck name `X`" or "`subdeck` `Y`"


def _names(deck: Deck) -> Iterator[tuple[str, list[_Name]]]:
    """Per input (the deck's name, each subdeck spelling in file order): its value as written
    and the full names it makes, parents first."""
    yield deck.name, _made(deck.name, "", deck.path, deck.name_pos, f"deck name `{shown(deck.name)}`")
    for sub, pos in deck.subdeck_pos.items():
        yield sub, _made(sub, f"{deck.name}::", deck.path, pos, f"`subdeck` `{shown(sub)}`")


def _made(value: str, prefix: str, path: str, pos: Pos, what: str) -> list[_Name]:
    parts = value.split("::")
    last = len(parts) - 1
    return [_Name(prefix + "::".join(parts[: i + 1]), i == last, path, pos, what) for i in range(len(parts))]


def _where(first: _Name, later: _Name) -> str:
    line, col = first.pos
    return f"line {line}" if first.path == later.path else f"{first.path}:{line}:{col}"


def _ignored(a: str, b: str) -> str:
    if unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b):
        return "Unicode form (NFC and NFD)"
    if anki_name(a).casefold() == anki_name(b).casefold():
        return "case"
    return "case and Unicode form"


def _clash(first: _Name, later: _Name) -> str:
    if first.name == later.name:
        return (
            f"{later.what}: {first.what} ({_where(first, later)}) makes the deck `{shown(later.name)}` too: "
            f"Anki would merge the two decks, or in one package rename one `{shown(later.name)}_`; "
            "give each deck its own name"
        )
    return (
        f"{later.what}: Anki would merge deck `{shown(later.name)}` into `{shown(first.name)}` "
        f"({_where(first, later)}), or in one package rename one of them with a `_` appended, "
        f"as deck names ignore {_ignored(first.name, later.name)}; spell both the same way"
    )


class _Registry:
    """The full names seen so far, by ``same_deck_key``: a later name Anki takes for an earlier
    one of another spelling, or for another deck's of the same spelling, is a clash."""

    def __init__(self) -> None:
        self.seen: dict[str, _Name] = {}

    def clash(self, made: list[_Name], other_files_only: bool) -> tuple[_Name, _Name] | None:
        found = None
        for name in made:
            first = self.seen.setdefault(same_deck_key(name.name), name)
            if first is name or found is not None:
                continue
            if other_files_only and first.path == name.path:
                continue
            if first.name != name.name or (first.explicit and name.explicit):
                found = (first, name)
            elif name.explicit and not first.explicit:
                self.seen[same_deck_key(name.name)] = name  # a parent, made a deck by this input
        return found


def check_deck(deck: Deck, out: Collector) -> None:
    """The deck's own name and its subdecks' (``deck.subdeck_pos``): each one Anki would
    rename, and each one Anki would take for another of the deck's, is an error at its value."""
    if not deck.name:
        return  # its error is reported
    if same_deck_key(deck.name.split("::")[0]) == same_deck_key(DEFAULT_DECK):
        out.error(deck.name_pos, "deck-name", _default(deck.name))
    registry = _Registry()
    for value, made in _names(deck):
        clash = registry.clash(made, other_files_only=False)
        if clash is not None:
            out.error(made[-1].pos, "deck-name", _clash(*clash))
            continue
        renamed = anki_name(value)
        if renamed != value:
            full = made[-1].name[: -len(value)] + renamed
            out.error(made[-1].pos, "deck-name", f"{made[-1].what}: {_renamed(value, full)}")


def _default(name: str) -> str:
    if "::" not in name:
        return (
            f"deck name `{name}` is the name of Anki's own deck {DEFAULT_DECK} (deck 1, in every "
            f"collection): Anki would merge this deck into it or rename it `{name}_`; choose another name"
        )
    return (
        f"deck name `{name}` puts the deck inside Anki's own deck {DEFAULT_DECK} (deck 1, in every "
        "collection), where Anki files it whatever the case; choose another top-level name"
    )


def _renamed(given: str, renamed: str) -> str:
    why = []
    if unicodedata.normalize("NFC", given) != given:
        why.append("Anki stores deck names in Unicode NFC")
    if _ASCII_CONTROL.search(given):
        why.append("Anki removes tabs, line breaks and other control characters from deck names")
    if any(
        p.strip(_WHITESPACE).startswith(":") or p.strip(_WHITESPACE).endswith(":") for p in given.split("::")
    ):
        why.append("Anki removes `:` from either end of each part between `::`")
    return f"Anki would rename the deck `{shown(renamed)}` ({'; '.join(why) or 'Anki normalises deck names'})"


def clashing_decks(decks: list[Deck]) -> list[Diagnostic]:
    """Names of the deck files of one package (`build -o`) that Anki would take for one deck:
    each an error at the later file's value. Decks built into packages of their own are not
    compared: importing one after the other, Anki merges decks of one name, which can be meant."""
    registry = _Registry()
    found = []
    for deck in decks:
        if not deck.name:
            continue
        for _, made in _names(deck):
            clash = registry.clash(made, other_files_only=True)
            if clash is not None:
                later = clash[1]
                found.append(Diagnostic(later.path, *later.pos, "deck-name", _clash(*clash)))
    return found
