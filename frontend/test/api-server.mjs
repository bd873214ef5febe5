// Starts the real `api` binary (built by `cargo build -p api`) on a free port with a fresh SQLite
// database, and reads the listening address and the development demo login from its output.
// An API whose database never answers creates no demo login: pass `{ demoLogin: false }`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

/**
 * @typedef {object} RunningApi
 * @property {string} url
 * @property {string} demoEmail
 * @property {string} demoPassword
 * @property {() => Promise<void>} stop
 */

const root = resolve(import.meta.dirname, "..", "..");

/**
 * @param {Record<string, string>} [env]
 * @param {{ demoLogin?: boolean }} [options]
 * @returns {Promise<RunningApi>}
 */
export async function startApi(env = {}, { demoLogin = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "release-flow-"));
  // The binary cargo built: API_BIN, or CARGO_TARGET_DIR's debug build (cargo reads a relative
  // CARGO_TARGET_DIR from where it runs, the repository root for the test command).
  const binary = process.env.API_BIN ?? join(resolve(root, process.env.CARGO_TARGET_DIR ?? "target"), "debug", "api");
  const child = spawn(binary, [], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      PORT: "0",
      LOG_FORMAT: "json",
      DATABASE_URL: `sqlite://${dir}/app.db`,
      FRONTEND_DIR: join(root, "frontend", "dist"),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  /** @type {Promise<never>} */
  const failed = new Promise((_, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`api exited with ${code} before it was ready (built? cargo build -p api)`)));
  });
  /** @type {Promise<string>} */
  const url = new Promise((ok) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const log = JSON.parse(line);
        if (log.message === "listening" && log.address) ok(`http://${log.address}`);
      } catch {
        /* not a log line */
      }
    });
  });
  /** @type {Promise<[string, string]>} */
  const demo = new Promise((ok) => {
    if (!demoLogin) ok(["", ""]);
    createInterface({ input: child.stderr }).on("line", (line) => {
      const match = /Demo login \(development only\): (\S+) \/ (\S+)/.exec(line);
      if (match) ok([match[1], match[2]]);
    });
  });
  let timer;
  /** @type {Promise<never>} */
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("api did not start in 20 s")), 20000);
  });
  const [address, [demoEmail, demoPassword]] = await Promise.race([Promise.all([url, demo]), failed, timeout]).finally(() =>
    clearTimeout(timer),
  );
  return {
    url: address,
    demoEmail,
    demoPassword,
    stop: () =>
      new Promise((done) => {
        child.removeAllListeners("exit");
        child.once("exit", () => {
          rmSync(dir, { recursive: true, force: true });
          done();
        });
        child.kill("SIGTERM");
      }),
  };
}
