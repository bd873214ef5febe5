// The production topology on loopback, for the end-to-end tests of the static hosts: a test CA and
// one certificate for the real host names, the real API (staging settings: PostgreSQL, a strong
// SESSION_SECRET, Secure `__Host-` cookies, X-Forwarded-* trusted) behind an emulation of
// Render's edge (two proxies that each append to X-Forwarded-For, as Cloudflare and Render's
// balancer do), and each static host serving the built frontend the way it does in production:
// Render's static site as nginx generated from the Blueprint (`edge-policy nginx`), Cloudflare
// Pages as `wrangler pages dev` (workerd) behind a TLS proxy.
//
// Every server listens on port 443 of its own loopback address (127.X.Y.n), so origins carry no
// port and match policy.toml's exactly; binding 443 needs root or CAP_NET_BIND_SERVICE.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

export const root = resolve(import.meta.dirname, "..", "..", "..");
/** A workspace binary: API_BIN / EDGE_POLICY_BIN, else CARGO_TARGET_DIR (or target/) /debug/NAME. */
const bin = (name) =>
  process.env[`${name.toUpperCase().replace("-", "_")}_BIN`] ?? join(process.env.CARGO_TARGET_DIR ?? join(root, "target"), "debug", name);

/** The environment the topology runs: its names are policy.toml's for it. */
export const ENV = "staging";
export const WEB_HOST = "release-flow-web-staging.onrender.com";
export const API_HOST = "release-flow-api-staging.onrender.com";

/** A loopback network of our own (127.X.Y.0/24), so parallel runs do not collide on port 443. */
export function loopbackNet() {
  const base = `127.${randomInt(100, 250)}.${randomInt(1, 250)}`;
  return (n) => `${base}.${n}`;
}

/** Runs `command`, failing with its output. */
function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], ...options });
}

/**
 * A CA and one certificate for `hosts` (RFC 5280 subjectAltName), in `dir`; `spki` is the
 * base64 SHA-256 of the leaf's SubjectPublicKeyInfo, as Chromium's
 * --ignore-certificate-errors-spki-list takes it.
 */
export function makeCertificates(dir, hosts) {
  const at = (f) => join(dir, f);
  run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", at("ca.key"), "-out", at("ca.pem"), "-days", "2", "-subj", "/CN=Release Flow test CA"]);
  run("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", at("site.key"), "-out", at("site.csr"), "-subj", `/CN=${hosts[0]}`]);
  writeFileSync(at("site.ext"), `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(",")}\nextendedKeyUsage=serverAuth\n`);
  run("openssl", ["x509", "-req", "-in", at("site.csr"), "-CA", at("ca.pem"), "-CAkey", at("ca.key"), "-CAcreateserial", "-out", at("site.pem"), "-days", "2", "-extfile", at("site.ext")]);
  const pub = run("openssl", ["x509", "-in", at("site.pem"), "-pubkey", "-noout"]);
  const der = execFileSync("openssl", ["pkey", "-pubin", "-outform", "der"], { input: pub });
  const spki = execFileSync("openssl", ["dgst", "-sha256", "-binary"], { input: der }).toString("base64");
  return { ca: at("ca.pem"), cert: at("site.pem"), key: at("site.key"), spki };
}

/** Resolves once something accepts TCP connections on `host:port`. */
export async function waitForPort(host, port, child, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${child.output?.() ?? ""}`);
    const open = await new Promise((ok) => {
      const socket = net.connect(port, host, () => {
        socket.destroy();
        ok(true);
      });
      socket.on("error", () => ok(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${host}:${port} in ${timeoutMs / 1000} s: ${child?.output?.() ?? ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A child process whose output is kept (for failure messages) and which stops on SIGTERM. */
function start(command, args, options) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  let output = "";
  const keep = (d) => {
    output = (output + d).slice(-8000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.output = () => output;
  child.stop = () =>
    new Promise((done) => {
      if (child.exitCode !== null) return done();
      child.once("exit", () => done());
      child.kill("SIGTERM");
    });
  return child;
}

/** nginx in the foreground with `conf`, in its own folder. */
export async function startNginx(dir, name, conf, listens) {
  const prefix = join(dir, name);
  mkdirSync(prefix, { recursive: true });
  writeFileSync(join(prefix, "nginx.conf"), conf);
  const child = start("nginx", ["-p", prefix, "-e", "stderr", "-c", join(prefix, "nginx.conf")]);
  for (const [host, port] of listens) await waitForPort(host, port, child, `nginx (${name})`);
  return child;
}

/** The start of every nginx configuration here, up to the `http` block's servers: no daemon,
 * logs to stderr, and every temporary path under `prefix`. */
function nginxHead(prefix) {
  return `daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log stderr error;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  server_tokens off;
`;
}

/**
 * Render's edge in front of the API: a TLS proxy for API_HOST (Cloudflare: appends the client to
 * X-Forwarded-For) and a balancer (appends Cloudflare's address, sets X-Forwarded-Proto), so the
 * API sees `client, edge` as on Render. `plain` is the same edge over HTTP, for callers that
 * cannot be given the test CA (workerd).
 */
export function renderEdgeConf({ prefix, tls, edge, plain, balancer, apiPort }) {
  const common = `proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_redirect off;`;
  return `${nginxHead(prefix)}  server {
    listen ${edge}:443 ssl;
    listen ${plain}:80;
    server_name ${API_HOST};
    ssl_certificate "${tls.cert}";
    ssl_certificate_key "${tls.key}";
    location / { proxy_pass http://${balancer}:80; proxy_bind ${edge}; proxy_set_header Host $host; ${common} }
  }
  server {
    listen ${balancer}:80;
    location / { proxy_pass http://127.0.0.1:${apiPort}; proxy_set_header Host $host; proxy_set_header X-Forwarded-Proto https; ${common} }
  }
}
`;
}

/** A TLS proxy for WEB_HOST in front of a plain-HTTP local server (Cloudflare's edge for wrangler). */
export function tlsFrontConf({ prefix, tls, listen, upstream }) {
  return `${nginxHead(prefix)}  server {
    listen ${listen}:443 ssl;
    server_name ${WEB_HOST};
    ssl_certificate "${tls.cert}";
    ssl_certificate_key "${tls.key}";
    location / {
      proxy_pass http://${upstream};
      # From its own address: wrangler names its TCP peer as CF-Connecting-IP, which is then this
      # stand-in for Cloudflare's edge, distinct from every other hop's address.
      proxy_bind ${listen};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_redirect off;
    }
  }
}
`;
}

/** `psql` as the PostgreSQL superuser against `database`; returns stdout. */
export function psql(adminUrl, sql) {
  return run("psql", [adminUrl, "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql]);
}

/**
 * The real API with the settings staging runs with on Render (APP_ENV=staging, PostgreSQL, a
 * generated SESSION_SECRET), on a database of its own (`rf_static_*`, dropped by `stop`), with
 * one user. PostgreSQL from RF_STATIC_PG (default postgres://postgres@127.0.0.1:5432).
 */
export async function startStagingApi() {
  const server = process.env.RF_STATIC_PG ?? "postgres://postgres@127.0.0.1:5432";
  const name = `rf_static_${process.pid}_${randomBytes(3).toString("hex")}`;
  psql(`${server}/postgres`, `CREATE DATABASE ${name}`);
  // Staging's policy, except that the static hosts' proxies are not on Cloudflare here: their
  // requests to the API edge leave from 127.0.0.1, which stands in for Cloudflare's ranges.
  const policy = readFileSync(join(root, "policy.toml"), "utf8");
  const staging = policy.indexOf(`[environments.${ENV}]`);
  const networks = /forwarded_for_networks = \[[^\]]*\]/;
  if (staging < 0 || !networks.test(policy.slice(staging))) throw new Error(`policy.toml: no forwarded_for_networks for ${ENV}`);
  const policyFile = join(tmpdir(), `${name}-policy.toml`);
  writeFileSync(policyFile, policy.slice(0, staging) + policy.slice(staging).replace(networks, 'forwarded_for_networks = ["127.0.0.1/32"]'));
  const env = {
    PATH: process.env.PATH ?? "",
    POLICY_FILE: policyFile,
    APP_ENV: ENV,
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_FORMAT: "json",
    DATABASE_URL: `${server}/${name}`,
    SESSION_SECRET: randomBytes(48).toString("base64"),
    FRONTEND_DIR: join(root, "frontend", "dist"),
    SHUTDOWN_DRAIN_SECS: "0",
  };
  const email = "ada@example.com";
  const password = randomBytes(18).toString("base64url");
  run(bin("api"), ["user", "add", "--email", email], { env, input: `${password}\n` });
  const child = start(bin("api"), [], { env });
  const port = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`api did not start in 30 s: ${child.output()}`)), 30000);
    child.once("exit", (code) => fail(new Error(`api exited with ${code}: ${child.output()}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const log = JSON.parse(line);
        if (log.message === "listening" && log.address) {
          clearTimeout(timer);
          ok(Number(log.address.split(":").pop()));
        }
      } catch {
        /* not a log line */
      }
    });
  });
  child.removeAllListeners("exit");
  return {
    port,
    email,
    password,
    /** The address buckets the login limits hold (`address:…`), then forgets them. */
    addressBuckets: () => {
      const rows = psql(`${server}/${name}`, "SELECT bucket FROM login_limits WHERE bucket LIKE 'address:%' ORDER BY bucket");
      psql(`${server}/${name}`, "DELETE FROM login_limits");
      return rows.split("\n").filter(Boolean).map((b) => b.slice("address:".length));
    },
    stop: async () => {
      await child.stop();
      rmSync(policyFile, { force: true });
      psql(`${server}/postgres`, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** The Render static site of ENV, as nginx generated from the Blueprints by `edge-policy nginx`. */
export async function startRenderStatic(dir, { tls, listen, apiEdge, dist }) {
  const prefix = join(dir, "render-static");
  mkdirSync(prefix, { recursive: true });
  const conf = run(bin("edge-policy"), [
    "--policy", join(root, "policy.toml"),
    "nginx", "--env", ENV,
    "--render", join(root, "render.yaml"), "--render", join(root, "render.production.yaml"),
    "--dist", dist, "--listen", `${listen}:443`, "--cert", tls.cert, "--key", tls.key,
    "--upstream-ca", tls.ca, "--resolve", `${API_HOST}=${apiEdge}:443`, "--prefix", prefix,
  ]);
  return startNginx(dir, "render-static", conf, [[listen, 443]]);
}

/**
 * Cloudflare Pages: `wrangler pages dev` over a copy of `dist` with the emitted Pages Function
 * (its API_ORIGIN pointed at the API edge's plain listener: workerd trusts only the system CAs),
 * behind a TLS proxy at `listen`:443.
 */
export async function startCloudflarePages(dir, { tls, listen, apiEdgePlain, dist }) {
  const project = join(dir, "pages");
  cpSync(dist, join(project, "dist"), { recursive: true });
  run(bin("edge-policy"), ["--policy", join(root, "policy.toml"), "emit", "--env", ENV, "--dist", join(project, "dist"), "--functions", join(project, "functions")]);
  const port = await freePort();
  const wrangler = join(root, "frontend", "e2e", "hosts", "node_modules", ".bin", "wrangler");
  const child = start(wrangler, ["pages", "dev", "dist", "--ip", "127.0.0.1", "--port", String(port), "--binding", `API_ORIGIN=http://${apiEdgePlain}`, "--compatibility-date", "2026-01-01", "--show-interactive-dev-session=false", "--log-level", "warn"], {
    cwd: project,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "home", ".config") },
  });
  await waitForPort("127.0.0.1", port, child, "wrangler pages dev", 90000);
  const front = await startNginx(dir, "cloudflare-front", tlsFrontConf({ prefix: join(dir, "cloudflare-front"), tls, listen, upstream: `127.0.0.1:${port}` }), [[listen, 443]]);
  return { wrangler: child, front, port, stop: async () => (await front.stop(), await child.stop()) };
}

export function freePort() {
  return new Promise((ok, fail) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
    server.on("error", fail);
  });
}

export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "rf-static-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
