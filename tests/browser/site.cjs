// Drives headless Chromium (Debian's) through the generated marketplace, as a person would:
// home, search with a category facet, a bundle page with its README and copy button, the page
// without JavaScript, and a hostile bundle whose payloads must not run. Prints one line per
// check and "N passed, N failed"; exits 1 on a failure, after saving a screenshot of it.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require(process.env.RATCHET_PLAYWRIGHT || "playwright-core");

const base = process.argv[2];
if (!base || !base.endsWith("/")) {
  console.error("usage: site.cjs SITE_URL/ (ending in /)");
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
    if (docShots) {
      await page.fill("#q", "csv");
      await page.waitForFunction(() => /Reads and writes CSV/.test(document.getElementById("results").textContent));
      await page.screenshot({ path: path.join(docShots, "site-search.png") });
    }

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
