"""`factdeck new`: a first deck file that checks, builds and shows every kind of note."""

from __future__ import annotations

import jsonschema
import yaml

from factdeck import build as pipeline
from factdeck.schema import SCHEMA_URL, deck_schema


def _project(tmp_path):
    """A repository root holding the schema file, like a clone of factdeck."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "factdeck-deck.schema.json").write_text("{}\n")
    return tmp_path


def test_new_writes_a_deck_that_passes_check_and_builds(tmp_path, run):
    result = run("new", "biology", "--dir", tmp_path / "decks")
    assert result.exit_code == 0, result.output
    path = tmp_path / "decks" / "biology.yaml"
    assert f"created {path}" in result.stdout
    assert run("check", path).exit_code == 0
    checked = pipeline.check([str(path)])
    assert checked.diagnostics == []  # not even a warning
    built = pipeline.build([str(path)], output=tmp_path / "x.apkg", now=1700000000)
    assert not built.errors and (tmp_path / "x.apkg").is_file()


def test_new_deck_shows_every_note_type_with_hint_nested_cloze_extra_tags_and_sources(tmp_path, run):
    from factdeck.diagnostics import Collector
    from factdeck.validate import validate
    from factdeck.yamlload import load

    run("new", "biology", "--dir", tmp_path)
    path = str(tmp_path / "biology.yaml")
    out = Collector(path)
    deck = validate(load((tmp_path / "biology.yaml").read_text(), out), path, out)
    assert deck.id == "biology" and deck.name == "Biology"
    assert {note.type for note in deck.notes} == {"basic", "basic-reversed", "cloze"}
    texts = [note.content["text"] for note in deck.notes if note.type == "cloze"]
    assert any(text.count("::") >= 2 and "{{c1::" in text for text in texts)  # a hint
    assert any(
        text.index("{{c2::") < text.rindex("}}}}") for text in texts if text.startswith("{{c1::")
    )  # nested
    assert any("extra" in note.content for note in deck.notes)
    assert any(note.tags for note in deck.notes) and any(note.sources for note in deck.notes)


def test_new_deck_is_valid_against_the_schema_as_an_editor_reads_it(tmp_path, run):
    for deck_id in ("biology", "2024", "true", "no"):
        run("new", deck_id, "--dir", tmp_path)
        path = tmp_path / f"{deck_id}.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator(deck_schema()).validate(data)
        assert data["deck"]["id"] == deck_id  # quoted where YAML would read a number or boolean
        assert pipeline.check([str(path)]).decks[0].deck.id == deck_id


def test_new_points_editors_at_the_repository_schema_by_relative_path(tmp_path, run):
    root = _project(tmp_path)
    run("new", "biology", "--dir", root / "decks" / "science")
    first = (root / "decks" / "science" / "biology.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schema/factdeck-deck.schema.json"


def test_new_points_editors_at_the_published_schema_outside_a_factdeck_repository(tmp_path, run):
    (tmp_path / ".git").mkdir()
    run("new", "biology", "--dir", tmp_path / "decks")
    first = (tmp_path / "decks" / "biology.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema={SCHEMA_URL}"
    assert (
        SCHEMA_URL
        == "https://raw.githubusercontent.com/factdeck/factdeck/main/schema/factdeck-deck.schema.json"
    )


def test_new_defaults_to_the_decks_folder_of_the_current_directory(tmp_path, run, monkeypatch):
    monkeypatch.chdir(_project(tmp_path))
    result = run("new", "biology")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "decks" / "biology.yaml").read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schema/factdeck-deck.schema.json\n")


def test_new_refuses_to_overwrite_an_existing_file(tmp_path, run):
    path = tmp_path / "biology.yaml"
    path.write_text("my work\n", encoding="utf-8")
    result = run("new", "biology", "--dir", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}: error: file already exists")
    assert path.read_text(encoding="utf-8") == "my work\n"


def test_new_reports_a_folder_it_cannot_create(tmp_path, run):
    (tmp_path / "file").write_text("x")
    result = run("new", "biology", "--dir", tmp_path / "file" / "decks")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{tmp_path / 'file' / 'decks'}: error: cannot create the folder")


def test_new_rejects_an_invalid_deck_id_as_a_usage_error(tmp_path, run):
    for bad in ("Biology", "bio_logy", "-bio", "", "a" * 101, "bio logy"):
        result = run("new", "--dir", tmp_path, "--", bad)
        assert result.exit_code == 2, bad
        assert "is not a valid deck id" in result.stderr
    assert list(tmp_path.iterdir()) == []


def _uncommented(text: str) -> str:
    """The deck with its commented custom note type example switched on."""
    lines, out, on = text.split("\n"), [], False
    for line in lines:
        stripped = line.lstrip()
        if stripped in ("# notetypes:", "# - id: vocab-example"):
            on = True
        elif on and not stripped.startswith("# "):
            on = False
        out.append(line.replace("# ", "", 1) if on else line)
    return "\n".join(out)


def test_new_deck_s_commented_custom_note_type_builds_when_uncommented(tmp_path, run, anki):
    run("new", "french", "--dir", tmp_path)
    path = tmp_path / "french.yaml"
    path.write_text(_uncommented(path.read_text(encoding="utf-8")), encoding="utf-8")
    assert "\nnotetypes:\n  vocab:" in path.read_text()
    checked = pipeline.check([str(path)])
    assert checked.diagnostics == [], [d.format() for d in checked.diagnostics]
    built = pipeline.build([str(path)], output=tmp_path / "x.apkg", now=1700000000)
    assert not built.errors
    note = next(n for n in built.reports[0].deck.notes if n.id == "vocab-example")
    assert note.notetype.name == "Vocabulary" and note.ords == [0, 1] and note.subdeck == "Vocabulary"
    jsonschema.Draft202012Validator(deck_schema()).validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    col = anki()
    col.import_package(tmp_path / "x.apkg")
    assert {
        col.col.decks.name(c.did) for c in col.cards() if c.note().note_type()["name"] == "Vocabulary"
    } == {"French::Vocabulary"}
