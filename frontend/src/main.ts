import "./style.css";
import {
  ApiError,
  createClient,
  UnhealthyError,
  WarmupFailedError,
  warmupAndHealth,
  type HealthReport,
  type Session,
  type WarmupResponse,
} from "./api";
import { renderNotes, renderRelease, renderTimeline, type TimedCall } from "./release-page";

const client = createClient();

function el<T extends HTMLElement>(selector: string, root: ParentNode = document): T {
  const found = root.querySelector<T>(selector);
  if (!found) throw new Error(`missing element ${selector}`);
  return found;
}

const loginView = el<HTMLElement>("#login-view");
const appView = el<HTMLElement>("#app-view");
const loginForm = el<HTMLFormElement>("#login-form");
const loginError = el<HTMLParagraphElement>("#login-error");

function message(error: unknown): string {
  return error instanceof ApiError ? error.message : "something went wrong; retry";
}

function showLogin(): void {
  appView.hidden = true;
  loginView.hidden = false;
}

function showApp(session: Session): void {
  el("#user-email").textContent = session.user.email;
  loginView.hidden = true;
  appView.hidden = false;
}

interface Panel {
  status: HTMLParagraphElement;
  error: HTMLParagraphElement;
  retry: HTMLButtonElement;
}

function panel(id: string): Panel {
  const root = el<HTMLElement>(id);
  return { status: el(".status", root), error: el(".error", root), retry: el(".retry", root) };
}

function setState(p: Panel, state: "loading" | "ok" | "failed", text: string, error?: string): void {
  p.status.dataset.state = state;
  p.status.textContent = text;
  p.error.hidden = !error;
  p.error.textContent = error ?? "";
  p.retry.hidden = state !== "failed";
}

const warmupPanel = panel("#warmup-panel");
const healthPanel = panel("#health-panel");

function renderSteps(report: WarmupResponse | undefined): void {
  const table = el<HTMLTableElement>("#warmup-panel .steps");
  const body = el<HTMLTableSectionElement>("tbody", table);
  body.replaceChildren(
    ...(report?.steps ?? []).map((step) => {
      const row = document.createElement("tr");
      for (const text of [step.name, step.result === "ok" ? step.detail : `error: ${step.detail}`, step.durationMs.toFixed(1)]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
  table.hidden = !report;
}

function renderHealth(report: HealthReport | undefined): void {
  const facts = el<HTMLDListElement>("#health-panel .facts");
  const db = report?.checks["database:responseTime"]?.[0];
  const entries: [string, string][] = report
    ? [
        ["Status", report.status],
        ["Version", report.version],
        ["Release", report.releaseId?.slice(0, 12) ?? "unknown"],
        ["Instance", report.instanceId],
        ["Database", db ? `${db.status}, ${db.observedValue ?? "?"} ${db.observedUnit ?? ""}`.trim() : "unknown"],
      ]
    : [];
  facts.replaceChildren(
    ...entries.flatMap(([term, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      return [dt, dd];
    }),
  );
  facts.hidden = !report;
}

function runWarmup(promise: Promise<WarmupResponse>): void {
  setState(warmupPanel, "loading", "Warming up…");
  promise.then(
    (report) => {
      setState(warmupPanel, "ok", `Warm (${report.served}, run ${report.run}, ${report.durationMs.toFixed(1)} ms)`);
      renderSteps(report);
    },
    (error: unknown) => {
      setState(warmupPanel, "failed", "Warmup failed", message(error));
      renderSteps(error instanceof WarmupFailedError ? error.report : undefined);
    },
  );
}

function runHealth(promise: Promise<HealthReport>): void {
  setState(healthPanel, "loading", "Checking…");
  promise.then(
    (report) => {
      setState(healthPanel, "ok", report.status === "pass" ? "Healthy" : "Healthy, with warnings");
      renderHealth(report);
    },
    (error: unknown) => {
      setState(healthPanel, "failed", "Unhealthy", message(error));
      renderHealth(error instanceof UnhealthyError ? error.report : undefined);
    },
  );
}

const releaseRoot = el<HTMLElement>("#release");
const timelineRoot = el<HTMLElement>("#timeline");

/** The calls of the current login, as they ran; a retry replaces its call, on the same axis. */
let timeline = new Map<"Warmup" | "Health", TimedCall>();
const LANE_ORDER = ["Warmup", "Health"] as const;

/** Records when `promise` settles (sent at `start`, `performance.now()` both) and redraws. */
function timed<T>(name: "Warmup" | "Health", start: number, promise: Promise<T>, details: (value: T | undefined, error: unknown) => Pick<TimedCall, "server" | "note">): void {
  const runs = timeline;
  promise.then(
    (value) => record(value, undefined, true),
    (error: unknown) => record(undefined, error, false),
  );
  function record(value: T | undefined, error: unknown, ok: boolean): void {
    const end = performance.now();
    if (runs !== timeline) return; // logged out, or logged in again, meanwhile
    runs.set(name, { name, start, end, ok, ...details(value, error) });
    renderTimeline(timelineRoot, LANE_ORDER.flatMap((lane) => runs.get(lane) ?? []));
  }
}

function warmupTiming(value: WarmupResponse | undefined, error: unknown): Pick<TimedCall, "server" | "note"> {
  const report = value ?? (error instanceof WarmupFailedError ? error.report : undefined);
  if (!report) return { note: message(error) };
  if (report.served !== "ran") {
    // Its steps ran before this call (cached) or partly before it (joined): not on this axis.
    const how = report.served === "cached" ? "the instance was already warm" : "it joined a run in progress";
    return { note: `Answered with warmup run ${report.run}'s report (${how}); its steps are not part of this call.` };
  }
  return { server: { totalMs: report.durationMs, steps: report.steps.map((s) => ({ name: s.name, durationMs: s.durationMs, ok: s.result === "ok" })) } };
}

function healthTiming(value: HealthReport | undefined, error: unknown): Pick<TimedCall, "server" | "note"> {
  const report = value ?? (error instanceof UnhealthyError ? error.report : undefined);
  const probe = report?.checks["database:responseTime"]?.[0];
  const ms = probe?.observedValue;
  if (!probe || typeof ms !== "number") return { note: report ? "The report has no database probe time." : message(error) };
  return { server: { totalMs: ms, steps: [{ name: "database probe", durationMs: ms, ok: probe.status !== "fail" }] } };
}

/** After authentication: warmup and health start together; each panel shows its own outcome. */
function startAfterLogin(session: Session): void {
  timeline = new Map();
  const started = performance.now();
  const [warmup, health] = warmupAndHealth(client);
  timed("Warmup", started, warmup, warmupTiming);
  timed("Health", started, health, healthTiming);
  showApp(session);
  renderTimeline(timelineRoot, []);
  runWarmup(warmup);
  runHealth(health);
  renderRelease(releaseRoot, undefined);
  client.release().then(
    (release) => renderRelease(releaseRoot, release),
    (error: unknown) => renderRelease(releaseRoot, undefined, message(error)),
  );
}

warmupPanel.retry.addEventListener("click", () => {
  const started = performance.now();
  const warmup = client.warmup();
  timed("Warmup", started, warmup, warmupTiming);
  runWarmup(warmup);
});
healthPanel.retry.addEventListener("click", () => {
  const started = performance.now();
  const health = client.health();
  timed("Health", started, health, healthTiming);
  runHealth(health);
});

renderNotes(el<HTMLElement>("#release-notes"));

loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(loginForm);
  loginError.hidden = true;
  const button = el<HTMLButtonElement>("button[type=submit]", loginForm);
  button.disabled = true;
  try {
    const session = await client.login(String(data.get("email") ?? ""), String(data.get("password") ?? ""));
    loginForm.reset();
    startAfterLogin(session);
  } catch (error) {
    loginError.textContent = message(error);
    loginError.hidden = false;
  } finally {
    button.disabled = false;
  }
});

el<HTMLButtonElement>("#logout").addEventListener("click", async () => {
  try {
    await client.logout();
  } finally {
    showLogin();
  }
});

// A reload keeps the session: ask the API who we are.
client.session().then(
  (session) => (session ? startAfterLogin(session) : showLogin()),
  () => showLogin(),
);
