// The API client against the real API (started by global-setup.ts). Node's fetch has no cookie
// jar, so `cookieFetch` keeps the session cookie the way a browser would.
import { describe, expect, inject, it } from "vitest";
import {
  ApiError,
  apiBase,
  createClient,
  UnhealthyError,
  WarmupFailedError,
  warmupAndHealth,
  type ErrorBody,
  type Fetch,
} from "../src/api";

function cookieFetch(): Fetch {
  let cookie = "";
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    if (cookie) headers.set("cookie", cookie);
    const response = await fetch(input, { ...init, headers });
    const set = response.headers.get("set-cookie");
    if (set) cookie = set.includes("Max-Age=0") ? "" : set.split(";")[0]!;
    return response;
  };
}

const url = inject("apiUrl");
const email = inject("demoEmail");
const password = inject("demoPassword");
const databaseDownUrl = inject("databaseDownApiUrl");

describe("apiBase", () => {
  it("is empty for the same origin and drops trailing slashes", () => {
    expect(apiBase(undefined)).toBe("");
    expect(apiBase(" https://api.example.com/ ")).toBe("https://api.example.com");
  });
});

describe("the client against the API", () => {
  it("logs in, knows the session, and logs out", async () => {
    const client = createClient(url, cookieFetch());
    expect(await client.session()).toBeNull();
    const anonymous = await client.me().catch((e: unknown) => e);
    expect(anonymous).toBeInstanceOf(ApiError);
    expect(anonymous).toMatchObject({ status: 401, code: "unauthorized", body: { error: { code: "unauthorized" } } });
    const session = await client.login(email, password);
    expect(session.user.email).toBe(email);
    expect((await client.me()).user.email).toBe(email);
    expect((await client.session())?.user.email).toBe(email);
    await client.logout();
    expect(await client.session()).toBeNull();
  });

  it("reads the release only with a session", async () => {
    const client = createClient(url, cookieFetch());
    const anonymous = await client.release().catch((e: unknown) => e);
    expect(anonymous).toMatchObject({ status: 401, code: "unauthorized" });
    await client.login(email, password);
    const release = await client.release();
    expect(release.environment).toBe("development");
    expect(release.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(release.instanceId).not.toBe("");
    // The same release id and instance as readiness reports.
    const health = await client.health();
    expect([release.releaseId, release.instanceId]).toEqual([health.releaseId, health.instanceId]);
  });

  it("turns a wrong password into an ApiError with the server's code", async () => {
    const client = createClient(url, cookieFetch());
    const error = await client.login(email, "not the password").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 401, code: "invalid_credentials", message: "wrong email or password" });
    const body: ErrorBody = { error: { code: "invalid_credentials", message: "wrong email or password" } };
    expect((error as ApiError).body).toEqual(body);
  });

  it("runs warmup and health at the same time and both succeed", async () => {
    const client = createClient(url, cookieFetch());
    await client.login(email, password);
    const [warmup, health] = await Promise.all(warmupAndHealth(client));
    expect(warmup.status).toBe("warm");
    expect(warmup.steps.map((s) => s.name)).toContain("database.connections");
    expect(health.status).toBe("pass");
    expect(health.checks["database:responseTime"]?.[0]?.observedUnit).toBe("ms");
  });

  it("reports an unreachable API as a network error", async () => {
    const client = createClient("http://127.0.0.1:9", fetch);
    const error = await client.health().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 0, code: "network", body: undefined });
  });

  it("reads the API's JSON 404 for an unknown endpoint into an ApiError", async () => {
    const response = await fetch(`${url}/api/nope`);
    expect(response.status).toBe(404);
    const body: ErrorBody = await response.json();
    expect(body).toMatchObject({ error: { code: "not_found" } });
    const error = ApiError.fromResponse(response.status, body);
    expect(error).toMatchObject({ status: 404, code: "not_found", message: body.error.message, body });
  });

  it("falls back to a generic error when a failing answer is not the API's error body", () => {
    expect(ApiError.fromResponse(502, undefined)).toMatchObject({ status: 502, code: "http_error", message: "the API answered 502", body: undefined });
    expect(ApiError.fromResponse(500, { error: { code: "boom" } })).toMatchObject({ code: "boom", message: "the API answered 500", body: undefined });
  });
});

describe("the client against an API whose database is down", () => {
  it("turns a failed warmup into a WarmupFailedError that carries the report", async () => {
    const error = await createClient(databaseDownUrl, fetch).warmup().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WarmupFailedError);
    expect(error).toBeInstanceOf(ApiError);
    const { report } = error as WarmupFailedError;
    expect(report.status).toBe("failed");
    const failed = report.steps.filter((s) => s.result === "error").map((s) => s.name);
    expect(failed).toContain("database.connections");
    expect(error).toMatchObject({ status: 503, code: "warmup_failed", message: `warmup failed: ${failed.join(", ")}` });
  });

  it("turns a failing readiness report into an UnhealthyError that carries the report", async () => {
    const error = await createClient(databaseDownUrl, fetch).health().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnhealthyError);
    expect(error).toMatchObject({ status: 503, code: "unhealthy", message: "the API reports itself unhealthy" });
    const { report } = error as UnhealthyError;
    expect(report.status).toBe("fail");
    expect(report.checks["database:responseTime"][0]?.status).toBe("fail");
  });
});
