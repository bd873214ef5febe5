// Parses DIR/_headers and DIR/_redirects with Netlify's own parsers and fails on any error, and on
// a rule count that differs from the file's own rules (a line the parser silently dropped).
// Usage: node scripts/check-edge-files.mjs dist
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllHeaders } from "@netlify/headers-parser";
import { parseAllRedirects } from "@netlify/redirect-parser";

const dir = process.argv[2] ?? "dist";
const headersFile = join(dir, "_headers");
const redirectsFile = join(dir, "_redirects");
const problems = [];

const rulesIn = (file, isRule) => readFileSync(file, "utf8").split("\n").filter((l) => l.trim() && !l.trim().startsWith("#") && isRule(l)).length;

const headers = await parseAllHeaders({ headersFiles: [headersFile], minimal: true });
for (const e of headers.errors) problems.push(`_headers: ${e.message}`);
const headerPaths = rulesIn(headersFile, (l) => l.startsWith("/"));
if (headers.headers.length !== headerPaths) problems.push(`_headers: ${headerPaths} rules written, ${headers.headers.length} parsed`);
const headerLines = rulesIn(headersFile, (l) => /^\s+\S/.test(l));
const parsedValues = headers.headers.reduce((n, rule) => n + Object.keys(rule.values).length, 0);
if (parsedValues !== headerLines) problems.push(`_headers: ${headerLines} header lines written, ${parsedValues} parsed`);

const redirects = await parseAllRedirects({ redirectsFiles: [redirectsFile], minimal: true });
for (const e of redirects.errors) problems.push(`_redirects: ${e.message}`);
const redirectLines = rulesIn(redirectsFile, () => true);
if (redirects.redirects.length !== redirectLines) problems.push(`_redirects: ${redirectLines} rules written, ${redirects.redirects.length} parsed`);

if (problems.length) {
  for (const p of problems) console.error(`invalid: ${p}`);
  process.exit(1);
}
console.log(`netlify parsers: ${headers.headers.length} header rule(s), ${redirects.redirects.length} redirect(s), no errors`);
