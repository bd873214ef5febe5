#!/usr/bin/env python3
"""End to end: a real Prometheus scrapes two `api` instances and evaluates ops/'s rules.

    python3 ops/tests/e2e.py --api-bin target/debug/api [--prometheus prometheus]

Instance A runs on SQLite; instance B's database is a PostgreSQL address where nothing listens,
so its `/api/health` answers 503 `fail` and `POST /api/warmup` 503: real 5xx, not injected ones.
Both have METRICS_TOKEN; Prometheus reads the token from a file (`authorization:
credentials_file`), scrapes every second and evaluates the rules every second.

1. Healthy traffic (A, and B's routes that need no database): the availability burn rate is 0,
   every route has a P95, /api/health's well under its 250 ms threshold; build_info names each
   instance's release; B's readiness is `fail` and its alert pending.
2. Then B's /api/health and warmup, which fail: the burn rate goes above 0 and the fast-burn
   alert turns pending.
3. Every query of the Grafana dashboard (ops/grafana/release-flow-api.json): it names only
   metrics the service exports (a live scrape) or the rules define, Prometheus evaluates it
   without error, and it returns data.

Standard library only. Everything runs on 127.0.0.1 and stops by itself (about 30 s).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "release-flow.rules.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "release-flow-api.json"
JOB = "release-flow-api"
TOKEN = "e2e-metrics-token-0123456789"

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboard  # noqa: E402  (ops/tests/dashboard.py)


class Failed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)
    print(f"  ok: {message}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, *, token: str | None = None, body: bytes | None = None,
         timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=body)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(what: str, probe, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if probe():
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {within:.0f} s")
        time.sleep(0.2)


class Prometheus:
    def __init__(self, url: str):
        self.url = url

    def query(self, expr: str) -> list[dict]:
        """The instant vector (or scalar, as one sample) of `expr`; raises on a query error."""
        status, body = http("GET", f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        answer = json.loads(body)
        if status != 200 or answer.get("status") != "success":
            raise Failed(f"query {expr!r}: {answer.get('errorType')}: {answer.get('error')}")
        data = answer["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def values(self, expr: str) -> dict[str, float]:
        """`expr`'s samples, keyed by their labels (`k=v,…`, sorted)."""
        return {
            ",".join(f"{k}={v}" for k, v in sorted(s["metric"].items()) if k != "__name__"): float(s["value"][1])
            for s in self.query(expr)
        }

    def alerts(self) -> list[dict]:
        _, body = http("GET", f"{self.url}/api/v1/alerts")
        return json.loads(body)["data"]["alerts"]


class Load:
    """Sends `requests` in turn from each of `threads` background threads, `pause` seconds apart,
    until stopped; counts the answers per status class."""

    def __init__(self, requests: list[tuple[str, str, bytes | None]], pause: float = 0.02, threads: int = 1):
        self.requests = requests
        self.pause = pause
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self) -> None:
        while not self.stop.is_set():
            for method, url, body in self.requests:
                status, _ = http(method, url, body=body)
                with self.lock:
                    # Liveness checks are outside the SLO: counted apart.
                    key = "/health" if urllib.parse.urlsplit(url).path == "/health" else f"{status // 100}xx"
                    self.counts[key] = self.counts.get(key, 0) + 1
                if self.stop.wait(self.pause):
                    return

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def total(*loads: Load) -> dict[str, int]:
    counts: dict[str, int] = {}
    for load in loads:
        for key, n in load.counts.items():
            counts[key] = counts.get(key, 0) + n
    return dict(sorted(counts.items()))


def start_api(api_bin: Path, work: Path, name: str, port: int, database_url: str, release: str) -> subprocess.Popen:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "DATABASE_ACQUIRE_TIMEOUT_MS": "300",
        "SESSION_SECRET": "e2e-session-secret-0123456789-abcdefghijklmnop",
        "METRICS_TOKEN": TOKEN,
        "RENDER_GIT_COMMIT": release,
        "RENDER_INSTANCE_ID": f"e2e-{name}",
        "FRONTEND_DIR": str(work / "no-frontend"),
        "LOG_FORMAT": "json",
        "RUST_LOG": "warn",
    }
    log = (work / f"api-{name}.log").open("w")
    # The working directory is the scratch one: no .env of the checkout is read.
    return subprocess.Popen([str(api_bin)], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)


def prometheus_config(work: Path, targets: list[str]) -> Path:
    token_file = work / "metrics-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    config = work / "prometheus.yml"
    config.write_text(
        f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {RULES}
scrape_configs:
  - job_name: {JOB}
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: {token_file}
    static_configs:
      - targets: {json.dumps(targets)}
"""
    )
    return config


def live_metric_names(text: str) -> set[str]:
    return {
        re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def run(api_bin: Path, prometheus_bin: str, promtool_bin: str, work: Path) -> None:
    started = time.monotonic()
    port_a, port_b, port_prom, dead_db = free_port(), free_port(), free_port(), free_port()
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    processes: list[subprocess.Popen] = []
    try:
        processes.append(start_api(api_bin, work, "a", port_a, f"sqlite://{work}/a.db", "e2e-release-a"))
        processes.append(
            start_api(api_bin, work, "b", port_b, f"postgres://app@127.0.0.1:{dead_db}/app", "e2e-release-b")
        )
        for url in (a, b):
            wait_for(f"{url}/health", lambda url=url: http("GET", f"{url}/health", timeout=2)[0] == 200, 30)
        wait_for(
            "instance A ready",
            lambda: json.loads(http("GET", f"{a}/api/health", timeout=2)[1])["status"] == "pass",
            30,
        )
        check(http("GET", f"{a}/metrics")[0] == 401, "/metrics without the token: 401")

        config = prometheus_config(work, [f"127.0.0.1:{port_a}", f"127.0.0.1:{port_b}"])
        out = subprocess.run([promtool_bin, "check", "config", str(config)], capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stdout + out.stderr)
        check(out.returncode == 0, "promtool check config: the test's prometheus.yml is valid")
        prom_log = (work / "prometheus.log").open("w")
        processes.append(
            subprocess.Popen(
                [
                    prometheus_bin,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={work / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port_prom}",
                    "--log.level=warn",
                ],
                stdout=prom_log,
                stderr=subprocess.STDOUT,
            )
        )
        prom = Prometheus(f"http://127.0.0.1:{port_prom}")
        wait_for("Prometheus ready", lambda: http("GET", f"{prom.url}/-/ready", timeout=2)[0] == 200, 30)
        wait_for("both targets scraped", lambda: sum(prom.values(f'up{{job="{JOB}"}}').values()) == 2, 20)
        print("  ok: Prometheus scrapes both instances with the bearer token from its credentials file")

        # 1. Healthy traffic. B serves what needs no database.
        login = json.dumps({"email": "nobody@example.com", "password": "not the password"}).encode()
        healthy = [
            ("GET", f"{a}/api/health", None),
            ("GET", f"{a}/api/session", None),
            ("GET", f"{a}/api/openapi.json", None),
            ("GET", f"{a}/api/me", None),  # 401: a client error, not an error of the service
            ("POST", f"{a}/api/warmup", None),
            ("GET", f"{a}/health", None),
            ("GET", f"{b}/api/session", None),
            ("GET", f"{b}/api/me", None),
            ("GET", f"{b}/health", None),
        ]
        # A login a second: each is a real argon2id verification (an unknown email is checked
        # against a dummy hash), and few enough to stay clear of the rate limit.
        logins = [("POST", f"{a}/api/auth/login", login)]
        with Load(healthy) as load, Load(logins, pause=1.0) as login_load:
            time.sleep(7)
        phase1 = (load, login_load)
        sent = total(*phase1)
        print(f"  sent {sum(sent.values())} healthy requests: {sent}")
        check(sent.get("5xx", 0) == 0, "no 5xx in the healthy phase")
        time.sleep(3)  # a scrape and an evaluation after the last request

        burn = prom.values('slo:burn_rate:ratio_rate5m{slo="availability"}')
        check(burn == {f"job={JOB},slo=availability": 0.0}, f"availability burn rate (5m) with no errors is 0: {burn}")
        requests = prom.values('slo:sli_requests:rate5m{slo="availability"}')
        check(all(v > 0 for v in requests.values()) and requests, f"requests counted by the SLI (a 5m rate of the few seconds so far): {requests}")
        p95 = prom.values(f'job_route:http_request_duration_seconds:p95_5m{{job="{JOB}"}}')
        for route in ["/api/health", "/api/session", "/api/openapi.json", "/api/me", "/api/warmup", "/api/auth/login", "/health"]:
            key = f"job={JOB},route={route}"
            check(key in p95 and p95[key] > 0, f"P95 of {route}: {p95.get(key, 0) * 1000:.1f} ms")
        check(p95[f"job={JOB},route=/api/health"] < 0.25, "P95 of /api/health is under its 250 ms threshold")
        build = prom.values(f'release_flow_build_info{{job="{JOB}"}}')
        releases = sorted(re.search(r"release_id=([^,]*)", k).group(1) for k in build)
        check(releases == ["e2e-release-a", "e2e-release-b"], f"build_info names each instance's release: {releases}")
        ready = prom.values(f'release_flow_readiness{{job="{JOB}"}} == 1')
        check(
            ready == {
                f"instance=127.0.0.1:{port_a},job={JOB},status=pass": 1.0,
                f"instance=127.0.0.1:{port_b},job={JOB},status=fail": 1.0,
            },
            f"readiness: A pass, B (dead database) fail: {sorted(ready)}",
        )
        alerts = prom.alerts()
        states = {(al["labels"]["alertname"], al["labels"].get("instance")): al["state"] for al in alerts}
        check(
            states.get(("ReleaseFlowInstanceNotReady", f"127.0.0.1:{port_b}")) == "pending",
            f"ReleaseFlowInstanceNotReady is pending for B (it fires after 3m): {states}",
        )
        # (Latency SLOs are not asserted on: a handful of logins on a busy machine is no SLI.)
        check(
            not [al for al in alerts if al["labels"].get("slo") == "availability"],
            "no availability burn-rate alert with no errors",
        )

        # 2. B's database-backed routes: 503s.
        # Each of B's failing requests waits for its pool (300 ms): three threads of them.
        failing = [("GET", f"{b}/api/health", None), ("POST", f"{b}/api/warmup", None)]
        with Load(healthy) as load, Load(failing, pause=0, threads=3) as failing_load:
            time.sleep(6)
        sent = total(load, failing_load)
        print(f"  sent {sum(sent.values())} requests, B's failing ones among them: {sent}")
        check(sent.get("5xx", 0) > 0, "B answered 5xx")
        time.sleep(3)
        burn = prom.values('slo:burn_rate:ratio_rate5m{slo="availability"}')[f"job={JOB},slo=availability"]
        ratio = prom.values('slo:sli_error:ratio_rate5m{slo="availability"}')[f"job={JOB},slo=availability"]
        burn1h = prom.values('slo:burn_rate:ratio_rate1h{slo="availability"}')[f"job={JOB},slo=availability"]
        check(burn > 0, f"availability burn rate after the 5xx: {burn:.1f}× over 5m, {burn1h:.1f}× over 1h "
                        f"(error ratio {ratio:.2%})")
        both = total(*phase1, load, failing_load)
        counted = sum(v for k, v in both.items() if k != "/health")
        sent_ratio = both.get("5xx", 0) / counted
        check(
            0.5 * sent_ratio < ratio < 1.5 * sent_ratio,
            f"the recorded error ratio {ratio:.2%} is close to what the load saw: "
            f"{both.get('5xx', 0)} 5xx of {counted} requests ({sent_ratio:.2%}; /health excluded)",
        )
        states = {al["labels"]["alertname"]: al["state"] for al in prom.alerts() if "slo" in al["labels"]
                  and al["labels"]["slo"] == "availability"}
        check(states.get("ReleaseFlowErrorBudgetBurnFast") == "pending",
              f"the fast-burn alert is pending (it pages after 2m): {states}")
        remaining = prom.values('slo:error_budget:remaining_ratio{slo="availability"}')[f"job={JOB},slo=availability"]
        print(f"  budget remaining at this error ratio: {remaining:.1f} (negative: overspent)")

        # The latency thresholds of the rules are buckets as the service spells them.
        status, scrape = http("GET", f"{a}/metrics", token=TOKEN)
        scrape_text = scrape.decode()
        matchers = set(re.findall(r'le(=~?)"((?:\\.|[^"\\])*)"', RULES.read_text()))
        live_les = set(re.findall(r'le="([^"]+)"', scrape_text))
        unmatched = [
            f"le{op}{value!r}" for op, value in matchers
            if not any(le == value if op == "=" else re.fullmatch(value.replace("\\\\", "\\"), le) for le in live_les)
        ]
        check(matchers and not unmatched,
              f"each latency threshold's le matcher matches a bucket of the live scrape: {', '.join(sorted(m[1] for m in matchers))}")

        # 3. The dashboard.
        known = live_metric_names(scrape_text) | dashboard.rule_names(RULES)
        dashboard.check(DASHBOARD, known, prom.query, JOB)
        print(f"  e2e took {time.monotonic() - started:.0f} s")
    finally:
        for p in reversed(processes):
            p.terminate()
        for p in processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description="End-to-end test of ops/ against real processes")
    parser.add_argument("--api-bin", type=Path, default=ROOT / "target" / "debug" / "api")
    parser.add_argument("--prometheus", default="prometheus")
    parser.add_argument("--promtool", default="promtool")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ops-e2e-"))
    try:
        run(args.api_bin.resolve(), args.prometheus, args.promtool, work)
    except (Failed, AssertionError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        for log in sorted(work.glob("*.log")):
            print(f"--- {log.name} (last lines)", file=sys.stderr)
            print("\n".join(log.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("ops e2e: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
