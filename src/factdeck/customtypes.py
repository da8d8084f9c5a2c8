"""Note types declared in YAML (`notetypes:`), checked the way Anki checks them, with positions.

A deck file may declare note types itself and `include:` note-type files: YAML files holding
only `id`, `notetypes` (and `version`), so that several decks share one declaration. A note
type's Anki ID derives from the declaring file's id (the deck id, or the note-type file's
`id`) and the type's key, never from its content, unless `id:` pins it (see
``notetypes.derived_id``). Every template is parsed with Anki's own rules
(``templates.py``); what Anki would refuse, or would turn into a card type that never makes
a card, is an error here.

Reading an included file or a `css-file` is the only I/O: both resolve against the folder of
the file that names them.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from . import css as stylesheet
from . import templatemedia
from . import templates as tpl
from .diagnostics import Collector, Diagnostic, did_you_mean
from .notetypes import BUILT_IN_IDS, BUILT_IN_NAMES, BY_KEY, ID_KEY, SOURCES_KEY, Field, NoteType, derived_id
from .terminal import printable
from .yamlload import YMap, decode, load, value_position, value_positions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .validate import _Checker

Pos = tuple[int, int]

NOTETYPE_KEYS = (
    "name",
    "kind",
    "id",
    "fields",
    "sources-field",
    "id-field",
    "sort-field",
    "templates",
    "css",
    "css-file",
)
FIELD_KEYS = ("name", "format")
TEMPLATE_KEYS = ("name", "front", "back")
FILE_KEYS = ("version", "id", "notetypes")
KINDS = ("standard", "cloze")
FORMATS = ("markdown", "html", "text")
MAX_NOTETYPE_ID = 2**63 - 1
_BAD_FIELD_CHARS = re.compile(r'[:{}"]')
# Anki keeps these inside a name, but a name holding them cannot be shown on one line
_LINE_BREAK_OR_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
DEFAULT_CSS = (
    ".card {\n  font-family: arial;\n  font-size: 20px;\n  text-align: center;\n"
    "  color: black;\n  background-color: white;\n}\n"
)  # Anki's own default for a new note type
DEFAULT_CLOZE_CSS = (
    DEFAULT_CSS
    + ".cloze {\n  font-weight: bold;\n  color: blue;\n}\n.nightMode .cloze {\n  color: lightblue;\n}\n"
)


@dataclass
class Declared:
    """The note types one file makes available, with where each was declared."""

    types: dict[str, NoteType] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # key -> "path:line"
    unusable: set[str] = field(default_factory=set)  # declared with errors: notes using them say nothing more


def is_notetype_file(tree: Any) -> bool:
    """A file with `notetypes` and neither `deck` nor `notes` is a note-type file, not a deck."""
    return type(tree) is YMap and "notetypes" in tree and "deck" not in tree and "notes" not in tree


def check_notetype_file(check: _Checker, tree: YMap, path: str) -> Declared:
    """Validate a note-type file on its own (as `factdeck check` does for every file it finds)."""
    check.keys(tree, FILE_KEYS, "a note-type file")
    if "version" in tree and tree["version"] != "1":
        check.out.error(
            tree.val_pos["version"],
            "version",
            f"unsupported format version `{tree['version']}`: this factdeck reads version 1",
        )
    namespace = None
    if "id" not in tree:
        check.out.error(
            tree.pos,
            "missing-key",
            "a note-type file is missing required key `id`: the Anki IDs of its note types derive "
            "from it, so choose one that never changes, like `pharmacology-notetypes`",
        )
    else:
        namespace = check.ident(tree["id"], tree.val_pos["id"], "note-type file id")
    return declare(check, tree["notetypes"], tree.val_pos["notetypes"], namespace, path, included=True)


def declare(
    check: _Checker,
    value: Any,
    pos: Pos,
    namespace: str | None,
    path: str,
    media: str = "",
    missing: Collection[str] = (),
    included: bool = False,
) -> Declared:
    """The `notetypes:` mapping of one file. ``namespace`` None: report, but derive no IDs.
    ``media``, ``missing``: the deck's media folder (relative to ``path``), where templates find
    files by name, and its `missing-media`; ``included``: a note-type file, used by decks unknown here."""
    found = Declared()
    node = check.mapping(value, pos, "`notetypes`")
    if node is None:
        return found
    names: dict[str, str] = {}
    folder = os.path.dirname(os.path.abspath(path))
    bundler = templatemedia.Bundler(folder, os.path.join(folder, media) if media else None, missing, included)
    for key, body in node.items():
        kpos = node.key_pos[key]
        errors_before = len(check.out.items)
        ident = check.ident(key, kpos, "note type key")
        if ident is not None and ident in BY_KEY:
            check.out.error(
                kpos,
                "notetype-key",
                f"note type key `{key}` is factdeck's built-in type; choose another key",
            )
        nt = _notetype(check, key, body, node.val_pos[key], namespace, folder, bundler)
        if nt is not None:
            other = names.get(nt.name.casefold())
            if other is not None:
                check.out.error(
                    kpos,
                    "notetype-name",
                    f"note types `{other}` and `{key}` have the same name `{nt.name}`; Anki needs different names",
                )
        if nt is None or _has_errors(check.out, errors_before):
            found.unusable.add(key)
            continue
        names[nt.name.casefold()] = key
        found.types[key] = nt
        found.where[key] = f"{path}:{kpos[0]}"
    return found


def _has_errors(out: Collector, since: int) -> bool:
    return any(d.severity == "error" for d in out.items[since:])


def _notetype(
    check: _Checker,
    key: str,
    value: Any,
    pos: Pos,
    namespace: str | None,
    folder: str,
    bundler: templatemedia.Bundler | None = None,
) -> NoteType | None:
    out = check.out
    what = f"note type `{key}`"
    node = check.mapping(value, pos, what)
    if node is None:
        return None
    check.keys(node, NOTETYPE_KEYS, what)
    check.required(node, ("fields", "templates"), what)
    name = key
    if "name" in node:
        name = check.text(node["name"], node.val_pos["name"], f"`name` of {what}", required=True) or key
        if '"' in name:
            out.error(
                node.val_pos["name"], "notetype-name", f'`name` of {what} contains `"`, which Anki removes'
            )
        elif name != name.strip():
            out.error(node.val_pos["name"], "notetype-name", f"`name` of {what} starts or ends with a space")
    if name in BUILT_IN_NAMES:
        out.error(
            node.val_pos.get("name", pos),
            "notetype-name",
            f"{what} would be called `{name}`, the name of a factdeck built-in type; choose another name",
        )
    kind = "standard"
    if "kind" in node:
        kind = (
            check.text(node["kind"], node.val_pos["kind"], f"`kind` of {what}", required=True) or "standard"
        )
        if kind not in KINDS:
            out.error(
                node.val_pos["kind"],
                "notetype-kind",
                f"`kind` of {what} must be `standard` or `cloze`, not `{kind}`{did_you_mean(kind, KINDS)}",
            )
            return None
    anki_id = _anki_id(check, node, what, namespace, key)

    fields = _fields(check, node, what) if "fields" in node else []
    field_names = tuple(f.name for f in fields)
    special: dict[str, str] = {}
    for option, fill in (("sources-field", SOURCES_KEY), ("id-field", ID_KEY)):
        if option not in node:
            continue
        chosen = check.text(node[option], node.val_pos[option], f"`{option}` of {what}", required=True)
        if chosen is None:
            continue
        if chosen not in field_names:
            out.error(
                node.val_pos[option],
                "unknown-field",
                f"`{option}` of {what} names `{chosen}`, which is not one of its fields"
                f"{did_you_mean(chosen, field_names)}",
            )
        elif chosen in special:
            out.error(
                node.val_pos[option],
                "notetype-field",
                f"`sources-field` and `id-field` of {what} name the same field `{chosen}`",
            )
        else:
            special[chosen] = fill
    sort_field = 0
    if "sort-field" in node:
        chosen = check.text(
            node["sort-field"], node.val_pos["sort-field"], f"`sort-field` of {what}", required=True
        )
        if chosen is not None:
            if chosen in field_names:
                sort_field = field_names.index(chosen)
            else:
                out.error(
                    node.val_pos["sort-field"],
                    "unknown-field",
                    f"`sort-field` of {what} names `{chosen}`, which is not one of its fields"
                    f"{did_you_mean(chosen, field_names)}",
                )
    fields = [
        Field(f.name, special[f.name], "html" if special[f.name] == SOURCES_KEY else "text")
        if f.name in special
        else f
        for f in fields
    ]

    cards = _templates(check, node, what, kind, field_names) if "templates" in node else None
    css = _css(check, node, what, folder, kind)
    if not fields or not cards or css is None or anki_id is None:
        return None
    media: dict[str, str] = {}
    if bundler is not None:
        cards, css, media = _bundle_media(check, node, what, bundler, cards, css)
    return NoteType(
        key=key,
        id=anki_id,
        name=name,
        fields=tuple(fields),
        templates=tuple((t_name, front, back) for t_name, front, back, _ in cards),
        css=css,
        cloze=kind == "cloze",
        sort_field=sort_field,
        custom=True,
        fronts=tuple(parsed for _, _, _, parsed in cards),
        media=tuple(sorted(media.items())),
    )


Card = tuple[str, str, str, Any]  # a template: name, front, back, parsed front


def _bundle_media(
    check: _Checker, node: YMap, what: str, bundler: templatemedia.Bundler, cards: list[Card], css: str
) -> tuple[list[Card], str, dict[str, str]]:
    """The templates and CSS with the files they name bundled (see ``templatemedia``), and
    those files; each reference that cannot be bundled is an error where it is written."""
    bundler.media = {}
    out = check.out
    rewritten: list[Card] = []
    for entry, (t_name, front, back, parsed) in zip(node["templates"], cards):
        sides = {}
        for side, text in (("front", front), ("back", back)):
            sides[side], problems = bundler.rewrite(text, templatemedia.template_references(text))
            at = cast("YMap", entry).val_pos[side]
            where = value_positions(check.out.source, at, text, (offset for offset, _ in problems))
            for offset, problem in problems:
                out.error(
                    where.get(offset, at),
                    "template-media",
                    f"`{side}` of template `{t_name}` of {what}: {problem}",
                )
        new_front = sides["front"]
        rewritten.append(
            (t_name, new_front, sides["back"], tpl.parse(new_front) if new_front != front else parsed)
        )
    new_css, problems = bundler.rewrite(css, templatemedia.css_references(css))
    if "css-file" in node:
        shown = os.path.join(os.path.dirname(check.out.path), str(node["css-file"]))
        for (_, problem), (line, col) in zip(problems, stylesheet.positions(css, [o for o, _ in problems])):
            out.items.append(
                Diagnostic(shown, line, col, "template-media", f"`css-file` of {what}: {problem}")
            )
    elif problems:
        at = node.val_pos["css"]
        where = value_positions(check.out.source, at, css, (offset for offset, _ in problems))
        for offset, problem in problems:
            out.error(where.get(offset, at), "template-media", f"`css` of {what}: {problem}")
    return rewritten, new_css, bundler.media


def _anki_id(check: _Checker, node: YMap, what: str, namespace: str | None, key: str) -> int | None:
    if "id" not in node:
        return derived_id(namespace, key) if namespace else None
    raw = check.text(node["id"], node.val_pos["id"], f"`id` of {what}", required=True)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_NOTETYPE_ID:
        check.out.error(
            node.val_pos["id"],
            "notetype-id",
            f"`id` of {what} must be a whole number from 1 to {MAX_NOTETYPE_ID} (Anki's note type ID)",
        )
        return None
    if int(raw) in BUILT_IN_IDS:
        check.out.error(
            node.val_pos["id"], "notetype-id", f"`id` of {what} is the ID of a factdeck built-in type"
        )
        return None
    return int(raw)


def _fields(check: _Checker, node: YMap, what: str) -> list[Field]:
    items = check.listing(node["fields"], node.val_pos["fields"], f"`fields` of {what}")
    if items is None:
        return []
    if not items:
        check.out.error(node.val_pos["fields"], "notetype-fields", f"{what} needs at least one field")
    out: list[Field] = []
    seen: dict[str, str] = {}
    for item, ipos in zip(items, items.item_pos):
        fmt = "markdown"
        if type(item) is YMap:
            check.keys(item, FIELD_KEYS, f"a field of {what}")
            check.required(item, ("name",), f"a field of {what}")
            if "name" not in item:
                continue
            if "format" in item:
                fmt = (
                    check.text(item["format"], item.val_pos["format"], "`format` of a field", required=True)
                    or fmt
                )
                if fmt not in FORMATS:
                    check.out.error(
                        item.val_pos["format"],
                        "field-format",
                        f"field `format` must be markdown, html or text, not `{fmt}`{did_you_mean(fmt, FORMATS)}",
                    )
                    fmt = "markdown"
            ipos = item.val_pos["name"]
            item = item["name"]
        name = check.text(item, ipos, f"a field name of {what}", required=True)
        if name is None:
            continue
        problem = field_name_problem(name)
        if problem:
            check.out.error(ipos, "field-name", f"field name `{name}` of {what} {problem}")
            continue
        folded = name.casefold()
        if folded in seen:
            check.out.error(
                ipos,
                "duplicate-field",
                f"{what} has two fields named `{seen[folded]}`"
                + (f" and `{name}`" if seen[folded] != name else "")
                + " (Anki ignores case in field names)",
            )
            continue
        seen[folded] = name
        if name in tpl.SPECIAL_FIELDS:
            check.out.warning(
                ipos,
                "field-name",
                f"field `{name}` of {what} hides Anki's special field `{{{{{name}}}}}` in its templates",
            )
        out.append(Field(name, name, fmt))
    return out


def field_name_problem(name: str) -> str | None:
    """Why Anki would refuse or silently change a field name, or None."""
    if _BAD_FIELD_CHARS.search(name):
        return 'contains `:`, `{`, `}` or `"`, which Anki does not allow in field names'
    bad = _LINE_BREAK_OR_CONTROL.search(name)
    if bad:
        return f"contains {printable(bad.group())}, a line break or control character: a field name is one line of text"
    if name[0] in "#/^":
        return "starts with `#`, `/` or `^`, which Anki does not allow"
    if name != name.strip(tpl._WS):
        return "starts or ends with a space"
    if unicodedata.normalize("NFC", name) != name:
        return "is not in Unicode NFC form (Anki would change it); retype it"
    return None


def _templates(
    check: _Checker, node: YMap, what: str, kind: str, field_names: tuple[str, ...]
) -> list[tuple[str, str, str, tpl.Nodes]] | None:
    out = check.out
    items = check.listing(node["templates"], node.val_pos["templates"], f"`templates` of {what}")
    if items is None:
        return None
    if not items:
        out.error(node.val_pos["templates"], "notetype-templates", f"{what} needs at least one template")
        return None
    if kind == "cloze" and len(items) > 1:
        out.error(
            items.item_pos[1],
            "notetype-templates",
            f"{what} is a cloze type: it has exactly one template (each cloze number makes a card)",
        )
    cards: list[tuple[str, str, str, tpl.Nodes]] = []
    names: dict[str, str] = {}
    fronts: list[str] = []
    front_pos: list[Pos] = []
    ok = True
    for index, (item, ipos) in enumerate(zip(items, items.item_pos), 1):
        entry = check.mapping(item, ipos, f"a template of {what}")
        if entry is None:
            ok = False
            continue
        check.keys(entry, TEMPLATE_KEYS, f"a template of {what}")
        check.required(entry, ("front", "back"), f"a template of {what}")
        t_name = f"Card {index}" if kind == "standard" else "Cloze"
        if "name" in entry:
            t_name = (
                check.text(entry["name"], entry.val_pos["name"], f"template name of {what}", required=True)
                or ""
            )
            if '"' in t_name:
                out.error(entry.val_pos["name"], "template-name", f'template name `{t_name}` contains `"`')
        label = f"template `{t_name}` of {what}" if t_name else f"template {index} of {what}"
        if t_name:
            folded = t_name.casefold()
            if folded in names:
                out.error(
                    entry.val_pos.get("name", ipos),
                    "duplicate-template",
                    f"{what} has two templates named `{names[folded]}` (Anki ignores case in template names)",
                )
                ok = False
            names[folded] = t_name
        sides: dict[str, tpl.Nodes] = {}
        texts: dict[str, str] = {}
        unknown = False
        for side in ("front", "back"):
            if side not in entry:
                ok = False
                continue
            text = check.text(entry[side], entry.val_pos[side], f"`{side}` of {label}")
            if text is None:
                ok = False
                continue
            texts[side] = text
            nodes, problems, unknown_here = _side_problems(text, f"`{side}` of {label}", what, field_names)
            unknown |= unknown_here
            at = entry.val_pos[side]
            where = value_positions(check.out.source, at, text, [o for o, _, _ in problems if o is not None])
            for offset, code, message in problems:
                out.error(where.get(offset, at) if offset is not None else at, code, message)
            if problems:
                ok = False
            if nodes is not None:
                sides[side] = nodes
        if "front" not in sides or "back" not in sides or unknown:
            continue
        front, back = sides["front"], sides["back"]
        if kind == "cloze":
            for side, nodes in (("front", front), ("back", back)):
                if not tpl.cloze_fields(nodes):
                    out.error(
                        entry.val_pos[side],
                        "template-cloze",
                        f"`{side}` of {label} has no `{{{{cloze:FIELD}}}}`: a cloze type shows its "
                        "deletions with it on both sides",
                    )
                    ok = False
            if tpl.cloze_fields(front) and not tpl.can_show_gap(front, field_names):
                out.error(
                    entry.val_pos["front"],
                    "template-front",
                    f"`front` of {label} can never show a cloze gap: each of its `{{{{cloze:...}}}}` is "
                    "inside sections that cannot all hold with its field filled (or clozes a special field), so every "
                    "card Anki makes "
                    "would ask nothing",
                )
                ok = False
        else:
            if not tpl.can_show_something(front, field_names):
                out.error(
                    entry.val_pos["front"],
                    "template-front",
                    f"`front` of {label} can never show anything: Anki makes a card only when the "
                    "front shows a field that is not empty",
                )
                ok = False
            for side in ("front", "back"):
                handle = next((t for t in tpl.tokens(texts[side]) if t.kind == "field" and _clozes(t)), None)
                if handle is not None:
                    out.error(
                        _inside(check, entry.val_pos[side], texts[side], handle.offset),
                        "template-cloze",
                        f"`{side}` of {label} uses `{{{{{handle.value}}}}}`, which only a cloze type "
                        "(`kind: cloze`) fills: in a standard type Anki shows nothing for it unless the field "
                        "holds the cloze numbered like the template (c1 on the first), so its cards come out empty",
                    )
                    ok = False
        fronts.append(texts["front"])
        front_pos.append(entry.val_pos["front"])
        cards.append((t_name, texts["front"], texts["back"], front))
    if kind == "standard" and len(cards) == len(fronts):
        same = tpl.duplicate_front(fronts)
        if same is not None:
            out.error(
                front_pos[same[1]],
                "template-front",
                f"templates `{cards[same[0]][0]}` and `{cards[same[1]][0]}` of {what} have the same front; "
                "Anki refuses card types it cannot tell apart",
            )
            ok = False
    return cards if ok else None


def _side_problems(
    text: str, side: str, what: str, field_names: Sequence[str]
) -> tuple[tpl.Nodes | None, list[tuple[int | None, str, str]], bool]:
    """One side of a template, parsed, every located problem Anki would show on its cards
    ((offset of the handle, code, message)), and whether it names a field the type lacks. The
    template is tokenised once, so a side with thousands of wrong handles is not scanned again
    for each."""
    tokens = tpl.tokens(text)
    problems: list[tuple[int | None, str, str]] = []
    nodes: tpl.Nodes | None = None
    try:
        nodes = tpl.parse(text, tokens)
    except tpl.TemplateError as e:
        problems.append((e.offset, "template", f"{side}: {e}"))
    reported: set[str] = set()
    for tok in tokens:
        kind = tok.kind
        if kind == "field":
            ref = tok.value.split(":")[-1]
            if not tok.value:
                problems.append(
                    (
                        tok.offset,
                        "unknown-field",
                        f"{side} has `{{{{}}}}`, which names no field: Anki shows an error on the card",
                    )
                )
                continue
        elif kind == "open" or kind == "negated":
            ref = tok.value
            if ref == "FrontSide" and ref not in field_names:
                problems.append(
                    (
                        tok.offset,
                        "template",
                        f"{side} opens a section on `FrontSide`, which is not a field: Anki shows "
                        "'template has a problem' instead of the card",
                    )
                )
                continue
            if tpl.is_cloze_conditional(ref):
                continue
        else:
            continue
        if not ref or ref in reported or ref in field_names or ref in tpl.SPECIAL_FIELDS:
            continue
        reported.add(ref)
        problems.append(
            (
                tok.offset,
                "unknown-field",
                f"{side} refers to field `{ref}`, which {what} does not have"
                f"{did_you_mean(ref, field_names) or ' (its fields: ' + ', '.join(field_names) + ')'}",
            )
        )
    return nodes, problems, bool(reported)


def _inside(check: _Checker, start: Pos, template: str, offset: int | None) -> Pos:
    """Where ``template[offset]`` is in the file; the template's start when that is unsure."""
    if offset is None:
        return start
    return value_position(check.out.source, start, template, offset) or start


def _clozes(token: tpl.Token) -> bool:
    return token.kind == "field" and "cloze" in token.value.split(":")[:-1]


def _css(check: _Checker, node: YMap, what: str, folder: str, kind: str) -> str | None:
    if "css" in node and "css-file" in node:
        check.out.error(
            node.key_pos["css-file"], "notetype-css", f"{what} has both `css` and `css-file`; keep one"
        )
        return None
    if "css" in node:
        css = check.text(node["css"], node.val_pos["css"], f"`css` of {what}")
        if css is None:
            return None
        pos = node.val_pos["css"]
        return css if _css_reads_as_written(check, css, f"`css` of {what}", pos, None) else None
    if "css-file" not in node:
        return DEFAULT_CLOZE_CSS if kind == "cloze" else DEFAULT_CSS
    pos = node.val_pos["css-file"]
    rel = check.text(node["css-file"], pos, f"`css-file` of {what}", required=True)
    if rel is None:
        return None
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, rel))
    if os.path.commonpath([path, root]) != root:
        check.out.error(pos, "css-file", f"`css-file` `{rel}` of {what} is outside the folder of this file")
        return None
    try:
        data = _read_regular_file(path)
    except OSError as e:
        check.out.error(
            pos, "css-file", f"`css-file` `{rel}` of {what} cannot be read: {e.strerror} ({path})"
        )
        return None
    try:
        css = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        check.out.error(pos, "css-file", f"`css-file` `{rel}` of {what} is not UTF-8")
        return None
    shown = os.path.join(os.path.dirname(check.out.path), rel)
    return css if _css_reads_as_written(check, css, f"`css-file` `{rel}` of {what}", pos, shown) else None


def _css_reads_as_written(check: _Checker, css: str, what: str, pos: Pos, path: str | None) -> bool:
    """False (after reporting each slip where it is: in the YAML scalar, or at its line and
    column of the CSS file ``path``) when a browser would read ``css`` otherwise than it looks.

    CSS starting with ``css.UNCHECKED`` (what `factdeck import` kept from a package) is a
    warning instead, once: the package's cards look that way in Anki already.
    """
    found = stylesheet.problems(css)
    if not found:
        return True
    if css.startswith(stylesheet.UNCHECKED):
        line = stylesheet.position(css, found[0].offset)[0]
        check.out.warning(
            pos,
            "notetype-css",
            f"{what} starts with `{stylesheet.UNCHECKED}`, so it is kept as written with "
            f"{len(found)} slip{'s' if len(found) > 1 else ''} a browser reads otherwise than it looks; "
            f"the first, at line {line} of the CSS: {found[0].message}",
        )
        return True
    offsets = [problem.offset for problem in found]
    if path is None:
        where = value_positions(check.out.source, pos, css, offsets)
        for problem in found:
            check.out.error(where.get(problem.offset, pos), "notetype-css", f"{what}: {problem.message}")
    else:
        for problem, (line, col) in zip(found, stylesheet.positions(css, offsets)):
            check.out.items.append(Diagnostic(path, line, col, "notetype-css", f"{what}: {problem.message}"))
    return False


def _read_regular_file(path: str) -> bytes:
    """The bytes of a regular file; a folder, FIFO or device is refused before it is opened."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise OSError(errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL, "not a regular file")
    with open(path, "rb") as f:
        return f.read()


def include(check: _Checker, value: Any, pos: Pos, deck_path: str) -> list[tuple[Declared, Pos]]:
    """The note-type files a deck's `include:` names, each validated with its own path."""
    items = check.listing(value, pos, "`include`", hint="; write `include: [notetypes.yaml]`")
    found: list[tuple[Declared, Pos]] = []
    folder = os.path.dirname(os.path.abspath(deck_path))
    seen: set[str] = set()
    for item, ipos in zip(items or [], items.item_pos if items else []):
        rel = check.text(item, ipos, "an included file", required=True)
        if rel is None:
            continue
        path = os.path.normpath(os.path.join(os.path.dirname(deck_path), rel))
        real = os.path.realpath(os.path.join(folder, rel))
        if real in seen:
            check.out.error(ipos, "include", f"`{rel}` is included twice")
            continue
        seen.add(real)
        if real == os.path.realpath(deck_path):
            check.out.error(ipos, "include", "a deck file cannot include itself")
            continue
        try:
            data = _read_regular_file(real)
        except OSError as e:
            check.out.error(ipos, "include", f"included file `{rel}` cannot be read: {e.strerror} ({real})")
            continue
        inner = Collector(path)
        text = inner.source = decode(data, inner)
        tree = load(text, inner) if text is not None else None
        if tree is not None and not is_notetype_file(tree):
            inner.error(
                getattr(tree, "pos", (1, 1)),
                "include",
                f"this file is included by {deck_path} but is not a note-type file "
                "(a file with `id` and `notetypes`, and no `deck` or `notes`)",
            )
            tree = None
        declared = Declared()
        if isinstance(tree, YMap):  # is_notetype_file accepted it, so it is a mapping
            from .validate import _Checker

            declared = check_notetype_file(_Checker(inner), tree, path)
        check.out.items.extend(inner.items)
        if any(d.severity == "error" for d in inner.items):
            check.out.error(ipos, "include", f"included file `{rel}` has errors (reported at its own path)")
        found.append((declared, ipos))
    return found


def merge(own: Declared, included: list[tuple[Declared, Pos]], check: _Checker) -> Declared:
    """The note types a deck can use: its own and its includes', each key declared once."""
    result = Declared(dict(own.types), dict(own.where), set(own.unusable))
    ids: dict[int, str] = {}
    at: dict[str, Pos | None] = dict.fromkeys(own.types)
    for declared, ipos in included:
        result.unusable |= declared.unusable
        for key, nt in declared.types.items():
            if key in result.types or key in own.unusable:
                check.out.error(
                    ipos,
                    "duplicate-notetype",
                    f"note type `{key}` is declared twice: at {result.where.get(key, 'this file')} and "
                    f"{declared.where[key]}",
                )
                result.unusable.add(key)
                result.types.pop(key, None)
                continue
            result.types[key] = nt
            result.where[key] = declared.where[key]
            at[key] = ipos
    names: dict[str, str] = {}
    for key, nt in list(result.types.items()):
        other = ids.get(nt.id)
        if other is not None and other != key:
            check.out.error(
                at.get(key),
                "notetype-id",
                f"note types `{other}` and `{key}` have the same Anki ID {nt.id}",
            )
        ids[nt.id] = key
        clash = names.get(nt.name.casefold())
        if clash is not None and clash != key:
            check.out.error(
                at.get(key),
                "notetype-name",
                f"note types `{clash}` ({result.where[clash]}) and `{key}` ({result.where[key]}) have "
                f"the same name `{nt.name}`; Anki needs different names",
            )
        names[nt.name.casefold()] = key
    return result
