// ratchet-site: search as you type against the registry's static search catalog
// (index-format.md §10: root, term shards, facet files, summary blocks), answering as
// `ratchet bundle search` does (crates/catalog/src/search.rs: words, prefixes, one typo,
// natural-language filler words, BM25 scores, filters, sorts, pages; the browser test checks
// both give the same answers), and the install command's copy button. Every page works without this file. Nothing from the catalog is ever
// inserted as HTML: results are built with textContent and DOM nodes only.
"use strict";
(function () {
  var STOP = new Set(("an and are as at be by for from has in into is it its of on or that the this to " +
    "with your you we our can will all any use uses using").split(" "));
  var FILLER = new Set(("about after also automatically before could do does each every get help how if " +
    "just like make me my need new old should so some something them then there they their want way " +
    "what when whenever which would").split(" "));
  var MAX_FILE = 256 * 1024;
  // The CLI's constants (crates/catalog/src/search.rs); a listing's pages up to a value's 50th
  // member are the facet heads' inline summaries (§10.2); a text query reads the root and one
  // shard per word.
  var PAGE = 10, PREFIX_MIN = 3, TYPO_MAX_TERMS = 3, TYPO_MIN = 4, NL_MIN = 3;
  var CHUNK = 65536; // ordinals per facet chunk (index-format.md §10.1)
  var HEAD_PAGE = 50; // summaries a facet head carries inline (§10.2)
  var PREFIX_WEIGHT = 0.8, TYPO_WEIGHT = 0.6, K1 = 1.2, B = 0.75;

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
  // The root's split prefixes: a trie string (`acc(t) dev(1)`, root version 2) or a list.
  function splitSet(v) {
    if (Array.isArray(v)) return new Set(v);
    var out = new Set(), open = [], cur = [], cs = Array.from(v || "");
    for (var i = 0; i < cs.length; i++) {
      var c = cs[i];
      if (c === " ") continue;
      if (c === "(") { open.push(cur.length); continue; }
      if (c === ")") { open.pop(); continue; }
      if (open.length) { cur = cur.slice(0, open[open.length - 1]); cur.push(c); }
      else { cur = cs.slice(i, i + 3); i += 2; }
      out.add(cur.join(""));
    }
    return out;
  }
  // A card's facet keys (u32, little-endian, base64url) and a filter value's key (§10.2).
  function cardKeys(s) {
    var a = b64(s), out = new Set();
    for (var i = 0; i + 4 <= a.length; i += 4) out.add((a[i] | (a[i + 1] << 8) | (a[i + 2] << 16) | (a[i + 3] << 24)) >>> 0);
    return out;
  }
  var CARD_FACETS = ["category", "tag", "author", "license"];
  async function facetKey(kind, value) {
    if (!(window.crypto && crypto.subtle)) throw new Error("filters need a browser with Web Crypto (a secure context)");
    if (CARD_FACETS.indexOf(kind) < 0) throw new Error("cards carry no keys of facet " + kind);
    var d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)));
    var h = ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
    return ((CARD_FACETS.indexOf(kind) << 30) | (h >>> 2)) >>> 0;
  }
  // The summary of a posting from its card: [id, name, version, description, license, price,
  // downloads, trend, rating, updated, keys]; pricing, verification and deprecation are the
  // posting's.
  function cardSummary(c, p) {
    if (!Array.isArray(c) || c.length !== 11) throw new Error("a term shard holds a malformed card");
    if (p.model > 3 || (p.flags & 3) === 3) throw new Error("a term shard holds a posting with unknown codes");
    return { ord: p.ord, id: c[0], name: c[1], version: c[2], description: c[3], license: c[4],
      price: c[5], downloads: c[6], trend: c[7], rating: c[8], updated: c[9],
      pricing: ["free", "paid", "freemium", "subscription"][p.model],
      verified: ["none", "community", "official"][Math.min(p.flags & 3, 2)],
      deprecated: Boolean(p.flags & 4) };
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
      out.push({ ord: ord, wtf: a[p], bucket: a[p + 1], flags: a[p + 2], model: a[p + 3],
        price: a[p + 4] | (a[p + 5] << 8), downloads: a[p + 6] | (a[p + 7] << 8), rating: a[p + 8],
        trend: a[p + 9] > 127 ? a[p + 9] - 256 : a[p + 9], updated: a[p + 10] | (a[p + 11] << 8),
        nameKey: a[p + 12] | (a[p + 13] << 8) });
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
    if (!this.cache.has(path)) {
      this.requests++;
      this.cache.set(path, fetch(this.base + "catalog/" + path).then(function (r) {
        if (r.status === 404) return null;
        if (!r.ok) throw new Error(path + ": HTTP " + r.status);
        return r.text().then(function (t) {
          if (t.length > MAX_FILE) throw new Error(path + ": larger than a reader accepts");
          var j = JSON.parse(t);
          var known = path === "root.json" ? [1, 2] : path.startsWith("terms/") ? [2] : path.startsWith("facets/") ? [3] : [1];
          if (known.indexOf(j.v) < 0) throw new Error(path + ": unknown catalog format");
          return j;
        });
      }));
    }
    return this.cache.get(path);
  };

  // The query's terms, as the CLI cuts them (crates/catalog search.rs, §10.6): natural-language
  // queries of 3+ indexed words lose their filler words; each word matches its folded form;
  // the last one, typed without a trailing space, also as a raw prefix (3+ characters); in a
  // query of at most 3 terms, a term of 4+ characters also with one typo.
  function rawWords(text) {
    return text.split(/[^\p{Alphabetic}\p{N}]+/u).filter(function (w) { return w; }).map(function (w) { return w.toLowerCase(); });
  }
  function chars(w) { return Array.from(w).length; }
  function indexed(w) { var n = chars(w); return n >= 2 && n <= 40 && !STOP.has(w); }
  function termsOf(raw, openEnd) {
    var out = [];
    raw.forEach(function (w, i) {
      var last = i + 1 === raw.length && openEnd;
      var exact = indexed(w) ? normalise(w) : null;
      var prefix = last && chars(w) >= PREFIX_MIN ? w : null;
      if (exact === null && prefix === null) return;
      if (prefix === null && out.some(function (q) { return q.exact !== null && q.exact === exact; })) return;
      out.push({ exact: exact, prefix: prefix, typo: false });
    });
    if (out.length <= TYPO_MAX_TERMS) out.forEach(function (q) { q.typo = q.exact !== null && chars(q.exact) >= TYPO_MIN; });
    return out;
  }
  function queryTerms(text) {
    var raw = rawWords(text);
    var openEnd = /[\p{Alphabetic}\p{N}]$/u.test(text);
    if (raw.filter(indexed).length >= NL_MIN) {
      var last = raw[raw.length - 1];
      var kept = raw.filter(function (w) { return !FILLER.has(w); });
      if (kept.some(indexed)) {
        var lastKept = kept[kept.length - 1] === last;
        raw = kept;
        if (!lastKept) return termsOf(raw, false);
      }
    }
    return termsOf(raw, openEnd);
  }
  // One insertion, deletion or substitution apart (Levenshtein distance exactly 1).
  function oneEdit(a, b) {
    var x = Array.from(a), y = Array.from(b), i = 0, j;
    if (x.length < y.length) { var t = x; x = y; y = t; }
    if (x.length - y.length > 1) return false;
    while (i < y.length && x[i] === y[i]) i++;
    if (x.length === y.length) {
      if (i === x.length) return false; // equal
      for (j = i + 1; j < x.length; j++) if (x[j] !== y[j]) return false;
      return true;
    }
    for (j = i; j < y.length; j++) if (x[j + 1] !== y[j]) return false;
    return true;
  }
  function idf(n, df) { df = Math.min(df, n); return Math.log(1 + (n - df + 0.5) / (df + 0.5)); }
  function termScore(p, df, root) {
    var tf = p.wtf / 2, len = (Math.exp(p.bucket / 20) - 1) / 2;
    var avg = root.docs ? Math.max(1, root.total_len / 2 / root.docs) : 1;
    return idf(root.docs, df) * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len / avg));
  }
  var PLATFORM_BIT = { linux: 1, macos: 2, windows: 4 };
  function passes(p, q) {
    if (q.verified && (p.flags & 3) === 0) return false;
    if (q.hideDeprecated && (p.flags & 4)) return false;
    if (q.platform && ((p.flags >> 3) & PLATFORM_BIT[q.platform]) === 0) return false;
    if (q.price === "free") return p.model === 0;
    if (q.price === "paid") return p.model !== 0;
    if (q.maxPrice !== null) return p.model === 0 || p.model === 2 || p.price <= q.maxPrice;
    return true;
  }
  var SORTS = {
    downloads: function (p) { return p.downloads; }, rating: function (p) { return p.rating; },
    updated: function (p) { return p.updated; }, trending: function (p) { return p.trend; },
  };

  // q: {text, category, tag, author, license: [values]; price: "free"|"paid"|null; maxPrice:
  // number|null; verified, hideDeprecated: bool; platform; sort; offset; limit}. Resolves to
  // {hits: summaries of the page, total, capped, relaxed}, as `ratchet bundle search` answers.
  Catalog.prototype.search = async function (q) {
    var self = this;
    var limit = q.limit || PAGE, offset = q.offset || 0;
    q = Object.assign({}, q, { maxPrice: typeof q.maxPrice === "number" ? q.maxPrice : null });
    var root = await this.get("root.json");
    if (!root) throw new Error("the registry has no search catalog");
    if (typeof root.docs !== "number" || typeof root.slots !== "number") throw new Error("root.json: malformed");
    var split = splitSet(root.split);
    var qterms = queryTerms(q.text || "");
    var norm = function (v) { return v.trim().toLowerCase(); };
    var groups = [];
    [["category", (q.category || []).map(norm)], ["tag", (q.tag || []).map(norm)],
      ["author", (q.author || []).map(norm)], ["license", (q.license || []).map(function (v) { return v.trim(); })]]
      .forEach(function (kv) {
        var vs = kv[1].filter(function (v) { return v; });
        if (vs.length) groups.push(vs.map(function (v) { return [kv[0], v]; }));
      });
    var text = qterms.length > 0;
    if (!text) {
      if ((q.text || "").trim() && !groups.length) return { hits: [], total: 0, capped: false, relaxed: false };
      if (q.verified) groups.push([["verified", "community"], ["verified", "official"]]);
      if (q.platform) groups.push([["platform", q.platform]]);
      if (q.price === "free") groups.push([["pricing", "free"]]);
      else if (q.price === "paid") groups.push([["pricing", "paid"], ["pricing", "freemium"], ["pricing", "subscription"]]);
      else if (q.maxPrice !== null) throw new Error("a price limit needs search words (prices are in the postings)");
      if (!groups.length) return null;
      if (q.sort && q.sort !== "relevance") throw new Error("a listing without search words is in publish order; other sorts need words");
    }
    // Round 2: one term shard per word (its own term's), or for a listing the facet heads.
    var qkey = function (t) { return shardKey(t.exact !== null ? t.exact : t.prefix, split); };
    var keys = [];
    qterms.forEach(function (t) { var k = qkey(t); if (keys.indexOf(k) < 0) keys.push(k); });
    var pairs = [], seen = new Set();
    if (!text) groups.forEach(function (g) { g.forEach(function (p) { var s = p[0] + "\n" + p[1]; if (!seen.has(s)) { seen.add(s); pairs.push(p); } }); });
    var hashes = await Promise.all(pairs.map(function (p) { return sha16(p[1]); }));
    var got = await Promise.all(keys.map(function (k) { return self.get("terms/" + keyFile(k) + ".json"); })
      .concat(pairs.map(function (p, i) { return self.get("facets/" + p[0] + "/" + hashes[i] + ".json"); })));
    var shards = new Map();
    keys.forEach(function (k, i) { shards.set(k, got[i] ? got[i].terms : []); });
    var inline = new Map(), heads = new Map(), keysOf = new Map();
    pairs.forEach(function (p, i) {
      var f = got[keys.length + i];
      if (f) {
        heads.set(p[0] + "\n" + p[1], f);
        (f.s || []).forEach(function (s) { if (!inline.has(s.ord)) inline.set(s.ord, s); });
      }
    });
    var capped = false, relaxed = false, ranked = [], perTerm = [];
    if (text) {
      perTerm = qterms.map(function (qt) {
        var m = new Map();
        [qkey(qt)].forEach(function (k) {
          (shards.get(k) || []).forEach(function (t) {
            var w;
            if (qt.exact === t.t) w = 1;
            else if (qt.prefix !== null && t.t.startsWith(qt.prefix)) w = PREFIX_WEIGHT;
            else if (qt.typo && oneEdit(qt.exact, t.t)) w = TYPO_WEIGHT;
            else return;
            var ps = postings(t.p);
            if (t.df > ps.length) capped = true;
            if (!Array.isArray(t.c) || t.c.length !== ps.length) throw new Error("a term shard has a card missing");
            ps.forEach(function (p, i) {
              if (!inline.has(p.ord)) { inline.set(p.ord, cardSummary(t.c[i], p)); keysOf.set(p.ord, cardKeys(t.c[i][10])); }
            });
            ps.forEach(function (p) {
              if (!passes(p, q)) return;
              var sc = w * termScore(p, t.df, root), e = m.get(p.ord);
              if (!e) m.set(p.ord, [sc, p]);
              else if (sc > e[0]) e[0] = sc;
            });
          });
        });
        return m;
      });
    }
    // A text query filters by its cards' facet keys; it reads no facet file.
    if (text && groups.length) {
      var want = await Promise.all(groups.map(function (g) {
        return Promise.all(g.map(function (p) { return facetKey(p[0], p[1]); }));
      }));
      perTerm.forEach(function (m) {
        m.forEach(function (v, o) {
          var have = keysOf.get(o);
          if (!have || !want.every(function (g) { return g.some(function (k) { return have.has(k); }); })) m.delete(o);
        });
      });
    }
    // Round 3, for a listing: the facet chunks (§10.6). A listing of one value whose page is
    // the head's inline first page needs none, nor one of several values of `verified` or
    // `pricing` within the first 50; otherwise the chunks every group may hold.
    var firstPage = null;
    if (!text && groups.length === 1 && groups[0].length === 1) {
      var h0 = heads.get(groups[0][0][0] + "\n" + groups[0][0][1]);
      if (!h0) firstPage = [[], 0];
      else if (offset + limit <= (h0.s || []).length || (h0.s || []).length === h0.count) {
        firstPage = [(h0.s || []).map(function (s) { return s.ord; }), h0.count];
      }
    }
    if (!text && groups.length === 1 && groups[0].length > 1 &&
        groups[0].every(function (p) { return p[0] === "verified" || p[0] === "pricing"; })) {
      var hs = groups[0].map(function (p) { return heads.get(p[0] + "\n" + p[1]); }).filter(Boolean);
      var complete = hs.every(function (h) { return (h.s || []).length === h.count; });
      if (complete || offset + limit <= HEAD_PAGE) {
        var u = new Set();
        hs.forEach(function (h) { (h.s || []).forEach(function (s) { u.add(s.ord); }); });
        var ords = Array.from(u).sort(function (a, b) { return a - b; });
        if (!complete) ords = ords.slice(0, HEAD_PAGE);
        firstPage = [ords, hs.reduce(function (n, h) { return n + h.count; }, 0)];
      }
    }
    var allowed = null;
    if (!text && firstPage === null && groups.length) {
      var wanted = null;
      groups.forEach(function (g) {
        var u = new Set();
        g.forEach(function (p) { var h = heads.get(p[0] + "\n" + p[1]); if (h) h.chunks.forEach(function (c) { u.add(c[0]); }); });
        wanted = wanted === null ? u : new Set(Array.from(wanted).filter(function (c) { return u.has(c); }));
      });
      // A head whose inline first page holds every member (50 or fewer) needs no chunk.
      var reqs = [], sets = new Map();
      pairs.forEach(function (p, i) {
        var h = heads.get(p[0] + "\n" + p[1]);
        if (h && (h.s || []).length === h.count) { sets.set(p[0] + "\n" + p[1], h.s.map(function (s) { return s.ord; })); return; }
        if (h) h.chunks.forEach(function (c) {
          if (wanted.has(c[0])) reqs.push([p, c[0], self.get("facets/" + p[0] + "/" + hashes[i] + "/" + c[0] + ".json")]);
        });
      });
      var chunks = await Promise.all(reqs.map(function (r) { return r[2]; }));
      reqs.forEach(function (r, i) {
        var k = r[0][0] + "\n" + r[0][1], f = chunks[i];
        if (!f) return;
        if (f.kind !== r[0][0] || f.value !== r[0][1] || f.chunk !== r[1]) throw new Error("a facet chunk holds another value or chunk");
        if (!sets.has(k)) sets.set(k, []);
        var base = r[1] * CHUNK;
        set(f.docs).forEach(function (o) { sets.get(k).push(base + o); });
      });
      groups.forEach(function (g) {
        var u = new Set();
        g.forEach(function (p) { (sets.get(p[0] + "\n" + p[1]) || []).forEach(function (o) { u.add(o); }); });
        if (allowed === null) allowed = u;
        else allowed = new Set(Array.from(allowed).filter(function (o) { return u.has(o); }));
      });
    }
    if (text) {
      var n = perTerm.length;
      var need = n >= NL_MIN ? Math.max(2, Math.ceil(n * 0.5)) : n;
      var combine = function (need) {
        var acc = new Map();
        perTerm.forEach(function (m) {
          m.forEach(function (v, o) {
            var e = acc.get(o);
            if (!e) acc.set(o, [1, v[0], v[1]]); else { e[0]++; e[1] += v[0]; }
          });
        });
        var out = [];
        acc.forEach(function (e, o) { if (e[0] >= need) out.push([o, e[1] * (e[2].flags & 4 ? 0.5 : 1), e[2]]); });
        return out;
      };
      ranked = combine(need);
      for (var level = need; !ranked.length && level > 1;) { level--; ranked = combine(level); relaxed = ranked.length > 0; }
      var byScore = function (a, b) { return b[1] - a[1] || a[0] - b[0]; };
      var key = SORTS[q.sort];
      if (q.sort === "name") ranked.sort(function (a, b) { return a[2].nameKey - b[2].nameKey || byScore(a, b); });
      else if (key) ranked.sort(function (a, b) { return key(b[2]) - key(a[2]) || byScore(a, b); });
      else ranked.sort(byScore);
    }
    var listing = text ? ranked.map(function (r) { return r[0]; })
      : firstPage ? firstPage[0] : Array.from(allowed).sort(function (a, b) { return a - b; });
    var total = firstPage ? firstPage[1] : listing.length;
    var page = listing.slice(offset, offset + limit);
    var hits = await this.summaries(page, inline);
    if (hits.length !== page.length) throw new Error("the catalog is inconsistent: a result has no summary");
    return { hits: hits, total: total, capped: capped, relaxed: relaxed };
  };
  Catalog.prototype.summaries = async function (ords, known) {
    var self = this, blocks = new Set();
    ords.forEach(function (o) { if (!known.has(o)) blocks.add(Math.floor(o / 8)); });
    var got = await Promise.all(Array.from(blocks).map(function (b) { return self.get("docs/" + b + ".json"); }));
    got.forEach(function (b) { if (b) b.docs.forEach(function (s) { if (!known.has(s.ord)) known.set(s.ord, s); }); });
    return ords.map(function (o) { return known.get(o); }).filter(Boolean);
  };

  async function sha16(text) {
    if (!(window.crypto && crypto.subtle)) throw new Error("filters need a browser with Web Crypto (a secure context)");
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

  // The form's fields and their URL parameters (the same names, so a plain form submission
  // and the script give the same shareable URL).
  var FIELDS = ["q", "category", "tag", "author", "license", "price", "verified", "platform", "sort"];

  function searchPage(form) {
    var f = {};
    FIELDS.forEach(function (n) { f[n] = form.querySelector("[name='" + n + "']"); });
    var status = document.getElementById("status"), list = document.getElementById("results");
    var pager = document.getElementById("pager"), prev = document.getElementById("prev"), next = document.getElementById("next");
    var cat_ = new Catalog(form.getAttribute("data-registry") || "../");
    var params = new URLSearchParams(location.search);
    FIELDS.forEach(function (n) {
      var v = params.get(n), e = f[n];
      if (!e || v === null) return;
      if (e.type === "checkbox") e.checked = v === "1" || v === "true" || v === "on";
      else if (e.tagName === "SELECT" && !Array.from(e.options).some(function (o) { return o.value === v; })) {
        e.appendChild(el("option", null, v)).value = v; e.value = v;
      } else e.value = v;
    });
    var pageNo = Math.max(1, Math.min(1000, parseInt(params.get("page"), 10) || 1));
    var seq = 0, timer = null;
    function value(n) { var e = f[n]; return !e ? "" : e.type === "checkbox" ? (e.checked ? "1" : "") : e.value; }
    async function run() {
      var my = ++seq;
      var url = new URL(location.href);
      FIELDS.concat(["page"]).forEach(function (n) { url.searchParams.delete(n); });
      FIELDS.forEach(function (n) { if (value(n)) url.searchParams.set(n, value(n)); });
      if (pageNo > 1) url.searchParams.set("page", String(pageNo));
      history.replaceState(null, "", url.pathname + url.search);
      var price = value("price"), max = /^max:(\d+(\.\d+)?)$/.exec(price);
      var one = function (n) { return value(n).trim() ? [value(n)] : []; };
      var q = {
        text: value("q"), category: one("category"), tag: one("tag"), author: one("author"), license: one("license"),
        price: price === "free" || price === "paid" ? price : null, maxPrice: max ? parseFloat(max[1]) : null,
        verified: value("verified") === "1", platform: value("platform") || null, sort: value("sort") || "relevance",
        offset: (pageNo - 1) * PAGE, limit: PAGE,
      };
      status.textContent = "Searching…";
      try {
        var r = await cat_.search(q);
        if (my !== seq) return;
        list.textContent = "";
        if (r === null) { status.textContent = "Type to search, or choose a filter."; pager.hidden = true; form.setAttribute("data-done", String(my)); return; }
        r.hits.forEach(function (s) {
          var li = el("li", "card"), a = el("a", null, s.name);
          a.href = "b/" + encodeURIComponent(s.id) + ".html";
          li.appendChild(a);
          li.appendChild(document.createTextNode(" "));
          li.appendChild(el("span", "ver", s.version));
          if (s.verified === "official") { li.appendChild(document.createTextNode(" ")); li.appendChild(el("span", "badge official", "Officially verified")); }
          if (s.verified === "community") { li.appendChild(document.createTextNode(" ")); li.appendChild(el("span", "badge community", "Community verified")); }
          if (s.deprecated) { li.appendChild(document.createTextNode(" ")); li.appendChild(el("span", "badge deprecated", "Deprecated")); }
          li.appendChild(el("p", null, s.description));
          var price = s.price ? " " + s.price.amount + " " + s.price.currency : "";
          li.appendChild(el("p", "meta", s.license + " · " + s.pricing + price + " · " + s.downloads + " download(s)"));
          list.appendChild(li);
        });
        var from = (pageNo - 1) * PAGE;
        var words = r.total + " result(s)" + (r.capped ? " or more" : "");
        if (r.total > PAGE) words += ", " + (r.hits.length ? (from + 1) + "–" + (from + r.hits.length) : "none") + " shown (page " + pageNo + " of " + Math.max(1, Math.ceil(r.total / PAGE)) + ")";
        if (r.relaxed) words += "; no bundle matches every word, so those matching most are shown";
        status.textContent = words + ".";
        prev.disabled = pageNo <= 1;
        next.disabled = from + PAGE >= r.total;
        pager.hidden = r.total <= PAGE && pageNo === 1;
        form.setAttribute("data-done", String(my)); // for tests and the benchmark
      } catch (e) {
        if (my === seq) { list.textContent = ""; pager.hidden = true; status.textContent = "Search failed: " + e.message; }
      }
    }
    function fresh() { pageNo = 1; run(); }
    function later() { clearTimeout(timer); timer = setTimeout(fresh, 120); }
    FIELDS.forEach(function (n) {
      var e = f[n];
      if (!e) return;
      if (e.tagName === "SELECT" || e.type === "checkbox") e.addEventListener("change", fresh);
      else e.addEventListener("input", later);
    });
    prev.addEventListener("click", function () { if (pageNo > 1) { pageNo--; run(); } });
    next.addEventListener("click", function () { pageNo++; run(); });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); clearTimeout(timer); fresh(); });
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
  window.RatchetSearch = { words: words, queryTerms: queryTerms, oneEdit: oneEdit, shardKey: shardKey, Catalog: Catalog };
})();
