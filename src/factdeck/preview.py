"""`factdeck preview`: a static HTML site showing every card as Anki renders it.

The renderer follows Anki's own (rslib ``template.rs`` and ``cloze.rs``): ``{{Field}}``
replacements with filters applied right to left, ``{{#Field}}``/``{{^Field}}`` sections that
treat a field holding only whitespace, ``<br>`` and ``<div>`` tags as empty, ``{{FrontSide}}``
on the answer, and clozes parsed as a tree so nested ones work. The tests compare its output
with the real Anki library's for every note type.

The site is one self-contained ``index.html`` (inline CSS and JavaScript, no network) plus the
deck's media beside it. Cards travel as JSON and are inserted with ``innerHTML`` one side at a
time, so even a cloze that cuts across tags cannot break the page around it.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .assemble import Built, BuiltDeck
from .notetypes import NoteType
from .output import atomic_write

# --- clozes -------------------------------------------------------------------------------

_CLOZE_TOKEN = re.compile(r"\{\{c(\d+)::|\}\}")
_MAX_CLOZE_DEPTH = 10  # Anki ignores cloze openers nested deeper than this
_MATHJAX = re.compile(r"(\\[(\[])(.*?)(\\[\])])", re.S)
_TAGS = re.compile(r"<!--.*?-->|<.*?>", re.S)


@dataclass
class _Cloze:
    number: int
    nodes: list  # of str and _Cloze
    hint: str | None = None


def _parse_clozes(text: str) -> list:
    """Text and clozes as a tree, the way Anki reads them (hints, nesting, stray ``}}``)."""
    out: list = []
    stack: list[_Cloze] = []

    def add_text(chunk: str) -> None:
        if not chunk:
            return
        if stack:
            cloze = stack[-1]
            if "::" in chunk:
                chunk, cloze.hint = chunk.split("::", 1)
            cloze.nodes.append(chunk)
        else:
            out.append(chunk)

    pos = 0
    for m in _CLOZE_TOKEN.finditer(text):
        if m.group(1) is not None and int(m.group(1)) > 0xFFFF:
            continue  # not a number Anki reads: plain text
        add_text(text[pos : m.start()])
        pos = m.end()
        if m.group(1) is not None:
            if len(stack) < _MAX_CLOZE_DEPTH:
                stack.append(_Cloze(int(m.group(1)), []))
        elif stack:
            cloze = stack.pop()
            (stack[-1].nodes if stack else out).append(cloze)
        else:
            out.append("}}")
    add_text(text[pos:])
    # clozes never closed vanish with their content, as in Anki
    return out


_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def _attribute(text: str) -> str:
    """Escape an attribute value as Anki does: every ASCII character but letters and digits."""
    return "".join(c if c.isalnum() or not c.isascii() else _NAMED.get(c) or f"&#x{ord(c):X};" for c in text)


def _reveal(cloze: _Cloze, active: int, question: bool, buf: list[str]) -> bool:
    """Append one cloze's HTML; True when the active cloze occurs in it."""
    found = cloze.number == active
    if question and found:
        inner: list[str] = []
        for node in cloze.nodes:
            if isinstance(node, str):
                inner.append(node)
            else:
                _reveal(node, active, question, inner)
        hint = cloze.hint if cloze.hint is not None else "..."
        buf.append(
            f'<span class="cloze" data-cloze="{_attribute("".join(inner))}" '
            f'data-ordinal="{cloze.number}">[{hint}]</span>'
        )
        return True
    cls = "cloze" if found else "cloze-inactive"
    buf.append(f'<span class="{cls}" data-ordinal="{cloze.number}">')
    for node in cloze.nodes:
        if isinstance(node, str):
            buf.append(node)
        else:
            found |= _reveal(node, active, question, buf)
    buf.append("</span>")
    return found


def reveal_clozes(text: str, number: int, question: bool) -> str:
    """The ``cloze:`` filter for cloze ``number`` (1-based): hidden as ``[...]`` or ``[hint]`` on
    the question, shown on the answer, other clozes as plain text. Empty when the text has no
    cloze with that number (Anki then shows the card as empty)."""
    buf: list[str] = []
    found = False
    for node in _parse_clozes(text):
        if isinstance(node, str):
            buf.append(node)
        else:
            found |= _reveal(node, number, question, buf)
    if not found:
        return ""
    return _MATHJAX.sub(lambda m: m.group(1) + _TAGS.sub("", m.group(2)) + m.group(3), "".join(buf))


def cloze_numbers(text: str) -> set[int]:
    numbers: set[int] = set()

    def walk(nodes) -> None:
        for node in nodes:
            if isinstance(node, _Cloze) and node.number:
                numbers.add(node.number)
                walk(node.nodes)

    walk(_parse_clozes(text))
    return numbers


# --- templates ----------------------------------------------------------------------------

_HANDLE = re.compile(r"\{\{((?:(?!\{\{|\}\}).)+)\}\}", re.S)
_EMPTY_FIELD = re.compile(r"(?:\s|</?(?:br|div) ?/?>)*\Z", re.I)


class TemplateError(ValueError):
    pass


@lru_cache(maxsize=64)
def _parse_template(template: str) -> list:
    """Nodes: str, ("field", key, filters in the order to apply), ("if" | "unless", key, nodes)."""
    root: list = []
    stack: list[tuple[str, list]] = [("", root)]
    pos = 0
    for m in _HANDLE.finditer(template):
        if m.start() > pos:
            stack[-1][1].append(template[pos : m.start()])
        pos = m.end()
        inner = m.group(1).strip()
        head = inner[:1] if len(inner) >= 2 else ""
        if head in ("#", "^"):
            key = inner[1:].strip()
            children: list = []
            stack[-1][1].append(("if" if head == "#" else "unless", key, children))
            stack.append((key, children))
        elif head == "/":
            key = inner[1:].strip()
            if len(stack) == 1 or stack[-1][0] != key:
                raise TemplateError(f"{{{{/{key}}}}} closes no open section")
            stack.pop()
        else:
            parts = inner.split(":")
            stack[-1][1].append(("field", parts[-1].strip(), [p.strip() for p in reversed(parts[:-1])]))
    if pos < len(template):
        stack[-1][1].append(template[pos:])
    if len(stack) > 1:
        raise TemplateError(f"section {{{{#{stack[-1][0]}}}}} is not closed")
    return root


@dataclass
class _Context:
    fields: dict[str, str]
    ord: int
    question: bool
    frontside: str = ""


def _filter(name: str, text: str, ctx: _Context) -> str:
    if name == "cloze":
        return reveal_clozes(text, ctx.ord + 1, ctx.question)
    if name == "text":
        return html.unescape(_TAGS.sub("", text))
    if name == "hint":  # Anki shows a link that reveals the text; show the text
        return text
    if name == "type":  # type-in answer box: nothing to type into in a preview
        return ""
    return text  # furigana, kana, tts and add-on filters: the text as is


def _render(nodes: list, ctx: _Context, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
            continue
        kind, key, rest = node
        if kind == "field":
            if key == "FrontSide":
                out.append(ctx.frontside)
            elif key in ctx.fields:
                text = ctx.fields[key]
                for name in rest:
                    text = _filter(name, text, ctx)
                out.append(text)
            elif key or not rest:  # a filter with no field, `{{tts en_US:}}`, adds nothing here
                out.append(f"{{unknown field {html.escape(key)}}}")
        else:
            filled = not _EMPTY_FIELD.match(ctx.fields.get(key, ""))
            if filled == (kind == "if"):
                _render(rest, ctx, out)


def render_card(note: Built, ord_: int, deck_name: str = "") -> tuple[str, str]:
    """(question HTML, answer HTML) of one card, as Anki renders them (without the CSS)."""
    nt = note.notetype
    _, qfmt, afmt = nt.templates[0 if nt.cloze else ord_]
    fields = dict(zip(nt.field_names, note.fields))
    fields.update(
        {
            "Tags": " ".join(note.tags),
            "Type": nt.name,
            "Deck": deck_name,
            "Subdeck": deck_name.split("::")[-1],
            "Card": card_name(nt, ord_),
            "CardFlag": "",
        }
    )
    if nt.cloze:
        fields[f"c{ord_ + 1}"] = "1"
    ctx = _Context(fields, ord_, question=True)
    q: list[str] = []
    _render(_parse_template(qfmt), ctx, q)
    question = "".join(q)
    ctx.question, ctx.frontside = False, question
    a: list[str] = []
    _render(_parse_template(afmt), ctx, a)
    return question, "".join(a)


def card_name(nt: NoteType, ord_: int) -> str:
    return f"Cloze {ord_ + 1}" if nt.cloze else nt.templates[ord_][0]


# --- the site -----------------------------------------------------------------------------


def _script_json(data) -> str:
    """JSON that is safe inside <script>: no '<', '>' or '&' can end the element early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _style(css: str) -> str:
    return css.replace("</", "<\\/")  # '\/' is '/' to CSS, and '</style' cannot appear


def site_data(decks: list[BuiltDeck]) -> dict:
    """Everything the page shows, as plain data."""
    out_decks, cards = [], []
    for index, built in enumerate(decks):
        out_decks.append(
            {
                "id": built.deck.id,
                "name": built.deck.name,
                "path": built.deck.path,
                "description": built.description,
                "notes": len(built.notes),
                "cards": built.card_count,
            }
        )
        for note in built.notes:
            for ord_ in note.ords:
                front, back = render_card(note, ord_, built.deck.name)
                cards.append(
                    {
                        "deck": index,
                        "note": note.id,
                        "ord": ord_,
                        "name": card_name(note.notetype, ord_),
                        "type": note.notetype.name,
                        "tags": note.tags,
                        "front": front,
                        "back": back,
                    }
                )
    return {"decks": out_decks, "cards": cards}


def page(decks: list[BuiltDeck]) -> str:
    """The whole index.html."""
    data = site_data(decks)
    # Each note type's CSS once. factdeck's note types share one; were they to differ, every
    # rule would reach every card here, where Anki gives each card a page of its own.
    css = list(dict.fromkeys(n.notetype.css for d in decks for n in d.notes))
    tag_counts: dict[str, int] = {}
    for card in data["cards"]:
        for tag in card["tags"]:
            tag_counts[tag] = tag_counts.get(tag, 0) + 1
    esc = html.escape
    n_cards = len(data["cards"])
    title = decks[0].deck.name if len(decks) == 1 else "factdeck preview"
    deck_options = "".join(
        f'<option value="{esc(d["id"])}">{esc(d["name"])} ({d["cards"]})</option>' for d in data["decks"]
    )
    tag_options = "".join(
        f'<option value="{esc(t)}">{esc(t)} ({tag_counts[t]})</option>'
        for t in sorted(tag_counts, key=str.casefold)
    )
    summary = f"{n_cards} card{'s' * (n_cards != 1)} from {len(decks)} deck{'s' * (len(decks) != 1)}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="factdeck">
<title>{esc(title)} · factdeck preview</title>
<style>{_style(_PAGE_CSS)}</style>
{"".join(f'<style class="fd-preview-notetype-css">{_style(c)}</style>' for c in css)}
</head>
<body class="fd-preview">
<header class="fd-preview-bar">
<div class="fd-preview-bar-inner">
<div class="fd-preview-heading">
<h1 class="fd-preview-title">{esc(title)}</h1>
<span class="fd-preview-count" aria-live="polite">{esc(summary)}</span>
<button type="button" class="fd-preview-night" aria-pressed="false"
 title="Night mode, as Anki shows it">Night mode</button>
</div>
<div class="fd-preview-controls">
<input type="search" class="fd-preview-search" placeholder="Search cards  (press /)" aria-label="Search cards"
 autocomplete="off">
<select class="fd-preview-deck-filter" aria-label="Filter by deck">
<option value="">All decks</option>{deck_options}</select>
<select class="fd-preview-tag-filter" aria-label="Filter by tag"{" disabled" if not tag_counts else ""}>
<option value="">All tags</option>{tag_options}</select>
</div>
</div>
</header>
<main class="fd-preview-main">
<noscript><p class="fd-preview-empty">This preview needs JavaScript to show the cards.</p></noscript>
<p class="fd-preview-empty fd-preview-nomatch" hidden>No card matches.</p>
<div class="fd-preview-decks"></div>
</main>
<script type="application/json" id="fd-preview-data">{_script_json(data)}</script>
<script>{_PAGE_JS}</script>
</body>
</html>
"""


def write_site(decks: list[BuiltDeck], output: Path) -> Path:
    """Write index.html and the media it shows into ``output`` (created if missing).

    Media first, the page last, each file through a rename: a reader never sees a page
    pointing at an image that is not there yet.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    media: dict[str, str] = {}
    for built in decks:
        media.update(built.media)
    for name, src in sorted(media.items()):
        if os.path.basename(name) != name or name in ("", ".", "..", "index.html"):
            raise ValueError(f"unexpected media name {name!r}")
        target = output / name
        with open(src, "rb") as f:
            data = f.read()
        if target.is_file() and target.read_bytes() == data:
            continue
        atomic_write(target, lambda f, data=data: f.write(data))
    index = output / "index.html"
    text = page(decks).encode("utf-8")
    atomic_write(index, lambda f: f.write(text))
    return index


_PAGE_CSS = """
.fd-preview { margin: 0; background: #eceef1; color: #24272c; color-scheme: light;
  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.fd-preview-bar { position: sticky; top: 0; z-index: 10; background: #ffffff;
  border-bottom: 1px solid #d9dce1; box-shadow: 0 1px 4px rgba(0,0,0,.06); }
.fd-preview-bar-inner { max-width: 1180px; margin: 0 auto; padding: 10px 20px; }
.fd-preview-heading { display: flex; align-items: baseline; gap: 4px 12px; min-width: 0; }
.fd-preview-title { margin: 0; font-size: 18px; font-weight: 650; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; min-width: 0; }
.fd-preview-count { color: #5f6670; font-size: 13px; white-space: nowrap; }
.fd-preview-controls { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }
.fd-preview-bar input, .fd-preview-bar select, .fd-preview-bar button {
  font: inherit; font-size: 14px; padding: 6px 10px; border: 1px solid #c5c9d0; border-radius: 7px;
  background: #fff; color: inherit; min-width: 0; }
.fd-preview-search { flex: 1 1 260px; }
.fd-preview-controls select { flex: 0 1 240px; }
.fd-preview-night { margin-left: auto; cursor: pointer; flex: none; align-self: center; }
.fd-preview-night[aria-pressed="true"] { background: #2b3440; color: #fff; border-color: #2b3440; }
.fd-preview-main { max-width: 1180px; margin: 0 auto; padding: 18px 20px 60px; box-sizing: border-box; }
.fd-preview-deck { margin-bottom: 28px; }
.fd-preview-deck-head { margin: 6px 2px 12px; }
.fd-preview-deck-name { margin: 0; font-size: 20px; font-weight: 650; }
.fd-preview-deck-meta { color: #5f6670; font-size: 13px; }
.fd-preview-deck-description { margin-top: 4px; color: #3d434b; }
.fd-preview-card { background: #fff; border: 1px solid #d9dce1; border-radius: 10px; margin: 0 0 14px;
  padding: 10px 12px 12px; }
.fd-preview-card-head { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px;
  font-size: 12.5px; color: #5f6670; margin: 0 2px 8px; }
.fd-preview-note-id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: #24272c;
  font-weight: 600; }
.fd-preview-tags { display: inline-flex; flex-wrap: wrap; gap: 4px; }
.fd-preview-tag { padding: 0 7px; border-radius: 9px; background: #e6ebf2; color: #3b4a5e; }
.fd-preview-sides { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; align-items: start; }
.fd-preview-side { min-width: 0; }
.fd-preview-label { font-size: 11px; font-weight: 650; letter-spacing: .06em; text-transform: uppercase;
  color: #7a818b; margin: 0 2px 3px; }
.fd-preview-side > .card { border: 1px solid #e2e4e8; border-radius: 8px; overflow: auto; }
.fd-preview-empty { color: #5f6670; text-align: center; padding: 40px 0; }
@media (max-width: 760px) {
  .fd-preview-bar { position: static; }
  .fd-preview-bar-inner, .fd-preview-main { padding-left: 12px; padding-right: 12px; }
  .fd-preview-sides { grid-template-columns: 1fr; }
  .fd-preview-heading { flex-wrap: wrap; }
  .fd-preview-count { order: 3; flex-basis: 100%; }
  .fd-preview-search { flex-basis: 100%; }
  .fd-preview-controls select { flex: 1 1 40%; }
}
[hidden] { display: none !important; }
.fd-preview.nightMode { background: #111214; color: #d9dade; color-scheme: dark; }
.nightMode .fd-preview-bar { background: #1b1c1f; border-bottom-color: #2e3034; }
.nightMode .fd-preview-bar input, .nightMode .fd-preview-bar select,
.nightMode .fd-preview-bar button { background: #25272b; border-color: #3a3d42; }
.nightMode .fd-preview-night[aria-pressed="true"] { background: #e3e5e8; color: #16171a; }
.nightMode .fd-preview-card { background: #1b1c1f; border-color: #2e3034; }
.nightMode .fd-preview-side > .card { border-color: #33353a; }
.nightMode .fd-preview-note-id, .nightMode .fd-preview-deck-description { color: #e2e3e6; }
.nightMode .fd-preview-count, .nightMode .fd-preview-card-head,
.nightMode .fd-preview-deck-meta { color: #9a9fa8; }
.nightMode .fd-preview-tag { background: #2c323b; color: #b8c4d6; }
"""

_PAGE_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("fd-preview-data").textContent);
  var $ = function (sel) { return document.querySelector(sel); };
  var search = $(".fd-preview-search"), deckSel = $(".fd-preview-deck-filter"),
      tagSel = $(".fd-preview-tag-filter"), nightBtn = $(".fd-preview-night"),
      count = $(".fd-preview-count"), empty = $(".fd-preview-nomatch"),
      root = $(".fd-preview-decks");
  var fold = function (s) {
    return s.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  };
  var el = function (tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };
  var sections = data.decks.map(function (d) {
    var s = el("section", "fd-preview-deck");
    s.dataset.deck = d.id;
    var head = el("div", "fd-preview-deck-head");
    head.appendChild(el("h2", "fd-preview-deck-name", d.name));
    head.appendChild(el("div", "fd-preview-deck-meta",
      d.path + " \u00b7 " + d.notes + " note" + (d.notes === 1 ? "" : "s") + ", " +
      d.cards + " card" + (d.cards === 1 ? "" : "s")));
    if (d.description) {
      var desc = el("div", "fd-preview-deck-description");
      desc.innerHTML = d.description;
      head.appendChild(desc);
    }
    s.appendChild(head);
    root.appendChild(s);
    return s;
  });
  var side = function (label, cls, ord, content) {
    var wrap = el("div", "fd-preview-side");
    wrap.appendChild(el("div", "fd-preview-label", label));
    var card = el("div", "card card" + (ord + 1) + " " + cls);
    card.innerHTML = content;  // parsed on its own: stray tags cannot escape this element
    wrap.appendChild(card);
    return wrap;
  };
  var items = data.cards.map(function (c) {
    var deck = data.decks[c.deck];
    var a = el("article", "fd-preview-card");
    a.dataset.deck = deck.id;
    a.dataset.noteId = c.note;
    a.dataset.ord = String(c.ord);
    a.dataset.tags = c.tags.join(" ");
    var head = el("div", "fd-preview-card-head");
    head.appendChild(el("span", "fd-preview-note-id", c.note));
    head.appendChild(el("span", "fd-preview-card-name", c.name + " \u00b7 " + c.type));
    var tags = el("span", "fd-preview-tags");
    c.tags.forEach(function (t) { tags.appendChild(el("span", "fd-preview-tag", t)); });
    head.appendChild(tags);
    a.appendChild(head);
    var sides = el("div", "fd-preview-sides"),
        front = side("Front", "fd-preview-front", c.ord, c.front),
        back = side("Back", "fd-preview-back", c.ord, c.back);
    sides.appendChild(front);
    sides.appendChild(back);
    a.appendChild(sides);
    sections[c.deck].appendChild(a);
    var text = [c.note, deck.name, c.tags.join(" "), front.lastChild.textContent,
                back.lastChild.textContent].join("\n");
    return { el: a, deck: deck.id, tags: c.tags, text: fold(text) };
  });
  var hasTag = function (tags, want) {
    return tags.some(function (t) {
      t = t.toLowerCase();
      return t === want || t.lastIndexOf(want + "::", 0) === 0;
    });
  };
  var total = items.length;
  var update = function () {
    var words = fold(search.value).split(/\s+/).filter(Boolean);
    var deck = deckSel.value, tag = tagSel.value.toLowerCase(), shown = 0, perDeck = {};
    items.forEach(function (it) {
      var ok = (!deck || it.deck === deck) && (!tag || hasTag(it.tags, tag)) &&
        words.every(function (w) { return it.text.indexOf(w) !== -1; });
      it.el.hidden = !ok;
      if (ok) { shown++; perDeck[it.deck] = true; }
    });
    sections.forEach(function (s) { s.hidden = !perDeck[s.dataset.deck]; });
    empty.hidden = shown !== 0;
    count.textContent = (shown === total ? "" : shown + " of ") + total + " card" + (total === 1 ? "" : "s") +
      " from " + data.decks.length + " deck" + (data.decks.length === 1 ? "" : "s");
    var params = new URLSearchParams();
    if (search.value) params.set("q", search.value);
    if (deck) params.set("deck", deck);
    if (tagSel.value) params.set("tag", tagSel.value);
    var hash = params.toString();
    try { history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search); }
    catch (e) { /* some file:// setups refuse; the filters still work */ }
  };
  var setNight = function (on) {
    [document.body].concat(Array.prototype.slice.call(document.querySelectorAll(".card")))
      .forEach(function (e) {
        e.classList.toggle("nightMode", on);
        e.classList.toggle("night_mode", on);
      });
    nightBtn.setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem("factdeck-preview-night", on ? "1" : "0"); } catch (e) { /* private mode */ }
  };
  var initial = new URLSearchParams(location.hash.slice(1));
  search.value = initial.get("q") || "";
  var pick = function (sel, value) {
    var known = Array.prototype.some.call(sel.options, function (o) { return o.value === value; });
    if (value && known) sel.value = value;
  };
  pick(deckSel, initial.get("deck"));
  pick(tagSel, initial.get("tag"));
  var stored = null;
  try { stored = localStorage.getItem("factdeck-preview-night"); } catch (e) { /* private mode */ }
  setNight(stored === null ? !!(window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches)
                           : stored === "1");
  search.addEventListener("input", update);
  deckSel.addEventListener("change", update);
  tagSel.addEventListener("change", update);
  nightBtn.addEventListener("click", function () {
    setNight(nightBtn.getAttribute("aria-pressed") !== "true");
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "/" && document.activeElement !== search && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      search.focus();
    }
  });
  update();
  document.body.dataset.ready = "1";
})();
"""
