// Drives headless Chromium (Debian's) through the generated marketplace, as a person would:
// home, search with a category facet, a bundle page with its README and copy button, keyboard
// navigation, the page without JavaScript, and a hostile bundle whose payloads must not run.
// With a second site (FACETS_URL, a registry of synthetic bundles with every facet): the
// filters and the URL that keeps them, paging, a typo, keyboard-only use of the search form,
// and the in-browser search against the CLI's answers ($RATCHET_PARITY). Prints one line per
// check and "N passed, N failed"; exits 1 on a failure, after saving a screenshot of it.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require(process.env.RATCHET_PLAYWRIGHT || "playwright-core");

const base = process.argv[2];
const facets = process.argv[3];
if (!base || !base.endsWith("/") || (facets && !facets.endsWith("/"))) {
  console.error("usage: site.cjs SITE_URL/ [FACETS_URL/] (ending in /)");
  process.exit(2);
}
const exe = process.env.RATCHET_TEST_TOOL_CHROMIUM || "/usr/bin/chromium";
const shots = process.env.RATCHET_BROWSER_SHOTS || path.join(os.tmpdir(), "ratchet-browser-shots");
const docShots = process.env.RATCHET_DOC_SHOTS; // set: also save the README's screenshots here
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let passed = 0, failed = 0;
const problems = []; // dialogs, page errors, CSP violations: every one fails the run

function check(cond, what) {
  if (cond) { passed++; console.log("ok: " + what); }
  else { failed++; console.log("FAILED: " + what); const e = new Error(what); e.checked = true; throw e; }
}

async function context(js) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ratchet-chromium-"));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: exe, headless: true, args: ARGS, javaScriptEnabled: js,
    permissions: js ? ["clipboard-read", "clipboard-write"] : [],
    viewport: { width: 1200, height: 900 },
  });
  ctx.on("close", () => {
    try { fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }); } catch (_) { /* left in tmp */ }
  });
  return ctx;
}

function watch(page) {
  page.on("dialog", async (d) => { problems.push("dialog: " + d.message()); await d.dismiss(); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push("CSP: " + m.text());
  });
  page.on("response", (r) => {
    if (new URL(r.url()).origin !== new URL(base).origin) {
      problems.push("request outside the site's origin: " + r.url());
    }
  });
}

// Presses Tab until the focused element matches `sel` (at most `max` times).
async function tabTo(page, sel, max) {
  for (let i = 0; i < max; i++) {
    if (await page.evaluate((s) => document.activeElement && document.activeElement.matches(s), sel)) return true;
    await page.keyboard.press("Tab");
  }
  return page.evaluate((s) => document.activeElement && document.activeElement.matches(s), sel);
}

// The focused element is on screen and drawn with a focus outline.
async function focusVisible(page) {
  return page.evaluate(() => {
    const e = document.activeElement, r = e.getBoundingClientRect(), st = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && r.right > 0 && r.left >= 0 && st.outlineStyle !== "none" && parseFloat(st.outlineWidth) >= 2;
  });
}

async function settled(page, before) {
  await page.waitForFunction((b) => {
    const d = document.getElementById("search").getAttribute("data-done");
    return d !== b && !/Searching/.test(document.getElementById("status").textContent);
  }, before);
}
async function done(page) { return page.getAttribute("#search", "data-done"); }
async function shownIds(page) {
  return page.$$eval("#results li > a", (as) => as.map((a) => decodeURIComponent(a.getAttribute("href").replace(/^b\//, "").replace(/\.html$/, ""))));
}

async function facetChecks(page) {
  // 1. The in-browser search answers as the CLI does.
  const cases = JSON.parse(fs.readFileSync(process.env.RATCHET_PARITY, "utf8"));
  await page.goto(facets + "search.html");
  await page.waitForFunction(() => window.RatchetSearch);
  let same = 0;
  for (const c of cases) {
    const got = await page.evaluate(async (q) => {
      const r = await new window.RatchetSearch.Catalog("../").search(q);
      return r ? { ids: r.hits.map((h) => h.id), total: r.total, relaxed: r.relaxed } : null;
    }, c.query);
    const want = c.expect;
    if (got && JSON.stringify(got.ids) === JSON.stringify(want.ids) && got.total === want.total && got.relaxed === want.relaxed) same++;
    else console.log("differs: " + JSON.stringify(c.query) + "\n  CLI:     " + JSON.stringify(want) + "\n  browser: " + JSON.stringify(got));
  }
  check(same === cases.length, "the browser's search answers " + same + " of " + cases.length + " queries exactly as the CLI (same bundles, order, total)");

  // 2. Paging: 25 widgets, 10 a page; the URL keeps the page.
  await page.goto(facets + "search.html?q=widget");
  await page.locator("#results li").first().waitFor();
  await page.waitForFunction(() => /page 1 of 3/.test(document.getElementById("status").textContent));
  check(await page.locator("#results li").count() === 10 && await page.isDisabled("#prev") && !(await page.isDisabled("#next")),
    "page 1 of 3 shows 10 results; Previous is disabled, Next is not");
  const first = await shownIds(page);
  let b = await done(page);
  await page.click("#next");
  await settled(page, b);
  const second = await shownIds(page);
  check(/[?&]page=2/.test(page.url()) && second.length === 10 && second.every((id) => !first.includes(id)),
    "Next shows page 2 (10 other bundles) and the URL says page=2: " + page.url());
  check(JSON.stringify(second) === JSON.stringify(cases[1].expect.ids), "page 2 holds the CLI's results 11-20");
  b = await done(page);
  await page.click("#next");
  await settled(page, b);
  check(await page.locator("#results li").count() === 5 && await page.isDisabled("#next") && /21–25/.test(await page.textContent("#status")),
    "page 3 shows the last 5 and Next is disabled");
  await page.goto(page.url());
  await page.locator("#results li").first().waitFor();
  check(JSON.stringify(await shownIds(page)) === JSON.stringify(cases[2].expect.ids), "a shared page-3 URL shows page 3");
  b = await done(page);
  await page.fill("#q", "widgets");
  await settled(page, b);
  check(!/[?&]page=/.test(page.url()) && /page 1 of/.test(await page.textContent("#status")), "new words start again at page 1");

  // 3. Filters: each narrows the results, and the URL keeps all of them.
  await page.goto(facets + "search.html?q=widget");
  await page.locator("#results li").first().waitFor();
  const total = async () => parseInt((await page.textContent("#status")).match(/^(\d+) result/)[1], 10);
  let last = await total();
  const narrow = async (what, act) => {
    const before = await done(page);
    await act();
    await settled(page, before);
    const n = await total();
    check(n > 0 && n < last, what + " narrows the results (" + last + " -> " + n + ")");
    last = n;
  };
  await narrow("category devops", () => page.selectOption("#category", "devops"));
  await page.selectOption("#category", "");
  await page.waitForFunction(() => /^25 result/.test(document.getElementById("status").textContent));
  last = 25;
  await narrow("tag json", () => page.fill("#tag", "json"));
  await narrow("author Ada Lovelace", () => page.fill("#author", "Ada Lovelace"));
  await page.fill("#author", ""); await page.fill("#tag", "");
  await page.waitForFunction(() => /^25 result/.test(document.getElementById("status").textContent));
  last = 25;
  await narrow("license Apache-2.0", () => page.selectOption("#license", "Apache-2.0"));
  await narrow("price free", () => page.selectOption("#price", "free"));
  await page.selectOption("#license", ""); await page.selectOption("#price", "");
  await page.waitForFunction(() => /^25 result/.test(document.getElementById("status").textContent));
  last = 25;
  await narrow("verified only", () => page.check("#verified"));
  await narrow("platform linux", () => page.selectOption("#platform", "linux"));
  // All at once: the URL keeps every one, and opening it restores the form and the results.
  b = await done(page);
  await page.fill("#tag", "json");
  await settled(page, b);
  b = await done(page);
  await page.selectOption("#license", "MIT");
  await settled(page, b);
  const url = page.url(), ids = await shownIds(page);
  check(["q=widget", "tag=json", "license=MIT", "verified=1", "platform=linux"].every((p) => url.includes(p)),
    "the URL keeps the words and every filter: " + url);
  check(ids.length > 0 && JSON.stringify(ids.slice().sort()) === JSON.stringify(["com.shop.item-10", "com.shop.item-16", "com.shop.item-20"]),
    "the combined filters keep only matching bundles: " + ids.join(", "));
  await page.goto(url);
  await page.locator("#results li").first().waitFor();
  check(await page.inputValue("#tag") === "json" && await page.inputValue("#license") === "MIT" && await page.isChecked("#verified") &&
    await page.inputValue("#platform") === "linux" && JSON.stringify(await shownIds(page)) === JSON.stringify(ids),
    "the shared URL restores the filters and the same results");
  await page.goto(facets + "search.html?q=widget&price=paid&sort=downloads");
  await page.locator("#results li").first().waitFor();
  const metas = await page.$$eval("#results li .meta", (ps) => ps.map((p) => p.textContent));
  check(await page.inputValue("#price") === "paid" && await page.inputValue("#sort") === "downloads" &&
    metas.length > 0 && metas.every((m) => !/ · free /.test(m)), "price and sort come from the URL (no free bundle listed)");
  const cli = cases.find((c) => c.query.text === "" && c.query.category && c.query.category[0] === "reporting").expect;
  await page.goto(facets + "search.html?category=reporting");
  await page.locator("#results li").first().waitFor();
  check(JSON.stringify(await shownIds(page)) === JSON.stringify(cli.ids), "a category without words lists it as the CLI does");

  // 4. A typo finds what was meant, as in the CLI.
  await page.goto(facets + "search.html");
  b = await done(page);
  await page.type("#q", "spredsheet", { delay: 20 });
  await settled(page, b);
  check(/Widget spreadsheet/.test(await page.textContent("#results")), "the typo `spredsheet` finds the spreadsheet widgets");

  // 5. The search form by keyboard alone: every control in order, a filter changed with the
  // arrow keys, the pager's buttons.
  await page.goto(facets + "search.html?q=widget");
  await page.locator("#results li").first().waitFor();
  const order = [];
  await page.focus("#q");
  for (let i = 0; i < 12; i++) {
    order.push(await page.evaluate(() => document.activeElement.id || document.activeElement.tagName));
    await page.keyboard.press("Tab");
  }
  const want = ["q", "BUTTON", "category", "tag", "author", "license", "price", "platform", "verified", "sort"];
  check(JSON.stringify(order.slice(0, want.length)) === JSON.stringify(want), "Tab visits the search controls in order: " + order.join(" "));
  await page.focus("#category");
  check(await focusVisible(page), "the focused filter is outlined");
  b = await done(page);
  await page.keyboard.press("ArrowDown");
  await settled(page, b);
  check(await page.inputValue("#category") !== "" && /category=/.test(page.url()), "a filter changes with the arrow keys: " + page.url());
  await page.goto(facets + "search.html?q=widget");
  await page.locator("#results li").first().waitFor();
  check(await tabTo(page, "#next", 40), "Tab reaches the Next page button");
  b = await done(page);
  await page.keyboard.press("Enter");
  await settled(page, b);
  check(/[?&]page=2/.test(page.url()), "Enter on Next turns the page");
  if (docShots) {
    await page.goto(facets + "search.html?q=widget&license=MIT&price=max:20");
    await page.locator("#results li").first().waitFor();
    await page.screenshot({ path: path.join(docShots, "site-search.png"), fullPage: true });
  }
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const ctx = await context(true);
  const page = await ctx.newPage();
  watch(page);
  let step = "start";
  try {
    step = "home";
    await page.goto(base + "index.html");
    check(await page.locator("h1").first().textContent() !== "", "home has a title");
    check(await page.locator("a[href='b/com.acme.csv.html']").count() > 0, "home lists a recent bundle");
    if (docShots) await page.screenshot({ path: path.join(docShots, "site-home.png"), fullPage: true });

    step = "search";
    const catalogRequests = [];
    page.on("request", (r) => { if (r.url().includes("/catalog/")) catalogRequests.push(r.url()); });
    await page.fill("#home-q", "csv");
    await Promise.all([page.waitForURL(/search\.html\?q=csv/), page.press("#home-q", "Enter")]);
    await page.locator("#results li").first().waitFor();
    check(/reads and writes csv/i.test(await page.locator("#results").textContent()), "typing `csv` finds the CSV bundle");
    await page.selectOption("#category", "reporting");
    await page.waitForFunction(() => /result/.test(document.getElementById("status").textContent) &&
      !/Reads and writes CSV/.test(document.getElementById("results").textContent));
    check(/Builds reports/.test(await page.locator("#results").textContent()), "the reporting facet keeps only the report bundle");
    check(/[?&]q=csv/.test(page.url()) && /[?&]category=reporting/.test(page.url()), "the URL keeps query and facet: " + page.url());
    // A shared URL restores the same search.
    await page.goto(page.url());
    await page.locator("#results li").first().waitFor();
    check(await page.inputValue("#q") === "csv" && await page.inputValue("#category") === "reporting", "a shared URL restores the search");
    // Results as you type: one more letter, new results without submitting.
    await page.selectOption("#category", "");
    await page.fill("#q", "");
    await page.type("#q", "repo", { delay: 30 });
    await page.waitForFunction(() => /Builds reports/.test(document.getElementById("results").textContent));
    check(true, "results appear while typing a prefix (`repo`)");
    console.log("catalog requests: " + catalogRequests.length);

    step = "bundle page";
    await page.goto(base + "search.html?q=csv");
    await page.locator("#results li a").first().waitFor();
    await Promise.all([page.waitForURL(/b\/com\.acme\.csv\.html$/), page.locator("#results li a", { hasText: "CSV" }).first().click()]);
    check(await page.locator(".readme h1").textContent() === "CSV tools", "the README is rendered (heading)");
    check(await page.locator(".readme table td").count() === 2, "the README is rendered (table)");
    check(await page.locator("svg.chart").count() === 1, "the downloads chart is drawn");
    if (docShots) await page.screenshot({ path: path.join(docShots, "site-bundle.png"), fullPage: true });

    step = "copy button";
    const copy = page.locator("button.copy");
    check(await copy.isVisible(), "the copy button is shown when scripts run");
    await copy.click();
    await page.locator(".copied", { hasText: "Copied" }).waitFor();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    check(clip === "ratchet bundle install com.acme.csv", "the clipboard holds the install command: " + clip);

    step = "keyboard";
    await page.goto(base + "index.html");
    await page.keyboard.press("Tab");
    check(await page.evaluate(() => document.activeElement.textContent) === "Skip to content", "the first Tab reaches the skip link");
    check(await focusVisible(page), "the focused skip link is visible and outlined");
    await page.keyboard.press("Enter");
    check(/#main$/.test(page.url()), "Enter on the skip link goes to the content");
    // Keyboard only: to the search box, a query, a result, the bundle page's copy button.
    check(await tabTo(page, "#home-q", 20), "Tab reaches the home page's search box");
    await page.keyboard.type("csv");
    await Promise.all([page.waitForURL(/search\.html\?q=csv/), page.keyboard.press("Enter")]);
    await page.locator("#results li a").first().waitFor();
    check(await tabTo(page, "#results a[href='b/com.acme.csv.html']", 40), "Tab reaches the first result");
    check(await focusVisible(page), "the focused result link is outlined");
    await Promise.all([page.waitForURL(/b\/com\.acme\.csv\.html$/), page.keyboard.press("Enter")]);
    check(await tabTo(page, "button.copy", 40), "Tab reaches the copy button");
    check(await focusVisible(page), "the focused copy button is outlined");
    await page.keyboard.press("Enter");
    await page.locator(".copied", { hasText: "Copied" }).waitFor();
    check(true, "Enter on the copy button copies");

    step = "control";
    // The detector itself: a page beside the site (written by the test, not generated) whose
    // payload does run must be seen, else "nothing ran" below would prove nothing.
    await page.goto(base + "../xss-control.html");
    await page.waitForTimeout(200);
    check(await page.evaluate(() => window.__xss) === "control" && problems.some((p) => /^dialog: control/.test(p)),
      "the detector sees a payload that runs (control page)");
    problems.length = 0;

    step = "hostile bundle";
    await page.addInitScript(() => { window.__xss = undefined; });
    for (const p of ["b/com.evil.xss.html", "index.html", "search.html?q=hostile", "search.html?q=xss"]) {
      await page.goto(base + p);
      if (p.startsWith("search")) await page.locator("#results li").first().waitFor();
      // Hover, focus and click nothing that navigates: fire the events handlers would use.
      await page.evaluate(() => {
        for (const el of document.querySelectorAll("body *")) {
          for (const t of ["mouseover", "mouseenter", "focus", "animationstart"]) el.dispatchEvent(new Event(t));
        }
      });
      await page.waitForTimeout(200);
      check(await page.evaluate(() => window.__xss) === undefined, "nothing ran on " + p);
    }
    const authors = await page.goto(base + "b/com.evil.xss.html").then(() =>
      page.locator("a[href^='../author/']").first().getAttribute("href"));
    await page.goto(base + "b/" + authors);
    check(await page.evaluate(() => window.__xss) === undefined, "nothing ran on the hostile author's page");
    check(problems.length === 0, "no dialog, page error, CSP violation or foreign request: " + JSON.stringify(problems));

    step = "without JavaScript";
    const plain = await context(false);
    const p2 = await plain.newPage();
    await p2.goto(base + "b/com.acme.csv.html");
    check(await p2.locator(".readme h1").textContent() === "CSV tools", "the bundle page reads without JavaScript");
    check(!(await p2.locator("button.copy").isVisible()), "without JavaScript the copy button stays hidden");
    await p2.goto(base + "search.html");
    check(await p2.locator("noscript, .notice").count() > 0, "the search page says it needs JavaScript");
    await plain.close();

    if (facets) {
      step = "filters";
      await facetChecks(page);
      check(problems.length === 0, "no dialog, page error, CSP violation or foreign request on the facet site: " + JSON.stringify(problems));
    }
  } catch (e) {
    const file = path.join(shots, "failure-" + step.replace(/\W+/g, "-") + ".png");
    try { await page.screenshot({ path: file, fullPage: true }); console.log("screenshot: " + file); } catch (_) {}
    if (!e.checked) { failed++; console.log("FAILED: " + step + ": " + (e && e.stack || e)); }
  } finally {
    await ctx.close();
  }
  console.log(passed + " passed, " + failed + " failed");
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.log("FAILED: " + e); console.log(passed + " passed, 1 failed"); process.exit(1); });
