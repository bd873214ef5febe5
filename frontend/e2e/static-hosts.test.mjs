// The static frontend as shipped, on each static host emulated locally for real, in the real
// topology (frontend/e2e/hosts/topology.mjs): the page on release-flow-web-staging.onrender.com,
// the API on release-flow-api-staging.onrender.com (two sites: onrender.com is a public suffix),
// over TLS, the API with staging's settings. The page reaches the API through its own origin's
// /api/*, which the host proxies, so the `__Host-` session cookie is first-party.
// Hosts: Render's static site (nginx generated from the Blueprint by `edge-policy nginx`) and
// Cloudflare Pages (`wrangler pages dev`). Netlify's local server is not run: see
// docs/RELEASE_FLOW.md ("Static hosts, locally").
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import https from "node:https";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";
import {
  API_HOST,
  WEB_HOST,
  loopbackNet,
  makeCertificates,
  renderEdgeConf,
  root,
  startCloudflarePages,
  startNginx,
  startRenderStatic,
  startStagingApi,
  tempDir,
} from "./hosts/topology.mjs";
import { join } from "node:path";
import { recordInFlight } from "./in-flight.mjs";

const dist = join(root, "frontend", "dist");
const ip = loopbackNet();
const address = { render: ip(2), apiEdge: ip(3), apiPlain: ip(4), balancer: ip(5), cloudflare: ip(6) };

let work;
let tls;
let api;
let apiEdge;
let renderStatic;
let cloudflare;

before(async () => {
  work = tempDir();
  tls = makeCertificates(work.dir, [WEB_HOST, API_HOST]);
  api = await startStagingApi();
  const prefix = join(work.dir, "api-edge");
  apiEdge = await startNginx(
    work.dir,
    "api-edge",
    renderEdgeConf({ prefix, tls, edge: address.apiEdge, plain: address.apiPlain, balancer: address.balancer, apiPort: api.port }),
    [[address.apiEdge, 443], [address.apiPlain, 80], [address.balancer, 80]],
  );
  renderStatic = await startRenderStatic(work.dir, { tls, listen: address.render, apiEdge: address.apiEdge, dist });
});

after(async () => {
  await cloudflare?.stop();
  await renderStatic?.stop();
  await apiEdge?.stop();
  await api?.stop();
  work?.remove();
});

/** One HTTPS request to `host` at `at`:443, verified against the test CA, from `from` if given. */
function request(at, host, path, { method = "GET", headers = {}, body, from } = {}) {
  return new Promise((ok, fail) => {
    const req = https.request(
      { host: at, port: 443, servername: host, ca: readFileSync(tls.ca), method, path, headers: { host, ...headers }, localAddress: from },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => ok({ status: res.statusCode, headers: res.headers, body: text }));
      },
    );
    req.on("error", fail);
    req.end(body);
  });
}

/** What every host must do with paths (the assets of this build are read from dist/index.html). */
async function checkPaths(at) {
  const index = await request(at, WEB_HOST, "/");
  assert.equal(index.status, 200);
  // The policy's document headers, as the API sends them: HSTS (RFC 6797 §6.1), the CSP with
  // the inline script's hash, nosniff, no framing.
  assert.match(index.headers["strict-transport-security"] ?? "", /^max-age=31536000/);
  assert.match(index.headers["content-security-policy"] ?? "", /script-src 'self' 'sha256-/);
  assert.equal(index.headers["x-content-type-options"], "nosniff");
  assert.equal(index.headers["x-frame-options"], "DENY");
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(index.body)?.[1];
  assert.ok(asset, "index.html names its script");

  // RFC 9111 §5.2.2 / RFC 8246: an asset that exists is immutable for a year.
  const existing = await request(at, WEB_HOST, asset);
  assert.equal(existing.status, 200);
  assert.match(existing.headers["cache-control"] ?? "", /immutable/);

  // RFC 9110 §15.5.5: a hashed asset this deploy lacks is 404 Not Found, not the SPA's HTML,
  // and never stored as immutable (RFC 9111 §3: nothing marks it fresh for a year).
  const missing = await request(at, WEB_HOST, "/assets/index-0ld0ld.js");
  assert.equal(missing.status, 404, `missing asset: ${missing.status} ${missing.headers["content-type"]}`);
  assert.doesNotMatch(missing.body, /<div id="app"|login-form/);
  assert.doesNotMatch(missing.headers["cache-control"] ?? "", /immutable/);

  // A deep link is the SPA (RFC 9110 §15.3.1: 200 with index.html).
  const deep = await request(at, WEB_HOST, "/releases/42");
  assert.equal(deep.status, 200);
  assert.match(deep.body, /login-form/);

  // /api/* is the API's own answer through the site's origin (JSON, no-store).
  const health = await request(at, WEB_HOST, "/api/health");
  assert.equal(health.status, 200, health.body);
  assert.match(health.headers["content-type"] ?? "", /^application\/(health\+)?json/);
  assert.equal(health.headers["cache-control"], "no-store");
}

/** Log in, warmup ∥ health, reload keeps the session, logout ends it; no console error, no CSP violation. */
async function browse(at) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
      // DNS as in production, to loopback: the page's host to the static host, the API's to its edge.
      `--host-resolver-rules=MAP ${WEB_HOST} ${at}, MAP ${API_HOST} ${address.apiEdge}, EXCLUDE localhost`,
      // The test CA's leaf is trusted as a real certificate would be: a secure context, so
      // `Secure` and `__Host-` cookies behave as in production (RFC 6265bis §4.1.3.2).
      `--ignore-certificate-errors-spki-list=${tls.spki}`,
    ],
  });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const consoleErrors = [];
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const hosts = new Map();
    page.on("requestfinished", (r) => hosts.set(`${r.method()} ${new URL(r.url()).pathname}`, new URL(r.url()).host));
    const inFlight = recordInFlight(page);

    await page.goto(`https://${WEB_HOST}/`);
    await page.getByLabel("Email").fill(api.email);
    await page.getByLabel("Password").fill(api.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.locator('#warmup-panel .status[data-state="ok"]').waitFor();
    await page.locator('#health-panel .status[data-state="ok"]').waitFor();
    assert.equal(await page.locator("#user-email").textContent(), api.email);

    assert.equal(hosts.get("POST /api/warmup"), WEB_HOST, "the API is called through the page's own origin");
    assert.equal(hosts.get("GET /api/health"), WEB_HOST, "the API is called through the page's own origin");
    assert.ok(inFlight.overlapped("POST /api/warmup", "GET /api/health"), `in parallel: ${inFlight.events.join(", ")}`);

    const cookies = await context.cookies(`https://${WEB_HOST}/`);
    const session = cookies.find((c) => c.name.startsWith("__Host-"));
    assert.ok(session, `a __Host- session cookie on the page's origin: ${JSON.stringify(cookies)}`);
    assert.equal(session.secure, true);
    assert.equal(session.domain, WEB_HOST);

    await page.reload();
    await page.locator("#app-view").waitFor({ state: "visible" });
    assert.equal(await page.locator("#user-email").textContent(), api.email);

    await page.locator("#logout").click();
    await page.locator("#login-view").waitFor({ state: "visible" });
    await page.reload();
    await page.locator("#login-view").waitFor({ state: "visible" });
    assert.equal(await page.locator("#app-view").isVisible(), false, "logged out after a reload");

    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
  } finally {
    await browser.close();
  }
}

describe("Render static site (nginx generated from the Blueprint)", () => {
  test("missing assets are 404 (RFC 9110 §15.5.5), deep links get the SPA, /api/* reaches the API", async () => {
    await checkPaths(address.render);
  });

  test("login limits key on the client behind the static site's proxy and Render's two (RFC 7239 §5.2 list order)", async () => {
    api.addressBuckets();
    const client = ip(77);
    const body = JSON.stringify({ email: "nobody@example.com", password: "not the password" });
    const res = await request(address.render, WEB_HOST, "/api/auth/login", {
      method: "POST",
      from: client,
      // What the client writes itself is left of what the static site's proxy appends: never read.
      headers: { "content-type": "application/json", origin: `https://${WEB_HOST}`, "content-length": Buffer.byteLength(body), "x-forwarded-for": "6.6.6.6" },
      body,
    });
    assert.equal(res.status, 401, res.body);
    assert.deepEqual(api.addressBuckets(), [client]);
  });

  test("a caller of the API host directly is keyed on its own address, whatever it writes (forwarded_for_networks)", async () => {
    api.addressBuckets();
    const caller = ip(79);
    const body = JSON.stringify({ email: "nobody@example.com", password: "not the password" });
    const res = await request(address.apiEdge, API_HOST, "/api/auth/login", {
      method: "POST",
      from: caller,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), "x-forwarded-for": "6.6.6.6, 203.0.113.9" },
      body,
    });
    assert.equal(res.status, 401, res.body);
    assert.deepEqual(api.addressBuckets(), [caller]);
  });

  test("in Chromium over TLS: log in, warmup ∥ health, reload, log out", async () => {
    await browse(address.render);
  });
});

describe("Cloudflare Pages (wrangler pages dev, the emitted Pages Function)", () => {
  before(async () => {
    cloudflare = await startCloudflarePages(work.dir, { tls, listen: address.cloudflare, apiEdgePlain: address.apiPlain, dist });
  });

  test("missing assets are 404 (RFC 9110 §15.5.5), deep links get the SPA, /api/* reaches the API", async () => {
    await checkPaths(address.cloudflare);
  });

  test("the Function passes the client as CF-Connecting-IP names it (RFC 7239 §5.2 list order)", async () => {
    api.addressBuckets();
    const body = JSON.stringify({ email: "nobody@example.com", password: "not the password" });
    const res = await request(address.cloudflare, WEB_HOST, "/api/auth/login", {
      method: "POST",
      from: ip(78),
      headers: { "content-type": "application/json", origin: `https://${WEB_HOST}`, "content-length": Buffer.byteLength(body), "x-forwarded-for": "6.6.6.6" },
      body,
    });
    assert.equal(res.status, 401, res.body);
    // Locally the TLS front stands where Cloudflare's edge is, so wrangler's CF-Connecting-IP is
    // the front's own address: the key is that, never the X-Forwarded-For the client wrote, and
    // never wrangler's or the API edge's address (which a wrong forwarded_for_hops would pick).
    assert.deepEqual(api.addressBuckets(), [address.cloudflare]);
  });

  test("in Chromium over TLS: log in, warmup ∥ health, reload, log out", async () => {
    await browse(address.cloudflare);
  });
});
