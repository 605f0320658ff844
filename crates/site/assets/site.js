// ratchet-site: search as you type against the registry's static search catalog
// (index-format.md §10: root, term shards, facet files, summary blocks), and the install
// command's copy button. Every page works without this file. Nothing from the catalog is ever
// inserted as HTML: results are built with textContent and DOM nodes only.
"use strict";
(function () {
  var STOP = new Set(("an and are as at be by for from has in into is it its of on or that the this to " +
    "with your you we our can will all any use uses using").split(" "));
  var FILLER = new Set(("about after also automatically before could do does each every get help how if " +
    "just like make me my need new old should so some something them then there they their want way " +
    "what when whenever which would").split(" "));
  var MAX_FILE = 256 * 1024;

  // §10.3 word forms: plural, then verb forms, then a final e.
  function normalise(w) {
    var az = /^[a-z]+$/;
    var n = w.length;
    if (n >= 5 && w.endsWith("ies")) w = w.slice(0, -3) + "y";
    else if ((n >= 5 || (n >= 4 && az.test(w))) && w.endsWith("s") &&
      !w.endsWith("ss") && !w.endsWith("us") && !w.endsWith("is")) w = w.slice(0, -1);
    if (!az.test(w)) return w;
    var lost = false;
    if (w.length >= 7 && w.endsWith("ing")) { w = w.slice(0, -3); lost = true; }
    else if (w.length >= 6 && w.endsWith("ed")) { w = w.slice(0, -2); lost = true; }
    if (lost) {
      var l = w.length, c = w[l - 1];
      if (l >= 2 && c === w[l - 2] && "aeiouylsz".indexOf(c) < 0) w = w.slice(0, -1);
    } else if (w.length >= 5 && w.endsWith("e")) w = w.slice(0, -1);
    return w;
  }
  function words(text) {
    var out = [];
    text.toLowerCase().split(/[^\p{L}\p{N}]+/u).forEach(function (w) {
      var n = Array.from(w).length;
      if (n >= 2 && n <= 40 && !STOP.has(w)) out.push(normalise(w));
    });
    return out;
  }
  function shardKey(term, split) {
    var cs = Array.from(term), k = cs.slice(0, 3).join(""), i = 3;
    while (split.has(k) && cs.length > i) { k = cs.slice(0, ++i).join(""); }
    return k;
  }
  function keyFile(k) {
    if (/^[a-z0-9]+$/.test(k)) return k;
    var b = new TextEncoder().encode(k), h = "x";
    b.forEach(function (x) { h += (x < 16 ? "0" : "") + x.toString(16); });
    return h;
  }
  function b64(s) {
    var t = s.replace(/-/g, "+").replace(/_/g, "/");
    while (t.length % 4) t += "=";
    var bin = atob(t), a = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
    return a;
  }
  function varint(a, pos) {
    var v = 0, mul = 1;
    for (var i = 0; i < 5; i++) {
      var b = a[pos.i++];
      if (b === undefined) throw new Error("truncated");
      v += (b & 127) * mul; mul *= 128;
      if (!(b & 128)) return v;
    }
    throw new Error("varint too long");
  }
  function postings(s) {
    var a = b64(s), pos = { i: 0 }, out = [], ord = 0;
    while (pos.i < a.length) {
      var d = varint(a, pos);
      ord = out.length ? ord + d : d;
      var p = pos.i;
      if (p + 14 > a.length) throw new Error("truncated posting");
      out.push({ ord: ord, tf: a[p], bucket: a[p + 1], flags: a[p + 2] });
      pos.i += 14;
    }
    return out;
  }
  function set(s) {
    var a = b64(s), out = [];
    if (a[0] === 0) {
      var pos = { i: 1 }, o = 0;
      while (pos.i < a.length) { var d = varint(a, pos); o = out.length ? o + d : d; out.push(o); }
    } else {
      for (var i = 1; i < a.length; i++) for (var j = 0; j < 8; j++) if (a[i] & (1 << j)) out.push((i - 1) * 8 + j);
    }
    return out;
  }

  function Catalog(base) { this.base = base; this.cache = new Map(); this.requests = 0; }
  Catalog.prototype.get = function (path) {
    var self = this;
    if (!this.cache.has(path)) {
      this.requests++;
      this.cache.set(path, fetch(this.base + "catalog/" + path).then(function (r) {
        if (r.status === 404) return null;
        if (!r.ok) throw new Error(path + ": HTTP " + r.status);
        return r.text().then(function (t) {
          if (t.length > MAX_FILE) throw new Error(path + ": larger than a reader accepts");
          var j = JSON.parse(t);
          if (j.v !== 1) throw new Error(path + ": unknown catalog format");
          return j;
        });
      }));
    }
    return this.cache.get(path);
  };

  // A query: words (the last one also as a prefix), an optional category. Returns the first
  // page (10: the catalog's inline first page, §10.4, so usually no summary block is fetched).
  Catalog.prototype.search = async function (text, category, categoryHash) {
    var root = await this.get("root.json");
    if (!root) throw new Error("the registry has no search catalog");
    var split = new Set(root.split || []);
    var ws = words(text);
    if (ws.length >= 3) {
      var kept = ws.filter(function (w) { return !FILLER.has(w); });
      if (kept.length) ws = kept;
    }
    var prefixLast = ws.length && !/[\s\p{P}]$/u.test(text) && Array.from(ws[ws.length - 1]).length >= 3;
    var facetP = category ? this.get("facets/category/" + categoryHash + ".json") : Promise.resolve(undefined);
    var self = this;
    var shards = await Promise.all(ws.map(function (w) {
      return self.get("terms/" + keyFile(shardKey(w, split)) + ".json");
    }));
    var facet = await facetP;
    var allow = null;
    if (category) allow = new Set(facet ? set(facet.docs) : []);
    var summaries = new Map();
    if (!ws.length) {
      if (!allow) return { hits: [], total: 0 };
      var ords = Array.from(allow).sort(function (a, b) { return a - b; }).slice(0, 10);
      return { hits: await this.summaries(ords, summaries), total: allow.size };
    }
    var avg = Math.max(1, root.docs ? root.total_len / 2 / root.docs : 1);
    var scores = new Map(), matched = new Map();
    ws.forEach(function (w, i) {
      var shard = shards[i], best = new Map();
      if (!shard) return;
      var isSplit = split.has(w);
      shard.terms.forEach(function (t) {
        var weight = t.t === w ? 1 : (prefixLast && i === ws.length - 1 && !isSplit && t.t.startsWith(w) ? 0.8 : 0);
        if (!weight) return;
        (t.s || []).forEach(function (s) { summaries.set(s.ord, s); });
        var idf = Math.log(1 + (root.docs - t.df + 0.5) / (t.df + 0.5));
        postings(t.p).forEach(function (p) {
          var len = (Math.exp(p.bucket / 20) - 1) / 2, tf = p.tf;
          var sc = weight * idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avg));
          if (p.flags & 4) sc /= 2;
          if (!best.has(p.ord) || best.get(p.ord) < sc) best.set(p.ord, sc);
        });
      });
      best.forEach(function (sc, o) {
        scores.set(o, (scores.get(o) || 0) + sc);
        matched.set(o, (matched.get(o) || 0) + 1);
      });
    });
    var need = ws.length;
    var hits = [];
    while (need >= 1) {
      hits = [];
      scores.forEach(function (sc, o) {
        if (matched.get(o) >= need && (!allow || allow.has(o))) hits.push([o, sc]);
      });
      if (hits.length) break;
      need--;
    }
    hits.sort(function (a, b) { return b[1] - a[1] || a[0] - b[0]; });
    var page = hits.slice(0, 10).map(function (h) { return h[0]; });
    return { hits: await this.summaries(page, summaries), total: hits.length };
  };
  Catalog.prototype.summaries = async function (ords, known) {
    var self = this, blocks = new Set();
    ords.forEach(function (o) { if (!known.has(o)) blocks.add(Math.floor(o / 8)); });
    var got = await Promise.all(Array.from(blocks).map(function (b) { return self.get("docs/" + b + ".json"); }));
    got.forEach(function (b) { if (b) b.docs.forEach(function (s) { known.set(s.ord, s); }); });
    return ords.map(function (o) { return known.get(o); }).filter(Boolean);
  };

  async function sha16(text) {
    if (!(window.crypto && crypto.subtle)) return null;
    var d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
    var h = "";
    for (var i = 0; i < 8; i++) h += (d[i] < 16 ? "0" : "") + d[i].toString(16);
    return h;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function searchPage(form) {
    var q = form.querySelector("#q"), cat = form.querySelector("#category");
    var status = document.getElementById("status"), list = document.getElementById("results");
    var cat_ = new Catalog(form.getAttribute("data-registry") || "../");
    var params = new URLSearchParams(location.search);
    q.value = params.get("q") || "";
    if (params.get("category")) cat.value = params.get("category");
    var seq = 0, timer = null;
    async function run() {
      var my = ++seq, text = q.value, c = cat.value;
      var url = new URL(location.href);
      url.searchParams.delete("q"); url.searchParams.delete("category");
      if (text) url.searchParams.set("q", text);
      if (c) url.searchParams.set("category", c);
      history.replaceState(null, "", url.pathname + url.search);
      if (!text.trim() && !c) { list.textContent = ""; status.textContent = "Type to search."; return; }
      status.textContent = "Searching…";
      try {
        var r = await cat_.search(text, c, c ? await sha16(c) : null);
        if (my !== seq) return;
        list.textContent = "";
        r.hits.forEach(function (s) {
          var li = el("li", "card"), a = el("a", null, s.name);
          a.href = "b/" + encodeURIComponent(s.id) + ".html";
          li.appendChild(a);
          li.appendChild(document.createTextNode(" "));
          li.appendChild(el("span", "ver", s.version));
          if (s.verified === "official") { li.appendChild(document.createTextNode(" ")); li.appendChild(el("span", "badge official", "Officially verified")); }
          if (s.deprecated) { li.appendChild(document.createTextNode(" ")); li.appendChild(el("span", "badge deprecated", "Deprecated")); }
          li.appendChild(el("p", null, s.description));
          li.appendChild(el("p", "meta", s.license + " · " + s.pricing + " · " + s.downloads + " download(s)"));
          list.appendChild(li);
        });
        form.setAttribute("data-done", String(my)); // for tests and the benchmark
        status.textContent = r.total + " result(s)" + (r.total > r.hits.length ? ", the first " + r.hits.length + " shown" : "") + ".";
      } catch (e) {
        if (my === seq) { list.textContent = ""; status.textContent = "Search failed: " + e.message; }
      }
    }
    function later() { clearTimeout(timer); timer = setTimeout(run, 120); }
    q.addEventListener("input", later);
    cat.addEventListener("change", run);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); run(); });
    run();
  }

  function copyButtons() {
    document.querySelectorAll("button.copy[data-copy]").forEach(function (b) {
      var src = document.getElementById(b.getAttribute("data-copy"));
      if (!src) return;
      b.hidden = false;
      b.addEventListener("click", function () {
        var text = src.textContent, shown = b.parentNode.querySelector(".copied");
        function done(ok) { if (shown) shown.textContent = ok ? "Copied to the clipboard." : "Select the command and copy it."; }
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
        } else {
          var r = document.createRange(); r.selectNodeContents(src);
          var s = getSelection(); s.removeAllRanges(); s.addRange(r);
          done(document.execCommand && document.execCommand("copy"));
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    copyButtons();
    var form = document.getElementById("search");
    if (form) searchPage(form);
  });
  window.RatchetSearch = { words: words, shardKey: shardKey, Catalog: Catalog };
})();
