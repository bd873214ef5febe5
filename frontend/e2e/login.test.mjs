// End to end in a real headless Chromium (Debian's, driven by playwright-core) against the real
// API serving the built frontend: log in through the page, see warmup and health fetched in
// parallel and shown, with zero console errors and zero CSP violations.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { startApi } from "../test/api-server.mjs";
import { recordInFlight } from "./in-flight.mjs";

let api;
let browser;

before(async () => {
  api = await startApi();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    // This machine has no network beyond loopback: keep Chromium from reaching out.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await api?.stop();
});

async function openPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const inFlight = recordInFlight(page);
  return { page, consoleErrors, inFlight };
}

async function logIn(page, email, password) {
  await page.goto(`${api.url}/`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

test("logging in shows warmup and health, fetched in parallel, without console errors or CSP violations", async () => {
  const { page, consoleErrors, inFlight } = await openPage();

  await logIn(page, api.demoEmail, api.demoPassword);

  await page.locator('#warmup-panel .status[data-state="ok"]').waitFor();
  await page.locator('#health-panel .status[data-state="ok"]').waitFor();
  assert.equal(await page.locator("#user-email").textContent(), api.demoEmail);
  assert.match(await page.locator("#warmup-panel .status").textContent(), /^Warm/);
  assert.ok((await page.locator("#warmup-panel .steps tbody tr").count()) >= 3);
  assert.match(await page.locator("#health-panel .facts").textContent(), /Database\s*pass/);

  assert.ok(inFlight.overlapped("POST /api/warmup", "GET /api/health"), `in flight together: ${inFlight.events.join(", ")}`);

  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);

  // A reload keeps the session.
  await page.reload();
  await page.locator("#app-view").waitFor({ state: "visible" });
  assert.equal(await page.locator("#user-email").textContent(), api.demoEmail);
  assert.deepEqual(consoleErrors, []);
});

test("a wrong password shows the error and stays on the login form", async () => {
  const { page, consoleErrors } = await openPage();

  await logIn(page, api.demoEmail, "not the password");

  const error = page.locator("#login-error");
  await error.waitFor({ state: "visible" });
  assert.equal(await error.textContent(), "wrong email or password");
  assert.equal(await page.locator("#app-view").isVisible(), false);
  // The 401 itself is logged by Chromium as a failed resource load; nothing else may be.
  assert.deepEqual(consoleErrors.filter((e) => !e.includes("401")), []);
});
