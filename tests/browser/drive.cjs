// Loads a page in headless Chromium and prints, as one JSON line, what its
// fields show once it says it is done (body[data-done]). Used by
// tests/browser.rs, which checks the values.
//
// usage: NODE_PATH=... node drive.cjs URL CHROMIUM_BINARY
// (CommonJS, so that NODE_PATH finds the driver scripts/node-env.sh installs.)
const { mkdtempSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

const { chromium } = require("playwright-core");

async function main(url, executablePath) {
  // A fresh profile each run, removed after; nothing reaches the network
  // but the page's own server.
  const profile = mkdtempSync(join(tmpdir(), "dotrpc-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    timeout: 30_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.on("console", (message) => console.error(`page console: ${message.text()}`));
    page.on("pageerror", (error) => console.error(`page error: ${error.message}`));
    await page.goto(url, { timeout: 20_000 });
    await page.waitForSelector("body[data-done]", { timeout: 20_000 });
    const shown = await page.evaluate(() => {
      const fields = {};
      for (const field of document.querySelectorAll("dd[id]")) fields[field.id] = field.textContent;
      fields.done = document.body.dataset.done;
      return fields;
    });
    console.log(JSON.stringify(shown));
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const [url, executablePath] = process.argv.slice(2);
if (!url || !executablePath) {
  console.error("usage: node drive.cjs URL CHROMIUM_BINARY");
  process.exit(2);
}
main(url, executablePath).catch((error) => {
  console.error(error);
  process.exit(1);
});
