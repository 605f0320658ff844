// The in-browser search benchmark: `node tests/browser/bench.cjs SITE_URL/` (RATCHET_PLAYWRIGHT
// names playwright-core). For each query, loads search.html, types the query, and measures from
// the last keystroke to the rendered results (the script waits 120 ms after a keystroke before
// searching, included) and the catalog requests made; first on a fresh page (root not yet
// fetched), then the same query again on that page after clearing it (warm cache). Prints one
// JSON object.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require(process.env.RATCHET_PLAYWRIGHT || "playwright-core");
const base = process.argv[2];
const queries = JSON.parse(process.argv[3] || '[["csv",""],["deploy kubernetes",""],["report","data"]]');
(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ratchet-chromium-"));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.RATCHET_TEST_TOOL_CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const out = [];
  for (const [q, cat] of queries) {
    const page = await ctx.newPage();
    let requests = 0, bytes = 0;
    page.on("request", (r) => { if (r.url().includes("/catalog/")) requests++; });
    page.on("response", async (r) => { if (r.url().includes("/catalog/")) { try { bytes += (await r.body()).length; } catch (_) {} } });
    await page.goto(base + "search.html" + (cat ? "?category=" + encodeURIComponent(cat) : ""));
    await page.waitForLoadState("networkidle");
    const measure = async () => {
      const before = await page.getAttribute("#search", "data-done");
      requests = 0; bytes = 0;
      await page.type("#q", q.slice(0, -1));
      const t0 = Date.now();
      await page.keyboard.type(q.slice(-1));
      await page.waitForFunction((b) => {
        const d = document.getElementById("search").getAttribute("data-done");
        return d !== b && /result/.test(document.getElementById("status").textContent);
      }, before, { polling: 5 });
      const ms = Date.now() - t0;
      const results = await page.locator("#results li").count();
      return { ms, requests, bytes, results, status: await page.textContent("#status") };
    };
    const cold = await measure();
    await page.fill("#q", "");
    await page.waitForTimeout(300);
    const warm = await measure();
    out.push({ query: q, category: cat, cold, warm });
    await page.close();
  }
  await ctx.close();
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
