// The preview page: builds the cards from the JSON data, then search, filters and night mode.
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
  // Each card side lives in a shadow root of its own with only its note type's CSS (and the
  // page's few rules for what the preview adds to cards): as on Anki's own card page, no rule
  // of one note type reaches another's cards or the page, whatever its braces, and the page's
  // rules never reach a card. One constructed sheet per note type, shared by its cards.
  var constructed = typeof CSSStyleSheet === "function" && "adoptedStyleSheets" in Document.prototype;
  var sheet = function (text) {
    if (!constructed) return text;
    var s = new CSSStyleSheet();
    s.replaceSync(text);
    return s;
  };
  var base = sheet(document.getElementById("fd-preview-card-base").textContent);
  var styles = data.css.map(sheet);
  var cards = [];
  var side = function (label, cls, ord, css, content) {
    var wrap = el("div", "fd-preview-side");
    wrap.appendChild(el("div", "fd-preview-label", label));
    var frame = el("div", "fd-preview-frame");
    var shadow = frame.attachShadow({ mode: "open" });
    if (constructed) {
      shadow.adoptedStyleSheets = [base, styles[css]];
    } else {
      shadow.appendChild(el("style", null, base + "\n" + styles[css]));
    }
    var card = el("div", "card card" + (ord + 1) + " " + cls);
    card.innerHTML = content;  // parsed on its own: stray tags cannot escape this element
    shadow.appendChild(card);
    wrap.appendChild(frame);
    cards.push(card);
    return { el: wrap, card: card };
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
        front = side("Front", "fd-preview-front", c.ord, c.css, c.front),
        back = side("Back", "fd-preview-back", c.ord, c.css, c.back);
    sides.appendChild(front.el);
    sides.appendChild(back.el);
    a.appendChild(sides);
    sections[c.deck].appendChild(a);
    var text = [c.note, deck.name, c.tags.join(" "), front.card.textContent,
                back.card.textContent].join("\n");
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
    // a Set, not an object: a deck id such as "constructor" must not find Object.prototype's
    var deck = deckSel.value, tag = tagSel.value.toLowerCase(), shown = 0, perDeck = new Set();
    items.forEach(function (it) {
      var ok = (!deck || it.deck === deck) && (!tag || hasTag(it.tags, tag)) &&
        words.every(function (w) { return it.text.indexOf(w) !== -1; });
      it.el.hidden = !ok;
      if (ok) { shown++; perDeck.add(it.deck); }
    });
    sections.forEach(function (s) { s.hidden = !perDeck.has(s.dataset.deck); });
    empty.hidden = shown !== 0;
    count.textContent = (shown === total ? "" : shown + " of ") + total + " card" + (total === 1 ? "" : "s") +
      " from " + data.decks.length + " deck" + (data.decks.length === 1 ? "" : "s");
    var params = new URLSearchParams();
    if (search.value) params.set("q", search.value);
    if (deck) params.set("deck", deck);
    if (tagSel.value) params.set("tag", tagSel.value);
    var hash = params.toString();
    try { history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search); }
    catch { /* some file:// setups refuse; the filters still work */ }
  };
  var setNight = function (on) {
    [document.body].concat(cards).forEach(function (e) {
      e.classList.toggle("nightMode", on);
      e.classList.toggle("night_mode", on);
    });
    nightBtn.setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem("factdeck-preview-night", on ? "1" : "0"); } catch { /* private mode */ }
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
  try { stored = localStorage.getItem("factdeck-preview-night"); } catch { /* private mode */ }
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
