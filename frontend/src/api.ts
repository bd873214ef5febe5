// The API client. Every call goes to VITE_API_BASE (empty: same origin) with credentials, so the
// session cookie travels; every failure becomes an ApiError with the server's code and message.
import type { components } from "./api-schema";

type Schemas = components["schemas"];

// The API's own types, generated from its OpenAPI document into api-schema.ts.
export type Session = Schemas["SessionView"];
/** The warmup report, and whether this call ran it, joined a run in progress or found it cached. */
export type WarmupResponse = Schemas["WarmupResponse"];
export type HealthReport = Schemas["HealthReport"];
/** This release and the instance that answered. */
export type Release = Schemas["ReleaseView"];

/** The API's JSON error body, the same on every error path: `{"error": {"code", "message"}}`. */
export type ErrorBody = Schemas["ErrorBody"];

/**
 * Every failed call. `status` is 0 when the API was not reached; `body` is the API's error body
 * when its answer was one (not for network failures, non-JSON answers or the reports below).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body?: ErrorBody,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** From a failing answer: the API's code and message where its body has them, else generic ones. */
  static fromResponse(status: number, parsed: unknown): ApiError {
    const detail = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : {};
    const code = typeof detail.code === "string" ? detail.code : undefined;
    const message = typeof detail.message === "string" ? detail.message : undefined;
    const body = code !== undefined && message !== undefined ? { error: { code, message } } : undefined;
    return new ApiError(status, code ?? "http_error", message ?? `the API answered ${status}`, body);
  }
}

/** A warmup that ran and failed (503); its report says which steps, so they can be shown. */
export class WarmupFailedError extends ApiError {
  constructor(readonly report: WarmupResponse) {
    super(503, "warmup_failed", `warmup failed: ${failedSteps(report).join(", ")}`);
    this.name = "WarmupFailedError";
  }
}

/** A readiness report of `fail` (503), kept so the checks can be shown. */
export class UnhealthyError extends ApiError {
  constructor(readonly report: HealthReport) {
    super(503, "unhealthy", "the API reports itself unhealthy");
    this.name = "UnhealthyError";
  }
}

function failedSteps(report: WarmupResponse): string[] {
  return report.steps.filter((s) => s.result !== "ok").map((s) => s.name);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

export type Fetch = typeof fetch;

/** VITE_API_BASE without a trailing slash; empty means same origin. */
export function apiBase(configured: string | undefined = import.meta.env.VITE_API_BASE): string {
  return (configured ?? "").trim().replace(/\/+$/, "");
}

export function createClient(base: string = apiBase(), fetchImpl: Fetch = fetch.bind(globalThis)) {
  async function request(method: string, path: string, body?: unknown): Promise<Response> {
    let response: Response;
    try {
      response = await fetchImpl(`${base}${path}`, {
        method,
        credentials: "include",
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network", "cannot reach the API; check your connection and retry");
    }
    return response;
  }

  async function json<T>(response: Response, acceptStatus: (status: number) => boolean = (s) => s < 300): Promise<T> {
    const type = response.headers.get("content-type") ?? "";
    const parsed: unknown = type.includes("json") ? await response.json().catch(() => undefined) : undefined;
    if (!acceptStatus(response.status)) {
      throw ApiError.fromResponse(response.status, parsed);
    }
    if (parsed === undefined) {
      throw new ApiError(response.status, "invalid_response", "the API answered without JSON");
    }
    return parsed as T;
  }

  return {
    async login(email: string, password: string): Promise<Session> {
      const body: Schemas["LoginRequest"] = { email, password };
      return json<Session>(await request("POST", "/api/auth/login", body));
    },
    async logout(): Promise<void> {
      const response = await request("POST", "/api/auth/logout");
      if (!response.ok) await json(response);
    },
    /** The current session, or null when there is none (`/api/session` answers 200 either way). */
    async session(): Promise<Session | null> {
      return (await json<Schemas["SessionState"]>(await request("GET", "/api/session"))).session ?? null;
    },
    /** The logged-in user; an ApiError 401 without a session. */
    async me(): Promise<Session> {
      return json<Session>(await request("GET", "/api/me"));
    },
    /** This release (environment, version, release id, commit link, instance); an ApiError 401 without a session. */
    async release(): Promise<Release> {
      return json<Release>(await request("GET", "/api/release"));
    },
    /** A failed warmup (503) is a WarmupFailedError that carries its report. */
    async warmup(): Promise<WarmupResponse> {
      const report = await json<WarmupResponse>(await request("POST", "/api/warmup"), (s) => s < 300 || s === 503);
      if (report.status !== "warm") throw new WarmupFailedError(report);
      return report;
    },
    /** Readiness; a `fail` report (503) is an UnhealthyError that carries it. */
    async health(): Promise<HealthReport> {
      const report = await json<HealthReport>(await request("GET", "/api/health"), (s) => s < 300 || s === 503);
      if (report.status === "fail") throw new UnhealthyError(report);
      return report;
    },
  };
}

export type Client = ReturnType<typeof createClient>;

/**
 * Runs warmup and health at the same time (neither waits for the other) and reports each
 * outcome on its own, so one failing never hides the other.
 */
export function warmupAndHealth(client: Client): [Promise<WarmupResponse>, Promise<HealthReport>] {
  return [client.warmup(), client.health()];
}
