// The release page in a real headless Chromium against the real API serving the built frontend,
// at a desktop and a phone viewport: after login it names the environment, version, release
// (linked to its commit) and instance, shows this build's changelog highlights, and draws warmup
// and health on one time axis, overlapping. axe-core finds no accessibility violations, the phone
// layout does not scroll sideways, nothing is logged as an error and the CSP blocks nothing.
// Screenshots go to frontend/test-results/ (CI keeps them as an artifact).
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import axe from "axe-core";
import { chromium } from "playwright-core";
import { startApi } from "../test/api-server.mjs";
import { recordInFlight } from "./in-flight.mjs";

const root = resolve(import.meta.dirname, "..", "..");
const screenshots = join(root, "frontend", "test-results");
const COMMIT = "4f1c2e9d0a7b5c3e1f2a4b6c8d0e1f2a3b4c5d6e";
const REPOSITORY = "https://github.com/release-flow/release-flow";
const INSTANCE = "srv-e2e-instance-1";
const version = /\[workspace\.package\][^[]*?version\s*=\s*"([^"]+)"/.exec(readFileSync(join(root, "Cargo.toml"), "utf8"))[1];
// The changelog as plain words, to find the page's highlights in: Markdown's code and emphasis
// marks dropped, and the same from each highlight, whose code spans may hold a literal `*`.
const plainWords = (text) => text.replace(/[`*]/g, "").replace(/\s+/g, " ").trim();
const changelogWords = plainWords(readFileSync(join(root, "CHANGELOG.md"), "utf8"));

let browser;
const apis = [];

before(async () => {
  mkdirSync(screenshots, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    // This machine has no network beyond loopback: keep Chromium from reaching out.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await Promise.all(apis.map((api) => api.stop()));
});

/** A fresh API (its warmup not yet run), configured as Render would with a repository URL. */
async function freshApi() {
  const api = await startApi({ RENDER_GIT_COMMIT: COMMIT, RENDER_INSTANCE_ID: INSTANCE, REPOSITORY_URL: `${REPOSITORY}.git` });
  apis.push(api);
  return api;
}

async function openPage(contextOptions) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const network = recordInFlight(page);
  return { page, consoleErrors, network };
}

async function logIn(page, api) {
  await page.goto(`${api.url}/`);
  await page.getByLabel("Email").fill(api.demoEmail);
  await page.getByLabel("Password").fill(api.demoPassword);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#release .facts").waitFor();
  await page.locator('#warmup-panel .status[data-state="ok"]').waitFor();
  await page.locator('#health-panel .status[data-state="ok"]').waitFor();
  await page.locator("#timeline .lane").nth(1).waitFor();
}

/** axe-core's full default rule set (WCAG 2 A/AA and best practices) on the page as it is. */
async function axeViolations(page) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axe.source);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return results.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

async function facts(page) {
  const terms = await page.locator("#release .facts dt").allTextContents();
  const values = await page.locator("#release .facts dd").allTextContents();
  return Object.fromEntries(terms.map((t, i) => [t, values[i]]));
}

async function checkReleasePage(page, network) {
  // What this release is, the environment in words and as a badge.
  const badge = page.locator("#release-env");
  assert.equal(await badge.textContent(), "Development");
  assert.equal(await badge.getAttribute("data-env"), "development");
  assert.deepEqual(await facts(page), {
    Environment: "Development",
    Version: version,
    Release: COMMIT.slice(0, 12),
    Instance: INSTANCE,
    Service: "release-flow-api",
  });
  const link = page.locator("#release .facts a");
  assert.equal(await link.getAttribute("href"), `${REPOSITORY}/commit/${COMMIT}`);
  assert.equal(await link.getAttribute("title"), `commit ${COMMIT}`);

  // This build's changelog highlights, as text found in CHANGELOG.md.
  const notes = page.locator("#release-notes");
  assert.match(await notes.locator(".source").textContent(), new RegExp(`(not yet released \\(the version still reads ${version.replace(/\./g, "\\.")}\\)|^Version ${version.replace(/\./g, "\\.")})`));
  const kinds = await notes.locator("h3").allTextContents();
  assert.ok(kinds.length >= 1 && kinds.every((k) => /^(Added|Changed|Deprecated|Removed|Fixed|Security|Changes)$/.test(k)), kinds.join());
  const items = await notes.locator("li").allTextContents();
  assert.ok(items.length >= 1);
  for (const item of items) {
    const words = plainWords(item.replace(/…$/, ""));
    assert.ok(words.length > 0 && changelogWords.includes(words), `not in CHANGELOG.md: ${item}`);
  }
  assert.ok((await notes.locator("code").count()) >= 1, "code spans are rendered as <code>");

  // Warmup and health on one axis: both bars drawn, overlapping on screen as on the network.
  const lanes = page.locator("#timeline .lane");
  assert.deepEqual(await lanes.evaluateAll((ls) => ls.map((l) => l.dataset.call)), ["warmup", "health"]);
  assert.match(await page.locator("#timeline .summary").textContent(), /in flight at the same time for [\d.]+ m?s: they ran in parallel/);
  const [warmupBar, healthBar] = await Promise.all(["warmup", "health"].map((c) => page.locator(`#timeline .lane[data-call="${c}"] .bar.call`).boundingBox()));
  assert.ok(warmupBar.width > 0 && healthBar.width > 0, "bars have a width (the CSSOM styles applied)");
  assert.ok(warmupBar.x < healthBar.x + healthBar.width && healthBar.x < warmupBar.x + warmupBar.width, `bars overlap: ${JSON.stringify({ warmupBar, healthBar })}`);
  assert.ok(network.overlapped("POST /api/warmup", "GET /api/health"), `requests in flight together: ${network.events.join(", ")}`);
  assert.ok((await page.locator("#timeline .axis .tick").count()) >= 2);
}

/** The warmup lane's steps, drawn inside the call, one bar and one labelled entry each. */
async function checkWarmupSteps(page) {
  const lane = page.locator('#timeline .lane[data-call="warmup"]');
  const labels = await lane.locator(".step-list li").allTextContents();
  assert.deepEqual(
    labels.map((l) => l.split(":")[0]),
    ["database.schema", "database.connections", "password.hasher"],
  );
  for (const label of labels) assert.match(label, /: [\d.]+ m?s$/);
  const call = await lane.locator(".bar.call").boundingBox();
  const steps = await lane.locator(".bar.step").evaluateAll((bars) => bars.map((b) => b.getBoundingClientRect().toJSON()));
  assert.equal(steps.length, 3);
  for (const step of steps) assert.ok(step.x >= call.x - 1 && step.x + step.width <= call.x + call.width + 1, `step inside its call: ${JSON.stringify({ step, call })}`);
  for (let i = 1; i < steps.length; i++) assert.ok(steps[i].x >= steps[i - 1].x + steps[i - 1].width - 1, "steps one after another");
  assert.match(await page.locator('#timeline .lane[data-call="health"] .step-list').textContent(), /^database probe: [\d.]+ m?s$/);
}

async function checkClean(page, consoleErrors) {
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
}

test("at a desktop width the release page shows the release, its notes and the parallel calls, accessibly", async () => {
  const api = await freshApi();
  const { page, consoleErrors, network } = await openPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${api.url}/`);
  await page.locator("#login-view").waitFor();
  assert.equal(await page.locator("#release").isVisible(), false, "nothing of the release before login");
  assert.deepEqual(await axeViolations(page), [], "login view");

  await logIn(page, api);

  await checkReleasePage(page, network);
  await checkWarmupSteps(page);
  assert.deepEqual(await axeViolations(page), [], "release page");
  await page.screenshot({ path: join(screenshots, "release-page-desktop.png"), fullPage: true });
  await checkClean(page, consoleErrors);
});

test("on a phone the release page fits the screen, and a warm instance's warmup says its steps ran earlier", async () => {
  const api = await freshApi();
  const { page, consoleErrors, network } = await openPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });

  await logIn(page, api);

  await checkReleasePage(page, network);
  await checkWarmupSteps(page);
  const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
  assert.ok(widths.scroll <= widths.inner, `no horizontal scroll: ${JSON.stringify(widths)}`);
  assert.deepEqual(await axeViolations(page), [], "release page on a phone");
  await page.screenshot({ path: join(screenshots, "release-page-phone.png"), fullPage: true });

  // A reload keeps the session and runs both calls again; the instance is warm by now.
  await page.reload();
  await page.locator('#timeline .lane[data-call="warmup"] .note').waitFor();
  assert.match(await page.locator('#timeline .lane[data-call="warmup"] .note').textContent(), /^Answered with warmup run 1's report \(the instance was already warm\)/);
  assert.equal(await page.locator('#timeline .lane[data-call="warmup"] .bar.step').count(), 0);
  await page.locator("#timeline .lane").nth(1).waitFor();
  assert.deepEqual(await axeViolations(page), [], "release page after a reload");
  await checkClean(page, consoleErrors);
});

test("when the release cannot be read the page says so and still draws the calls", async () => {
  const api = await freshApi();
  const { page, consoleErrors } = await openPage({ viewport: { width: 1280, height: 900 } });
  const body = { error: { code: "database_unavailable", message: "the database is unavailable; retry" } };
  await page.route("**/api/release", (route) => route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify(body) }));

  await page.goto(`${api.url}/`);
  await page.getByLabel("Email").fill(api.demoEmail);
  await page.getByLabel("Password").fill(api.demoPassword);
  await page.getByRole("button", { name: "Log in" }).click();

  const error = page.locator("#release .error");
  await error.waitFor({ state: "visible" });
  assert.equal(await error.textContent(), body.error.message);
  assert.equal(await page.locator("#release-env").textContent(), "Environment unknown");
  assert.equal(await page.locator("#release .facts").isVisible(), false);
  await page.locator("#timeline .lane").nth(1).waitFor();
  assert.match(await page.locator("#timeline .summary").textContent(), /they ran in parallel/);
  assert.deepEqual(await axeViolations(page), [], "release page with the release unreadable");
  // The 503 itself is logged by Chromium as a failed resource load; nothing else may be.
  assert.deepEqual(consoleErrors.filter((e) => !e.includes("503")), []);
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
});

test("each environment's badge names it and passes axe-core's contrast checks", async () => {
  const api = await freshApi();
  const { page, consoleErrors } = await openPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  await logIn(page, api);
  for (const [environment, name] of [["staging", "Staging"], ["production", "Production"]]) {
    // The real answer, with the environment another deployment would report.
    await page.unroute("**/api/release");
    await page.route("**/api/release", async (route) => {
      const response = await route.fetch();
      route.fulfill({ response, json: { ...(await response.json()), environment } });
    });
    await page.reload();
    await page.locator(`#release-env[data-env="${environment}"]`).waitFor();
    assert.equal(await page.locator("#release-env").textContent(), name);
    assert.equal((await facts(page)).Environment, name);
    await page.locator("#timeline .lane").nth(1).waitFor();
    assert.deepEqual(await axeViolations(page), [], `${environment} badge`);
  }
  const colours = await page.locator("#release-env").evaluate((e) => getComputedStyle(e).backgroundColor);
  assert.notEqual(colours, "rgba(0, 0, 0, 0)", "the badge has a colour of its own");
  await checkClean(page, consoleErrors);
});
