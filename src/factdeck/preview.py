"""`factdeck preview`: a static HTML site showing every card as Anki renders it (``cardhtml``).

The site is one self-contained ``index.html`` plus the deck's media beside it. Its own CSS and
JavaScript are package files (``preview_assets/``) inlined into the page. It fetches nothing
from a network: a Content-Security-Policy allows only images beside the page and the one
script (by hash), and remote ``<img>`` sources (and frames and embedded objects, to which
Chromium connects before the policy stops them) are replaced by a placeholder naming the URL.
Cards travel as JSON and are inserted with ``innerHTML`` one side at a time, so even a cloze
that cuts across tags cannot break the page around it. Each side is in a shadow root of its
own with its note type's CSS, as each card is a page of its own in Anki: no note type's rules,
however malformed, reach the page or another type's cards, and the page's never reach a card.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from collections.abc import Iterator
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path
from typing import IO, Any

from .assemble import BuiltDeck, output_limit
from .cardhtml import TooMuchText, card_name, render_card
from .css import for_shadow_root
from .output import Staging, WriteFailed, recover
from .terminal import printable


def _write(f: IO[bytes], data: bytes) -> None:
    f.write(data)


# --- the site -----------------------------------------------------------------------------


def _script_json(data: object) -> str:
    """JSON that is safe inside <script>: no '<', '>' or '&' can end the element early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _style(css: str) -> str:
    return css.replace("</", "<\\/")  # '\/' is '/' to CSS, and '</style' cannot appear


@lru_cache(maxsize=4)
def asset(name: str) -> str:
    """The page's own CSS or JavaScript, shipped as package files (like card.css)."""
    return resources.files("factdeck").joinpath("preview_assets", name).read_text(encoding="utf-8")


def content_security_policy(script: str) -> str:
    """Nothing from a network: images only beside the page or inline, the one script by hash.

    Card HTML may come from templates and fields the preview did not write; the policy holds
    even where the remote-image rewrite below could miss something (CSS ``url()``, media).
    """
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; img-src 'self' data:; font-src 'self' data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


_URL_NOISE = re.compile(r"[\t\n\r]")  # browsers drop these anywhere in a URL
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def is_local(url: str) -> bool:
    """True for a path relative to the page (a bundled image) or a ``data:`` URL."""
    url = _URL_NOISE.sub("", url).strip(" \f\t\n\r")
    if url[:5].lower() == "data:":
        return True
    return not _HAS_SCHEME.match(url) and not url.startswith(("/", "\\"))


# A small HTML tokenizer, enough to find start tags where a browser finds them (never inside an
# attribute value, a comment or a script) in one pass: Python's HTMLParser takes quadratic time
# on some inputs (30,000 unclosed `<a ` take 90 s), and templates are untrusted input.
_TAG_NAME = re.compile(r"[^\t\n\f\r />]*")
_ATTR_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r />=]*")
_SPACE = re.compile(r"[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_COMMENT_END = re.compile(r"--!?>")
_RAW_TEXT = ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript")
_RAW_TEXT_END = {name: re.compile(rf"</{name}[\t\n\f\r />]", re.I) for name in _RAW_TEXT}


def _after_space(text: str, j: int) -> int:
    m = _SPACE.match(text, j)
    return m.end() if m else j


def _tag(text: str, i: int) -> tuple[str, dict[str, str], int] | None:
    """The tag whose name starts at ``i``: (lower-case name, attributes, end), or None when the
    text ends inside it (a browser then drops the tag). The first of repeated attributes wins."""
    m = _TAG_NAME.match(text, i)
    assert m is not None  # the pattern matches the empty string
    name, j, n = m.group().lower(), m.end(), len(text)
    attrs: dict[str, str] = {}
    while j < n:
        ch = text[j]
        if ch in " \t\n\f\r/":
            j += 1
            continue
        if ch == ">":
            return name, attrs, j + 1
        m = _ATTR_NAME.match(text, j)
        assert m is not None  # text[j] is none of the characters the class excludes
        key, j = m.group().lower(), _after_space(text, m.end())
        value = ""
        if j < n and text[j] == "=":
            j = _after_space(text, j + 1)
            if j < n and text[j] in "\"'":
                close = text.find(text[j], j + 1)
                if close < 0:
                    return None
                value, j = text[j + 1 : close], close + 1
            else:
                m = _UNQUOTED.match(text, j)
                assert m is not None
                value, j = m.group(), m.end()
        attrs.setdefault(key, value)
    return None


def _start_tags(text: str) -> Iterator[tuple[int, int, str, dict[str, str]]]:
    """(start, end, name, attributes) of every start tag, in one pass over ``text``."""
    pos, n = 0, len(text)
    while (lt := text.find("<", pos)) >= 0 and lt + 1 < n:
        c = text[lt + 1]
        if text.startswith("<!--", lt):
            if text.startswith(("<!-->", "<!--->"), lt):
                pos = text.index(">", lt) + 1
                continue
            m = _COMMENT_END.search(text, lt + 4)
            pos = m.end() if m else n
        elif c in "!?" or (
            c == "/" and not (text[lt + 2 : lt + 3].isascii() and text[lt + 2 : lt + 3].isalpha())
        ):
            close = text.find(">", lt + 2)  # a bogus comment (or `</>`), up to the first `>`
            pos = close + 1 if close >= 0 else n
        elif c == "/" or (c.isascii() and c.isalpha()):
            end_tag = c == "/"
            tag = _tag(text, lt + 1 + end_tag)
            if tag is None:
                return
            name, attrs, pos = tag
            if end_tag:
                continue
            yield lt, pos, name, attrs
            if name in _RAW_TEXT_END:  # text up to its end tag, never tags
                m = _RAW_TEXT_END[name].search(text, pos)
                if m is None:
                    return
                pos = m.start()
        else:
            pos = lt + 1


def _remote_url(attrs: dict[str, str], names: tuple[str, ...]) -> str | None:
    """The first URL of the attributes ``names`` (``srcset`` a list of them) not beside the page,
    read both raw and with character references decoded (where the two readings differ, either
    counts)."""
    urls = [attrs.get(name, "") for name in names if name != "srcset"]
    if "srcset" in names:
        urls += [c.strip().split(" ")[0] for c in attrs.get("srcset", "").split(",") if c.strip()]
    for url in urls:
        if url and not (is_local(url) and is_local(html.unescape(url))):
            return html.unescape(url)
    return None


# What loads from an address by itself, and from which attributes. An HTML parser reads <image>
# as <img>. The policy blocks frames, but Chromium connects to the host before it checks.
_LOADING = {
    "img": ("image", ("src", "srcset")),
    "image": ("image", ("src", "srcset")),
    "iframe": ("page", ("src",)),
    "frame": ("page", ("src",)),
    "object": ("page", ("data",)),
    "embed": ("page", ("src",)),
}
_MAY_LOAD = ("<im", "<if", "<fr", "<ob", "<em")


def without_remote_images(fragment: str) -> str:
    """Each remote ``<img>``, and each frame or embedded object whose page is remote, becomes a
    placeholder naming its URL: the page fetches nothing, and connects to no host."""
    lowered = fragment.lower()
    if not any(start in lowered for start in _MAY_LOAD):
        return fragment
    out: list[str] = []
    pos = 0
    for start, end, name, attrs in _start_tags(fragment):
        loading = _LOADING.get(name)
        if loading is None or start < pos:
            continue
        what, names = loading
        url = _remote_url(attrs, names)
        if url is None:
            continue
        alt = html.unescape(attrs.get("alt", "")) if what == "image" else ""
        label = f"remote {what} not loaded: {url}" + (f" ({alt})" if alt else "")
        out.append(fragment[pos:start])
        out.append(
            f'<span class="fd-preview-remote-image" title="{html.escape(url)}">{html.escape(label)}</span>'
        )
        pos = end
        if name == "iframe":  # its content is text up to its end tag (all of it without one): drop it
            closing = _RAW_TEXT_END["iframe"].search(fragment, end)
            close = fragment.find(">", closing.end() - 1) if closing else -1
            pos = close + 1 if close >= 0 else len(fragment)
    if not out:
        return fragment
    out.append(fragment[pos:])
    return "".join(out)


class PageTooLarge(Exception):
    """The cards' text passed the preview's limit (see ``site_data``)."""


def _page_limit(decks: list[BuiltDeck]) -> int:
    """As much card text as the decks' files may make (assemble.output_limit), fronts and backs
    together: a template can show one field hundreds of times, on many templates, so a deck
    of a few hundred kilobytes could otherwise make a page of gigabytes."""
    total = 0
    for built in decks:
        try:
            size = os.path.getsize(built.deck.path)
        except (OSError, ValueError):
            size = 0
        total += 2 * output_limit(size)
    return total


def site_data(decks: list[BuiltDeck]) -> dict[str, Any]:  # JSON for the page
    """Everything the page shows, as plain data; raises PageTooLarge past ``_page_limit``."""
    limit, size = _page_limit(decks), 0
    out_decks, cards = [], []
    styles: dict[str, int] = {}  # each distinct note type CSS, numbered
    for index, built in enumerate(decks):
        out_decks.append(
            {
                "id": built.deck.id,
                "name": built.deck.name,
                "path": built.deck.path,
                "description": without_remote_images(built.description),
                "notes": len(built.notes),
                "cards": built.card_count,
            }
        )
        for note in built.notes:
            deck_name = f"{built.deck.name}::{note.subdeck}" if note.subdeck else built.deck.name
            style = styles.setdefault(note.notetype.css, len(styles))
            for ord_ in note.ords:
                try:
                    front, back = render_card(note, ord_, deck_name, limit - size)
                except TooMuchText:
                    front = back = ""
                    size = limit
                size += len(front) + len(back)
                if size >= limit:
                    raise PageTooLarge(
                        f"the cards up to note `{note.id}` of {built.deck.path} show more than {limit:,} "
                        "characters, too many for one page: its templates show fields many times over, "
                        "or long text on every card"
                    )
                cards.append(
                    {
                        "deck": index,
                        "css": style,
                        "note": note.id,
                        "ord": ord_,
                        "name": card_name(note.notetype, ord_),
                        "type": note.notetype.name,
                        "tags": note.tags,
                        "front": without_remote_images(front),
                        "back": without_remote_images(back),
                    }
                )
    sheets = [for_shadow_root(css) for css in styles]  # as Anki's card page applies them
    return {
        "decks": out_decks,
        "cards": cards,
        "css": [inside for inside, _ in sheets],
        "document_css": "\n".join(hoisted for _, hoisted in sheets if hoisted),
    }


def page(decks: list[BuiltDeck]) -> str:
    """The whole index.html."""
    data = site_data(decks)
    script = asset("preview.js")
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
<meta http-equiv="Content-Security-Policy" content="{esc(content_security_policy(script))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="factdeck">
<title>{esc(title)} · factdeck preview</title>
<style>{_style(asset("preview.css"))}</style>
<style id="fd-preview-card-base">{_style(asset("card-base.css"))}</style>
<style id="fd-preview-note-type-fonts">{_style(data["document_css"])}</style>
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
<script>{script}</script>
</body>
</html>
"""


def write_site(decks: list[BuiltDeck], output: Path) -> Path:
    """Write index.html and the media it shows into ``output`` (created if missing).

    All files are staged, then committed together, media before the page (see ``output``):
    a reader never sees a page pointing at an image that is not there yet. Raises WriteFailed,
    or build.UsageError when a file of the site would overwrite an input.
    """
    from .build import refuse_clashes

    output = Path(output)
    media: dict[str, str] = {}
    for built in decks:
        media.update(built.media)
    for name in media:
        if os.path.basename(name) != name or name in ("", ".", "..", "index.html"):
            raise ValueError(f"unexpected media name {name!r}")
    index = output / "index.html"
    refuse_clashes(
        [Path(b.deck.path) for b in decks],
        [index, *(output / n for n in media)],
        [Path(s) for s in media.values()],
    )
    recover([output])
    with Staging() as staging:
        for name, src in sorted(media.items()):
            target = output / name
            try:
                with open(src, "rb") as f:
                    data = f.read()
                if target.is_file() and target.read_bytes() == data:
                    continue
            except OSError as e:
                raise WriteFailed(target, f"cannot read {src}: {e.strerror or e}") from e
            staging.add(target, partial(_write, data=data))
        # A file name that is not UTF-8 (a surrogate) shows as U+FFFD: the page is valid UTF-8.
        try:
            text = page(decks).encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode("utf-8")
        except MemoryError:  # the page holds every card: the largest thing a preview makes
            raise WriteFailed(index, "out of memory") from None
        except PageTooLarge as e:
            raise WriteFailed(index, printable(str(e))) from None
        staging.add(index, partial(_write, data=text))
        staging.commit()
    return index
