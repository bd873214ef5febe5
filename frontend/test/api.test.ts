// The API client against the real API (started by global-setup.ts). Node's fetch has no cookie
// jar, so `cookieFetch` keeps the session cookie the way a browser would.
import { describe, expect, inject, it } from "vitest";
import { ApiError, apiBase, createClient, warmupAndHealth, type Fetch } from "../src/api";

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
    await expect(client.me()).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    const session = await client.login(email, password);
    expect(session.user.email).toBe(email);
    expect((await client.me()).user.email).toBe(email);
    expect((await client.session())?.user.email).toBe(email);
    await client.logout();
    expect(await client.session()).toBeNull();
  });

  it("turns a wrong password into an ApiError with the server's code", async () => {
    const client = createClient(url, cookieFetch());
    const error = await client.login(email, "not the password").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 401, code: "invalid_credentials", message: "wrong email or password" });
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
    await expect(client.health()).rejects.toMatchObject({ status: 0, code: "network" });
  });

  it("reports an unknown endpoint with the API's JSON 404", async () => {
    const response = await fetch(`${url}/api/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: "not_found" } });
  });
});
