"""Deck and subdeck names Anki would rename or merge are errors at their value, pinned to what
the real `anki` import does with a package holding those names."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import pytest

from factdeck import names
from factdeck.build import build, check
from factdeck.terminal import printable

T0 = 1_700_000_000


def _deck_file(path: Path, deck_id: str, name: str, subdecks: list[str] = ()) -> Path:
    notes = "".join(
        f"  - id: n{i}\n    front: q{deck_id}{i}\n    back: a\n"
        + (f"    subdeck: {json.dumps(sub)}\n" if sub else "")
        for i, sub in enumerate(["", *subdecks])
    )
    path.write_text(f"deck:\n  id: {deck_id}\n  name: {json.dumps(name)}\nnotes:\n{notes}", encoding="utf-8")
    return path


def _package_with_names(tmp_path: Path, decks: list[list[str]], stem: str = "p") -> Path:
    """A factdeck package whose decks (one per list: a name, then subdecks) carry names
    factdeck refuses: built with stand-in names, which are then replaced in its collection."""
    folder = tmp_path / stem
    folder.mkdir()
    files = [
        _deck_file(folder / f"d{i}.yaml", f"{stem}{i}", f"P{i}", [f"S{j}" for j in range(len(d) - 1)])
        for i, d in enumerate(decks)
    ]
    built = folder / "built.apkg"
    assert not build([str(f) for f in files], output=built, now=T0).errors
    wanted = {f"P{i}": d[0] for i, d in enumerate(decks)}
    wanted |= {f"P{i}::S{j}": f"{d[0]}::{sub}" for i, d in enumerate(decks) for j, sub in enumerate(d[1:])}
    with zipfile.ZipFile(built) as z:
        members = {n: z.read(n) for n in z.namelist()}
    db_path = folder / "collection.anki2"
    db_path.write_bytes(members["collection.anki2"])
    db = sqlite3.connect(db_path)
    decks_json = json.loads(db.execute("SELECT decks FROM col").fetchone()[0])
    for deck in decks_json.values():
        deck["name"] = wanted.get(deck["name"], deck["name"])
    db.execute("UPDATE col SET decks = ?", (json.dumps(decks_json),))
    db.commit()
    db.close()
    members["collection.anki2"] = db_path.read_bytes()
    out = folder / "names.apkg"
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out


def _card_decks(col) -> list[str]:
    """The deck of each card, in the order of the decks' notes (q<deck><i>)."""
    by_question = {
        col.col.get_card(c).note()["Front"]: col.col.get_card(c).did for c in col.col.find_cards("")
    }
    return [col.col.decks.name(did) for _, did in sorted(by_question.items())]


def _errors(paths: list[Path]) -> list[str]:
    return [d.format() for d in check([str(p) for p in paths]).errors]


def _package_errors(paths: list[Path]) -> list[str]:
    """The errors of building the deck files into one package (`build -o`)."""
    out = paths[0].parent / "all.apkg"
    return [d.format() for d in build([str(p) for p in paths], output=out, now=T0).errors]


def test_subdecks_differing_only_in_case_are_an_error_at_the_later_one(tmp_path, anki):
    deck = _deck_file(tmp_path / "deck.yaml", "drugs", "Drugs", ["Opioids", "opioids"])
    assert _errors([deck]) == [
        f"{deck}:15:14: error: `subdeck` `opioids`: Anki would merge deck `Drugs::opioids` into "
        "`Drugs::Opioids` (line 11), or in one package rename one of them with a `_` appended, "
        "as deck names ignore case; spell both the same way"
    ]
    col = anki()
    col.import_package(_package_with_names(tmp_path, [["Drugs", "Opioids", "opioids"]]))
    decks = _card_decks(col)
    assert decks[0] == "Drugs" and len(set(decks)) == 3
    assert sorted(decks[1:]) in (["Drugs::Opioids", "Drugs::opioids_"], ["Drugs::Opioids_", "Drugs::opioids"])


def test_subdecks_differing_only_in_unicode_form_are_an_error_at_the_later_one(tmp_path, anki):
    deck = _deck_file(tmp_path / "deck.yaml", "d", "Words", ["Caf\u00e9", "Cafe\u0301"])
    (error,) = _errors([deck])
    assert error.startswith(f"{deck}:15:14: error: `subdeck` `Cafe\\u0301`: Anki would merge deck ")
    assert "as deck names ignore Unicode form (NFC and NFD)" in error
    col = anki()
    col.import_package(_package_with_names(tmp_path, [["Words", "Caf\u00e9", "Cafe\u0301"]]))
    assert sorted(_card_decks(col)[1:]) == ["Words::Caf\u00e9", "Words::Caf\u00e9_"]


@pytest.mark.parametrize(
    ("first", "later"),
    [("Drugs", "drugs"), ("Straße", "STRASSE")],  # Anki folds case fully, as str.casefold does
)
def test_decks_of_one_package_whose_names_differ_only_in_case_are_an_error(tmp_path, anki, first, later):
    a = _deck_file(tmp_path / "a.yaml", "a", first)
    b = _deck_file(tmp_path / "b.yaml", "b", later)
    assert _errors([a, b]) == []  # packages of their own are not compared
    assert _package_errors([a, b]) == [
        f"{b}:3:9: error: deck name `{later}`: Anki would merge deck `{later}` into `{first}` ({a}:3:9), "
        "or in one package rename one of them with a `_` appended, as deck names ignore case; "
        "spell both the same way"
    ]
    col = anki()
    col.import_package(_package_with_names(tmp_path, [[first], [later]]))
    decks = _card_decks(col)
    assert len(set(decks)) == 2 and any(d.endswith("_") for d in decks)  # one kept, one renamed


def test_decks_of_separate_packages_are_not_compared_as_anki_merges_them(tmp_path, anki):
    a = _deck_file(tmp_path / "a.yaml", "a", "Drugs::Opioids")
    b = _deck_file(tmp_path / "b.yaml", "b", "drugs::opioids")
    assert _errors([a, b]) == []
    assert [e.split(": error: ")[0] for e in _package_errors([a, b])] == [f"{b}:3:9"]
    col = anki()
    col.import_package(_package_with_names(tmp_path, [["Drugs::Opioids"]], "one"))
    col.import_package(_package_with_names(tmp_path, [["drugs::opioids"]], "two"))
    assert _card_decks(col) == ["Drugs::Opioids", "Drugs::Opioids"]


def test_two_deck_files_with_one_deck_name_are_an_error(tmp_path, anki):
    a = _deck_file(tmp_path / "a.yaml", "a", "Drugs")
    b = _deck_file(tmp_path / "b.yaml", "b", "Drugs")
    assert _package_errors([a, b]) == [
        f"{b}:3:9: error: deck name `Drugs`: deck name `Drugs` ({a}:3:9) makes the deck `Drugs` too: "
        "Anki would merge the two decks, or in one package rename one `Drugs_`; give each deck its own name"
    ]
    col = anki()
    col.import_package(_package_with_names(tmp_path, [["Drugs"], ["Drugs"]]))
    assert sorted(_card_decks(col)) == ["Drugs", "Drugs_"]


def test_a_subdeck_of_one_file_and_a_deck_of_another_with_one_name_are_an_error(tmp_path):
    a = _deck_file(tmp_path / "a.yaml", "a", "Drugs", ["Opioids"])
    b = _deck_file(tmp_path / "b.yaml", "b", "Drugs::opioids")
    assert [e.split(": error: ")[0] for e in _package_errors([a, b])] == [f"{b}:3:9"]


def test_decks_sharing_a_parent_spelled_alike_are_no_clash(tmp_path):
    a = _deck_file(tmp_path / "a.yaml", "a", "Pharmacology", ["Opioids::Agonists", "Opioids::Antagonists"])
    b = _deck_file(tmp_path / "b.yaml", "b", "Pharmacology::Opioids::Partial")
    c = _deck_file(tmp_path / "c.yaml", "c", "Microbiology")
    assert _package_errors([a, b, c]) == []


@pytest.mark.parametrize(
    ("written", "anki_name", "why"),
    [
        ("Cafe\u0301", "Caf\u00e9", "Anki stores deck names in Unicode NFC"),
        ("A\tB", "AB", "Anki removes tabs, line breaks and other control characters"),
        ("Line\nbreak", "Linebreak", "Anki removes tabs, line breaks and other control characters"),
        ("A:::B", "A::B", "Anki removes `:` from either end of each part between `::`"),
        (
            "Pharma::Opioids:",
            "Pharma::Opioids",
            "Anki removes `:` from either end of each part between `::`",
        ),
    ],
)
def test_a_name_anki_would_rename_is_an_error_naming_the_new_name(tmp_path, anki, written, anki_name, why):
    deck = _deck_file(tmp_path / "deck.yaml", "d", written, [written])
    shown = printable(names.shown(written))
    errors = _errors([deck])
    assert errors[0].startswith(
        f"{deck}:3:9: error: deck name `{shown}`: Anki would rename the deck `{anki_name}` "
    )
    assert errors[1].startswith(
        f"{deck}:11:14: error: `subdeck` `{shown}`: Anki would rename the deck `{shown}::"
    )
    assert all(why in e for e in errors) and len(errors) == 2
    col = anki()
    col.import_package(_package_with_names(tmp_path, [[written, written]]))
    assert _card_decks(col) == [anki_name, f"{anki_name}::{anki_name}"]


@pytest.mark.parametrize("written", ["A::::B", "::A", "A::", "A:: \u3000 ::B"])
def test_an_empty_part_is_an_error_naming_the_blank_deck_anki_would_make(tmp_path, anki, written):
    deck = _deck_file(tmp_path / "deck.yaml", "d", written)
    col = anki()
    col.import_package(_package_with_names(tmp_path, [[written]]))
    made = _card_decks(col)[0]
    assert "blank" in made
    assert _errors([deck]) == [
        f"{deck}:3:9: error: deck name `{written}` has an empty part between `::` (Anki would name the deck `{made}`)"
    ]


@pytest.mark.parametrize(
    "written",
    [" Drugs :: Opioids ", "Drugs\u00a0::\u3000Opioids", 'Say "hi"', "Zero\u200bwidth", "Ünïcode::Ελληνικά"],
)
def test_names_factdeck_accepts_are_the_names_anki_keeps(tmp_path, anki, written):
    """factdeck trims each part as Anki does; what it writes Anki keeps as it is."""
    deck = _deck_file(tmp_path / "deck.yaml", "d", written, ["  Sub  "])
    result = build([str(deck)], output=tmp_path / "out.apkg", now=T0)
    assert not result.errors
    written_name = result.reports[0].deck.deck.name
    col = anki()
    col.import_package(tmp_path / "out.apkg")
    assert _card_decks(col) == [written_name, f"{written_name}::Sub"]
    assert written_name == names.anki_name(written)


@pytest.mark.parametrize("written", ["Default", "default", "DEFAULT::Pharmacology"])
def test_anki_s_own_default_deck_at_any_case_is_an_error(tmp_path, anki, written):
    deck = _deck_file(tmp_path / "deck.yaml", "d", written)
    errors = _errors([deck])
    assert len(errors) == 1 and errors[0].startswith(f"{deck}:3:9: error: deck name `{written}` ")
    assert "Anki's own deck Default (deck 1, in every collection)" in errors[0]
    col = anki()
    col.import_package(_package_with_names(tmp_path, [[written]]))
    (made,) = _card_decks(col)
    top_id = col.col.decks.id_for_name(made.split("::")[0])
    assert top_id == 1 or made == f"{written}_"  # merged into deck 1 (inside it), or renamed


def test_each_subdeck_spelling_is_reported_once_however_many_notes_use_it(tmp_path):
    deck = _deck_file(tmp_path / "deck.yaml", "d", "D", ["X", "x", "x", "x", "A\tB", "A\tB"])
    assert [e.split(": error: ")[0] for e in _errors([deck])] == [f"{deck}:15:14", f"{deck}:27:14"]


def test_importing_a_package_with_cards_in_anki_s_default_deck_gives_decks_that_build(tmp_path, anki, run):
    from anki.collection import ExportAnkiPackageOptions

    c = anki().col
    for deck, front in (
        (1, "In Default"),
        (c.decks.id("Default::Sub"), "In Sub"),
        (c.decks.id("Other"), "x"),
    ):
        note = c.new_note(c.models.by_name("Basic"))
        note["Front"], note["Back"] = front, "a"
        c.add_note(note, deck)
    package = tmp_path / "biology.apkg"
    c.export_anki_package(out_path=str(package), options=ExportAnkiPackageOptions(), limit=None)
    result = run("import", package, "-o", tmp_path / "decks")
    assert result.exit_code == 0, result.output
    assert "go to a deck named 'biology' (biology.yaml)" in result.output
    built = build([str(tmp_path / "decks")], output=tmp_path / "rebuilt.apkg", now=T0)
    assert not built.errors
    col = anki()
    col.import_package(tmp_path / "rebuilt.apkg")
    assert sorted(col.col.decks.name(card.did) for card in col.cards()) == [
        "Other",
        "biology",
        "biology::Sub",
    ]


@pytest.mark.parametrize("pieces", [2, 3])
def test_a_subdeck_clash_across_the_pieces_of_a_large_file_is_the_one_pass_reads_error(tmp_path, pieces):
    from factdeck import build as pipeline
    from factdeck import shards

    subs = ["Opioids", "", "A\tB", "", "", "", "", "", "opioids", "A\tB", "Opioids", "opioids"]
    path = _deck_file(tmp_path / "deck.yaml", "d", "Drugs", subs)
    text = path.read_text(encoding="utf-8")
    fast, fast_diags = shards.compile_file(str(path), text, pieces)
    plain, plain_diags = pipeline.compile_one_pass(str(path), text)
    assert [d.format() for d in fast_diags] == [d.format() for d in plain_diags]
    assert [(d.line, d.message.split(":")[0]) for d in plain_diags] == [
        (18, "`subdeck` `A\tB`"),
        (37, "`subdeck` `opioids`"),
    ]
    assert fast is not None and plain is not None and fast.deck == plain.deck
