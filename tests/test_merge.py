"""The pure three-way merge of `factdeck sync` (merge.py) and the histories it reads (history.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from factdeck import history
from factdeck.history import NoteHistory, field_hash, tag_hash
from factdeck.merge import CONFLICT_TAG, REMOVED_TAG, merge_field, merge_note, merge_tags


def _history(**versions: list[str]) -> NoteHistory:
    return NoteHistory({name: tuple(field_hash(v) for v in texts) for name, texts in versions.items()})


def test_an_unedited_field_takes_the_new_text_whichever_version_it_holds():
    h = _history(Back=["v1", "v2", "v3"])
    for theirs in ("v1", "v2"):
        merged = merge_field("Back", theirs, "v3", h)
        assert (merged.outcome, merged.value, merged.changes) == ("updated", "v3", True)


def test_an_edited_field_stays_when_the_deck_did_not_change_it():
    merged = merge_field("Extra", "my mnemonic", "shipped", _history(Extra=["shipped"]))
    assert (merged.outcome, merged.value, merged.changes) == ("kept", "my mnemonic", False)


def test_an_edited_field_the_deck_also_changed_is_a_conflict_that_keeps_the_edit():
    h = _history(Back=["v1", "v2"])
    merged = merge_field("Back", "mine", "v2", h)
    assert (merged.outcome, merged.value, merged.ours, merged.changes) == ("conflict", "mine", "v2", False)
    assert merge_field("Back", "mine", "v2", h, prefer="ours").value == "v2"
    assert merge_field("Back", "mine", "v2", h, prefer="theirs").value == "mine"


def test_what_the_last_sync_recorded_is_the_base():
    h = _history(Back=["v1", "v2"])
    assert merge_field("Back", "mine", "v2", h, seen=field_hash("v2")).outcome == "kept"
    assert merge_field("Back", "mine", "v3", h, seen=field_hash("v2")).outcome == "conflict"
    # a version the maintainer synced without building it counts as theirs being unedited
    assert merge_field("Back", "draft", "v3", h, seen=field_hash("draft")).outcome == "updated"


def test_an_unknown_earlier_version_makes_any_difference_a_conflict():
    h = NoteHistory({"Back": (field_hash("now"),)}, unknown=True)
    assert merge_field("Back", "older or mine", "now", h).outcome == "conflict"
    assert merge_field("Back", "now", "now", h).outcome == "same"


def test_a_field_the_note_type_gains_is_filled():
    merged = merge_field("Mnemonic", "", "new text", _history(Mnemonic=["new text"]), gained=True)
    assert (merged.outcome, merged.value) == ("updated", "new text")


def test_text_anki_normalised_to_nfc_counts_as_unedited():
    decomposed, composed = "Re\u0301sume\u0301", "Résumé"
    merged = merge_field("Back", composed, decomposed, _history(Back=[decomposed]))
    assert merged.outcome == "same"


def test_a_conflicting_note_is_tagged_once_and_a_settled_one_untagged():
    h = _history(Front=["q"], Back=["v1", "v2"])
    first = merge_note({"Front": "q", "Back": "mine"}, {"Front": "q", "Back": "v2"}, ["deck"], ["deck"], h)
    assert first.tags == ("deck", CONFLICT_TAG) and first.tags_changed
    again = merge_note({"Front": "q", "Back": "mine"}, {"Front": "q", "Back": "v2"}, first.tags, ["deck"], h)
    assert again.tags == first.tags and not again.tags_changed and again.conflicts
    settled = merge_note(
        {"Front": "q", "Back": "mine"}, {"Front": "q", "Back": "v2"}, first.tags, ["deck"], h, prefer="ours"
    )
    assert settled.tags == ("deck",) and settled.fields[1].value == "v2"


def test_a_note_back_upstream_loses_the_removed_tag():
    h = _history(Front=["q"])
    merged = merge_note({"Front": "q"}, {"Front": "q"}, ["deck", REMOVED_TAG], ["deck"], h)
    assert merged.tags == ("deck",)


def test_tags_merge_as_sets_keeping_the_learners_own():
    shipped = [tag_hash(t) for t in ("deck", "old", "kept")]
    assert merge_tags(["deck", "old", "mine", "Kept"], ["deck", "kept", "new"], shipped) == [
        "deck",
        "mine",
        "Kept",
        "new",
    ]


def test_lock_tokens_round_trip_and_reject_damage():
    h = history.current({"Front": "q", "Back": "a"}, ["x", "y"]).with_version(
        {"Front": "q", "Back": "b"}, ["x"]
    )
    token = history.lock_token("basic", ("Front", "Back"), h)
    assert token.count(",") == 2  # Back's two versions, then the two tags
    fields_of = {"basic": ("Front", "Back")}
    assert history.check_token(token, fields_of) is None
    assert history.parse_token(token, fields_of) == h
    assert history.first_token("basic", "q\x1fa", ["x", "y"]) == history.lock_token(
        "basic", ("Front", "Back"), history.current({"Front": "q", "Back": "a"}, ["x", "y"])
    )
    for bad in ("basic:", "basic:1234567", "basic:12345678", "Basic:12345678/12345678", "basic:1/2;;"):
        assert history.check_token(bad, fields_of) is not None, bad


def test_a_package_row_holds_only_earlier_versions():
    h = history.current({"Front": "q", "Back": "a"}, ["x"]).with_version({"Front": "q", "Back": "b"}, ["x"])
    row = history.package_json(h, {"Front": "q", "Back": "b"}, ["x"])
    assert row == '{"fields":{"Back":["' + field_hash("a") + '"]}}'
    assert history.from_package_json(row, {"Front": "q", "Back": "b"}, ["x"]) == h
    assert history.package_json(history.current({"Front": "q"}, ["x"]), {"Front": "q"}, ["x"]) is None


# --- properties ----------------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
versions = st.lists(texts, min_size=1, max_size=4, unique=True)


@given(versions, texts, st.sampled_from([None, "ours", "theirs"]), st.data())
def test_merging_never_loses_an_edit_and_always_delivers_to_an_unedited_field(shipped, theirs, prefer, data):
    ours = data.draw(st.sampled_from(shipped))
    h = _history(F=shipped)
    merged = merge_field("F", theirs, ours, h, prefer=prefer)
    if field_hash(theirs) in h.shipped("F"):
        assert merged.value == ours  # not the learner's: the new text arrives
    elif prefer != "ours":
        assert merged.value == theirs  # the learner's edit is never lost
    if merged.outcome == "kept":
        assert len(shipped) == 1
    # a second merge, with what the first one recorded, changes nothing more
    seen = merged.seen if merged.seen is not None else None
    second = merge_field("F", merged.value, ours, h, seen=seen, prefer=prefer)
    assert not second.changes
    assert second.outcome in ("same", "kept", "conflict")


tag = st.sampled_from(["a", "B", "b", "c", "deck", "drug::x", "mine", "Mine"])


@given(st.lists(tag, unique=True), st.lists(tag, unique=True), st.lists(tag))
def test_tag_merging_keeps_the_decks_tags_and_the_learners_own_and_is_idempotent(theirs, ours, once):
    shipped = [tag_hash(t) for t in [*once, *ours]]
    merged = merge_tags(theirs, ours, shipped)
    folded = {t.casefold() for t in merged}
    assert {t.casefold() for t in ours} <= folded
    assert {t.casefold() for t in theirs if tag_hash(t) not in shipped} <= folded
    assert not {t.casefold() for t in once if t.casefold() not in {o.casefold() for o in ours}} & (
        folded - {t.casefold() for t in theirs if tag_hash(t) not in shipped}
    )
    assert merge_tags(merged, ours, shipped) == merged
    assert len(folded) == len(merged)  # no tag twice, whatever its case


field_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x1f"), max_size=8)


@given(st.lists(st.tuples(field_text, field_text, st.lists(tag, max_size=3)), min_size=1, max_size=6))
def test_every_version_a_lock_records_can_be_read_back_in_order(versions):
    """Histories built version by version, through lock tokens, hold every version, oldest first."""
    fields_of = {"basic": ("Front", "Back")}
    token = history.first_token("basic", f"{versions[0][0]}\x1f{versions[0][1]}", versions[0][2])
    for front, back, tags in versions[1:]:
        parsed = history.parse_token(token, fields_of)
        token = history.lock_token(
            "basic", ("Front", "Back"), parsed.with_version({"Front": front, "Back": back}, tags)
        )
        assert history.check_token(token, fields_of) is None
    result = history.parse_token(token, fields_of)
    for index, name in enumerate(("Front", "Back")):
        expected = list(dict.fromkeys(field_hash(v[index]) for v in versions))
        assert list(result.shipped(name)) == expected
    assert set(result.tags) == {tag_hash(t) for v in versions for t in v[2]}
    row = history.package_json(result, {"Front": versions[-1][0], "Back": versions[-1][1]}, versions[-1][2])
    if row is not None:
        back = history.from_package_json(
            row, {"Front": versions[-1][0], "Back": versions[-1][1]}, versions[-1][2]
        )
        assert {n: set(h) for n, h in back.fields.items()} == {n: set(h) for n, h in result.fields.items()}
