// The README's screenshots: `node tests/browser/screenshots.cjs SITE_URL/ OUT_DIR` with
// RATCHET_PLAYWRIGHT naming playwright-core (tests/browser/run.sh installs it). Takes the home
// page, a search with a category filter and a bundle page of the sample registry's site.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require(process.env.RATCHET_PLAYWRIGHT || "playwright-core");
const [base, out] = process.argv.slice(2);
(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ratchet-chromium-"));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.RATCHET_TEST_TOOL_CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    viewport: { width: 1100, height: 820 },
  });
  const page = await ctx.newPage();
  await page.goto(base + "index.html");
  await page.screenshot({ path: path.join(out, "site-home.png") });
  await page.goto(base + "search.html?q=json&category=data");
  await page.locator("#results li").first().waitFor();
  await page.screenshot({ path: path.join(out, "site-search.png") });
  await page.goto(base + "b/com.example.data-processing.html");
  await page.screenshot({ path: path.join(out, "site-bundle.png"), fullPage: true });
  await ctx.close();
})().catch((e) => { console.error(e); process.exit(1); });
