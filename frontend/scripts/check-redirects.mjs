// Netlify's own redirect engine (netlify-redirector: the matcher `netlify dev` runs) over the
// emitted DIR/_redirects, against the real API's answers to the same requests: whether a rule
// matches, its status, its target, and the query the client sent. The engine returns the target
// without the query; Netlify passes the request's query string on to the target of a 200, 301 or
// 302 rule (its redirect documentation), as `netlify dev` does after matching, and so does this
// script before comparing. Queries are compared as decoded parameters, since `netlify dev`
// re-encodes them. Usage: node scripts/check-redirects.mjs dist (needs `cargo build -p api`).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import redirector from "netlify-redirector";
import { startApi } from "../test/api-server.mjs";

const dir = process.argv[2] ?? "dist";
const engine = await redirector.parsePlain(readFileSync(join(dir, "_redirects"), "utf8"), {});
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

// [request target, why the two differ (absent: they must agree)]. A listed difference must hold:
// if the two come to agree, the list is out of date and the check fails.
const cases = [
  ["/login?next=/a"],
  ["/login"],
  ["/login?next=%0d%0aSet-Cookie:%20evil=1"],
  ["/login?a=1&a=2&b=%20c&c=d+e"],
  ["/%6cogin?next=/a"],
  ["/./login?next=/a"],
  ["/x/../login?next=/a"],
  ["/LOGIN?next=/a"],
  ["/login/x?next=/a"],
  ["/login.html?next=/a"],
  ["/login/?next=/a", "Netlify matches a rule with or without a trailing slash; the API, like nginx, matches the path exactly"],
  ["//login?next=/a", "netlify dev hands the engine the path with its empty segment; the API merges slashes first, as nginx does"],
];

/** What Netlify answers for `target`: the redirect's status, path and query parameters, or none. */
function netlify(target) {
  const url = new URL(`https://site.example${target}`);
  const match = engine.match({
    scheme: "https",
    host: url.hostname,
    path: decodeURIComponent(url.pathname),
    query: url.search.slice(1),
    getHeader: () => "",
    getCookie: () => "",
  });
  if (!match || !REDIRECTS.has(match.status)) return { status: "no redirect" };
  const location = new URL(match.to, url);
  for (const [name, value] of url.searchParams) location.searchParams.append(name, value);
  return { status: match.status, path: location.pathname, params: [...location.searchParams] };
}

/** What the API answers for `target`, in the same terms. */
async function apiAnswer(base, target) {
  const response = await fetch(`${base}${target}`, { redirect: "manual" });
  await response.arrayBuffer();
  if (!REDIRECTS.has(response.status)) return { status: "no redirect" };
  const location = new URL(response.headers.get("location"), `https://site.example${target}`);
  return { status: response.status, path: location.pathname, params: [...location.searchParams] };
}

const show = (a) => (a.path === undefined ? a.status : `${a.status} ${a.path} ${JSON.stringify(a.params)}`);

const api = await startApi();
const problems = [];
try {
  for (const [target, why] of cases) {
    const [theirs, ours] = [netlify(target), await apiAnswer(api.url, target)];
    const same = JSON.stringify(theirs) === JSON.stringify(ours);
    console.log(`${target}\n  netlify: ${show(theirs)}\n  api:     ${show(ours)}${why ? `\n  known difference: ${why}` : ""}`);
    if (!same && !why) problems.push(`${target}: Netlify ${show(theirs)}, API ${show(ours)}`);
    if (same && why) problems.push(`${target}: listed as differing (${why}), but the two agree`);
  }
} finally {
  await api.stop();
}
if (problems.length) {
  for (const p of problems) console.error(`mismatch: ${p}`);
  process.exit(1);
}
const listed = cases.filter((c) => c[1]).length;
console.log(`netlify-redirector and the API: ${cases.length - listed} requests answered alike, ${listed} known differences as listed`);
