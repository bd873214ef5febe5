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

/** After authentication: warmup and health start together; each panel shows its own outcome. */
function startAfterLogin(session: Session): void {
  const [warmup, health] = warmupAndHealth(client);
  showApp(session);
  runWarmup(warmup);
  runHealth(health);
}

warmupPanel.retry.addEventListener("click", () => runWarmup(client.warmup()));
healthPanel.retry.addEventListener("click", () => runHealth(client.health()));

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
