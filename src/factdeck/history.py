"""What factdeck has shipped of each note: short hashes of every version of every field and tag.

`factdeck sync` tells a learner's own edit from an older version of the deck by looking the
field up here: a field that equals something factdeck once shipped was not edited by the user.
Only short hashes are kept (8 hex digits, a 1 in 4 billion chance that an edit looks shipped),
so the lock grows by a few bytes per changed field per release.

The lock keeps a note's history at the end of its line, positionally by the fields of its
note type (``basic:3f2a…/9c1d…,07be…/…;tags``); a package keeps only the versions before the
current one (most notes have none), by field name, in a table Anki's importer ignores.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

HASH_LENGTH = 8
_HASH = re.compile(r"[0-9a-f]{8}\Z")
_GROUP = r"[0-9a-f]{8}(?:,[0-9a-f]{8})*"
_TOKEN = re.compile(rf"(\?)?([a-z0-9][a-z0-9-]*):({_GROUP}(?:/{_GROUP})*)(?:;((?:{_GROUP})?))?\Z")
MAX_VERSIONS = 10_000  # per field; more is a damaged or hostile file, not a deck's history


_EMPTY_BLAKE2B = hashlib.blake2b(digest_size=HASH_LENGTH // 2)


def short_hash(data: bytes) -> str:
    """``blake2b(data, digest_size=4).hexdigest()``, from a copy of an empty hasher: half the
    time of building one from its arguments (a first build hashes every field of every note)."""
    hasher = _EMPTY_BLAKE2B.copy()
    hasher.update(data)
    return hasher.hexdigest()


def field_hash(text: str) -> str:
    """The short hash of a field's text; NFC first, because Anki normalises what it stores."""
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return short_hash(text.encode())


@functools.lru_cache(maxsize=4096)
def tag_hash(tag: str) -> str:
    """The short hash of a tag; case-insensitive, as Anki's tags are (decks repeat their tags)."""
    return short_hash(tag.casefold().encode())


@dataclass(frozen=True)
class NoteHistory:
    """Every version of a note factdeck has shipped, field by field, oldest first."""

    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # field name -> hashes
    tags: tuple[str, ...] = ()  # hashes of every tag ever shipped on the note
    unknown: bool = False  # an earlier version was shipped whose fields nobody recorded

    def shipped(self, name: str) -> tuple[str, ...]:
        return self.fields.get(name, ())

    def with_version(self, fields: Mapping[str, str], tags: Iterable[str]) -> NoteHistory:
        """This history with one more shipped version added (hashes already known are not repeated)."""
        merged = {}
        for name, text in fields.items():
            known = self.fields.get(name, ())
            digest = field_hash(text)
            merged[name] = known if digest in known else (*known, digest)
        known_tags = list(self.tags)
        for tag in tags:
            digest = tag_hash(tag)
            if digest not in known_tags:
                known_tags.append(digest)
        return NoteHistory(merged, tuple(known_tags), self.unknown)


def current(fields: Mapping[str, str], tags: Iterable[str], unknown: bool = False) -> NoteHistory:
    """The history of a note shipped once, as it is now."""
    return NoteHistory({}, (), unknown).with_version(fields, tags)


# --- in the lock: positional, after the note line ------------------------------------------------


def first_token(notetype_key: str, flds: str, tags: Iterable[str]) -> str:
    """The token of a note shipped once: what most notes of a large first build need, made fast."""
    if not unicodedata.is_normalized("NFC", flds):
        flds = unicodedata.normalize("NFC", flds)
    groups = "/".join([short_hash(f.encode()) for f in flds.split("\x1f")])
    return f"{notetype_key}:{groups}{_tag_group(tuple(tags))}"


@functools.lru_cache(maxsize=4096)
def _tag_group(tags: tuple[str, ...]) -> str:
    """``;hash,hash`` for a tag list (notes of a deck share a few tag lists), or ""."""
    hashes = list(dict.fromkeys(tag_hash(t) for t in tags))
    return f";{','.join(hashes)}" if hashes else ""


def single_version(token: str) -> bool:
    """Whether a token records only one version of each field and no unknown one (no parsing)."""
    return "," not in token.partition(";")[0] and not token.startswith("?")


def lock_token(notetype_key: str, field_names: Iterable[str], history: NoteHistory) -> str:
    groups = "/".join(",".join(history.shipped(name)) for name in field_names)
    tags = f";{','.join(history.tags)}" if history.tags else ""
    return f"{'?' if history.unknown else ''}{notetype_key}:{groups}{tags}"


def token_notetype(token: str) -> str:
    """The note type key a lock token was written for (cheap: no parsing of the hashes)."""
    return token.lstrip("?").partition(":")[0]


def check_token(token: str, fields_of: Mapping[str, tuple[str, ...]]) -> str | None:
    """What is wrong with a lock token, or None; cheap enough for every line of a large lock."""
    match = _TOKEN.match(token)
    if match is None:
        return "malformed history"
    names = fields_of.get(match.group(2))
    if names is None:
        return f"history names note type `{match.group(2)}`, which the lock does not declare"
    count = match.group(3).count("/") + 1
    if count != len(names):
        return f"history has {count} fields, note type `{match.group(2)}` has {len(names)}"
    return None


def parse_token(token: str, fields_of: Mapping[str, tuple[str, ...]]) -> NoteHistory:
    """A lock token back to a history; ``fields_of`` gives each note type key's field names.

    Raises ValueError for anything but a well-formed token of a note type the lock declares.
    """
    match = _TOKEN.match(token)
    if match is None:
        raise ValueError("malformed history")
    unknown, key, groups, tags = match.groups()
    names = fields_of.get(key)
    if names is None:
        raise ValueError(f"history names note type `{key}`, which the lock does not declare")
    parts = groups.split("/")
    if len(parts) != len(names):
        raise ValueError(f"history has {len(parts)} fields, note type `{key}` has {len(names)}")
    fields = {name: _hashes(part, allow_empty=False) for name, part in zip(names, parts)}
    return NoteHistory(fields, _hashes(tags or "", allow_empty=True), unknown is not None)


def _hashes(text: str, allow_empty: bool) -> tuple[str, ...]:
    if not text:
        if allow_empty:
            return ()
        raise ValueError("a field without any shipped version")
    items = text.split(",")
    if len(items) > MAX_VERSIONS or not all(_HASH.match(h) for h in items):
        raise ValueError("malformed history hash")
    return tuple(dict.fromkeys(items))


# --- in a package: only what came before the current version, by field name ----------------------


def package_json(history: NoteHistory, fields: Mapping[str, str], tags: Iterable[str]) -> str | None:
    """The versions before the note's current ``fields`` and ``tags``; None when there are none."""
    now = {name: field_hash(text) for name, text in fields.items()}
    now_tags = {tag_hash(t) for t in tags}
    earlier = {
        name: [h for h in hashes if h != now.get(name)]
        for name, hashes in history.fields.items()
        if any(h != now.get(name) for h in hashes)
    }
    earlier_tags = [h for h in history.tags if h not in now_tags]
    if not earlier and not earlier_tags and not history.unknown:
        return None
    data: dict[str, object] = {"fields": earlier}
    if earlier_tags:
        data["tags"] = earlier_tags
    if history.unknown:
        data["unknown"] = True
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def only_current(token: str, tags: Iterable[str]) -> bool:
    """Whether a lock token holds nothing but the note's current version (no parsing)."""
    groups, _, tag_group = token.partition(";")
    if "," in groups or token.startswith("?"):  # single_version, inlined: every note of a rebuild
        return False
    return (tag_group.count(",") + 1 if tag_group else 0) == _distinct_tags(tuple(tags))


@functools.lru_cache(maxsize=4096)
def _distinct_tags(tags: tuple[str, ...]) -> int:
    """How many tags a list holds, as Anki counts them (ignoring case); notes share a few lists."""
    return len({t.casefold() for t in tags})


def package_row(
    token: str, fields_of: Mapping[str, tuple[str, ...]], flds: str, tags: list[str]
) -> str | None:
    """A lock token as a package row (see package_json); most tokens need no parsing at all."""
    if only_current(token, tags):
        return None
    history = parse_token(token, fields_of)
    names = fields_of[token_notetype(token)]
    return package_json(history, dict(zip(names, flds.split("\x1f"))), tags)


def from_package_json(text: object, fields: Mapping[str, str], tags: Iterable[str]) -> NoteHistory:
    """A package row back to a full history (the current version added); ValueError if damaged."""
    if not isinstance(text, str) or len(text) > 1 << 20:
        raise ValueError("not a history")
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("not a history") from None
    if not isinstance(data, dict) or not isinstance(data.get("fields", {}), dict):
        raise ValueError("not a history")
    earlier: dict[str, tuple[str, ...]] = {}
    for name, hashes in data.get("fields", {}).items():
        earlier[name] = _json_hashes(hashes)
    unknown = data.get("unknown", False)
    if not isinstance(unknown, bool):
        raise ValueError("not a history")
    return NoteHistory(earlier, _json_hashes(data.get("tags", [])), unknown).with_version(fields, tags)


def _json_hashes(value: object) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or len(value) > MAX_VERSIONS
        or not all(isinstance(h, str) and _HASH.match(h) for h in value)
    ):
        raise ValueError("malformed history hash")
    return tuple(dict.fromkeys(value))
