"""`factdeck new`: a first deck file that builds as it is and shows every kind of note."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .diagnostics import Diagnostic
from .schema import SCHEMA_FILE, SCHEMA_URL
from .validate import ID_RE, MAX_ID

# Words a YAML parser (1.1 or 1.2) would not read as text: quote ids that look like them.
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf"}

TEMPLATE = """\
# yaml-language-server: $schema=<<SCHEMA>>
# A factdeck deck. `factdeck check` validates it; `factdeck build` makes an Anki package of it.
# The notes below are examples of every kind of note: edit them, delete them, add your own.
# Fields are Markdown (**bold**, *italic*, lists, images next to this file, math as \\( x^2 \\)).
version: "1"

deck:
  id: <<ID>>  # never change it once the deck is shared: notes are identified by deck id + note id
  name: <<NAME>>  # as Anki shows it; `Parent::Child` nests decks
  description: What this deck is about, shown on the deck's overview screen in Anki.

# Tags given to every note of the deck (optional). An Anki tag is one word; `a::b` nests.
tags: [<<ID>>]

# References that notes cite by key (optional); a note's sources show on the answer side.
sources:
  example-book:
    title: An example reference, as a reader would find it
    url: https://example.org/reference

# Note types of your own (optional): fields, card templates in Anki's template syntax, CSS.
# Uncomment this and the last note below to try one. To share note types between decks, put
# `id:` and `notetypes:` in a file of their own and `include: [that-file.yaml]` it here.
# notetypes:
#   vocab:  # the key notes name in `type:`
#     name: Vocabulary  # Anki's name for it (default: the key)
#     fields:  # in Anki's order: a name, or {name: ..., format: html} (or text; default markdown)
#       - Word
#       - Meaning
#       - {name: Example, format: html}
#       - Sources
#     sources-field: Sources  # factdeck fills it with the note's sources
#     templates:  # a card for each template whose front shows a field that is not empty
#       - name: Recognise
#         front: "{{Word}}"
#         back: "{{FrontSide}}<hr id=answer>{{Meaning}}{{#Example}}<br>{{Example}}{{/Example}}"
#       - name: Recall  # only notes with an Example get this card
#         front: "{{#Example}}{{Meaning}}?{{/Example}}"
#         back: "{{FrontSide}}<hr id=answer>{{Word}}"
#     css: ".card { font-family: sans-serif; font-size: 22px; text-align: center; }"

notes:
  # basic: one card, the front asks and the back answers.
  # `type: basic` is the default for a note with `front` and `back`, so it may be left out.
  # Each note needs an `id`, unique in the deck: it is how Anki recognises the note when you
  # rebuild, so keep it when you edit the note (a new id makes a new note).
  - id: basic-example
    type: basic
    front: What does a **basic** note make?
    back: One card, from front to back.
    extra: Optional `extra` is shown below the answer.
    tags: [example]  # added to the deck's tags
    sources: [example-book]  # keys defined under `sources` above

  # basic-reversed: two cards, front to back and back to front.
  - id: reversed-example
    type: basic-reversed
    front: hello
    back: bonjour
    tags: [example, vocabulary]

  # cloze: one card per cloze number in `text`. `{{c1::answer}}` hides "answer";
  # `{{c1::answer::hint}}` shows "hint" in its place. Quote text that starts with `{` or
  # holds `: ` or ` #`. `type: cloze` is the default for a note with `text`.
  - id: cloze-example
    type: cloze
    text: "The capital of {{c1::France::a country}} is {{c2::Paris}}."
    extra: Each number is a card; reuse a number to hide several parts on one card.
    sources: [example-book]

  # cloze deletions can nest: card 1 hides the whole phrase, card 2 only the temperature.
  - id: nested-cloze-example
    text: "{{c1::Water boils at {{c2::100 °C}}}} at sea level."

  # a note of your own type (uncomment with `notetypes` above): its content goes under
  # `fields`, by field name. `subdeck` (on any note) puts its cards in "<deck name>::Vocabulary".
  # - id: vocab-example
  #   type: vocab
  #   fields: {Word: bonjour, Meaning: hello, Example: "<i>Bonjour</i>, Marie !"}
  #   sources: [example-book]
  #   subdeck: Vocabulary
"""


def deck_id_problem(deck_id: str) -> str | None:
    """Why ``deck_id`` cannot be a deck id, or None when it can."""
    if not ID_RE.match(deck_id) or len(deck_id) > MAX_ID:
        return (
            f"`{deck_id}` is not a valid deck id: use lowercase letters, digits and '-', "
            f"starting with a letter or digit, at most {MAX_ID} characters"
        )
    return None


def schema_reference(directory: Path) -> str:
    """How a deck file in ``directory`` names the schema: a relative path to the repository's copy
    when one is found in ``directory`` or above it (up to the repository root), else its URL."""
    here = Path(os.path.abspath(directory))
    for folder in (here, *here.parents):
        candidate = folder / SCHEMA_FILE
        if candidate.is_file():
            return Path(os.path.relpath(candidate, here)).as_posix()
        if (folder / ".git").exists():
            break
    return SCHEMA_URL


def deck_name(deck_id: str) -> str:
    """A first name for the deck: `spanish-verbs` -> `Spanish verbs`."""
    name = " ".join(deck_id.replace("-", " ").split()) or deck_id
    return name[:1].upper() + name[1:]


def _plain(value: str) -> str:
    """``value`` as a YAML scalar that every YAML parser reads as text."""
    if re.fullmatch(r"[a-z][a-z0-9-]*", value) and value not in _YAML_WORDS:
        return value
    return f'"{value}"'


def scaffold_text(deck_id: str, schema_ref: str) -> str:
    return (
        TEMPLATE.replace("<<SCHEMA>>", schema_ref)
        .replace("<<ID>>", _plain(deck_id))
        .replace("<<NAME>>", f'"{deck_name(deck_id)}"')
    )


def new_deck(deck_id: str, directory: Path) -> tuple[Path, list[Diagnostic]]:
    """Write ``directory/<deck_id>.yaml``; never overwrites. Returns (path, problems)."""
    path = directory / f"{deck_id}.yaml"
    text = scaffold_text(deck_id, schema_reference(directory))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return path, [
            Diagnostic(str(directory), 0, 0, "write", f"cannot create the folder: {e.strerror or e}")
        ]
    try:
        with open(path, "x", encoding="utf-8", newline="\n") as f:
            f.write(text)
    except FileExistsError:
        return path, [
            Diagnostic(
                str(path),
                0,
                0,
                "exists",
                "file already exists; factdeck new never overwrites a file (choose another deck id or --dir)",
            )
        ]
    except OSError as e:
        return path, [Diagnostic(str(e.filename or path), 0, 0, "write", f"cannot write: {e.strerror or e}")]
    return path, []
