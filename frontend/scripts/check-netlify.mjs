// Netlify's own parser (@netlify/redirect-parser, as its build reads the rules: _redirects first,
// then netlify.toml) and its own redirect engine (netlify-redirector, the matcher `netlify dev`
// runs) over DIR/_redirects and the committed netlify.toml: the page's /api/* is proxied to the
// API (same origin), a missing hashed asset is a 404 (RFC 9110 §15.5.5), deep links get the SPA.
// Netlify serves a file that exists before any rule that is not forced (its redirect docs,
// "shadowing"), so the asset and SPA rules must not be forced and the proxy must be.
// Usage: node scripts/check-netlify.mjs dist netlify.toml
import assert from "node:assert/strict";
import { parseAllRedirects } from "@netlify/redirect-parser";
import redirector from "netlify-redirector";
import { join } from "node:path";

const dist = process.argv[2] ?? "dist";
const config = process.argv[3] ?? "netlify.toml";
const { redirects, errors } = await parseAllRedirects({ redirectsFiles: [join(dist, "_redirects")], netlifyConfigPath: config, minimal: false });
assert.deepEqual(errors, [], "Netlify's parser accepts both files");
const engine = await redirector.parseJSON(JSON.stringify(redirects), {});

const match = (path) => {
  const m = engine.match({ scheme: "https", host: "release-flow.netlify.app", path, query: "", getHeader: () => "", getCookie: () => "" });
  return m && { to: m.to, status: m.status, force: Boolean(m.force) };
};
const api = /^https:\/\/[^/]+\/api\/health$/;

const proxied = match("/api/health");
assert.match(proxied?.to ?? "", api, "/api/* goes to the API's absolute URL");
assert.deepEqual([proxied.status, proxied.force], [200, true], "a forced 200: a proxy, whatever files exist");
assert.ok(redirects.find((r) => r.from === "/api/*")?.proxy, "the parser marks it a proxy");
assert.deepEqual(match("/assets/index-0ld0ld.js"), { to: "/assets/404.html", status: 404, force: false });
assert.deepEqual(match("/releases/42"), { to: "/index.html", status: 200, force: false });
assert.deepEqual(match("/login"), { to: "/", status: 301, force: false });
// Rule order: the proxy and the 404 come before the SPA fallback, or /* would answer them.
const order = redirects.map((r) => r.from);
assert.ok(order.indexOf("/api/*") < order.indexOf("/*") && order.indexOf("/assets/*") < order.indexOf("/*"), JSON.stringify(order));
console.log(`Netlify: ${redirects.length} rules from ${join(dist, "_redirects")} and ${config}; /api proxied (forced 200), missing assets 404, deep links the SPA`);
