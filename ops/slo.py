#!/usr/bin/env python3
"""The Prometheus rules of the API's SLOs, generated from ops/slo.toml.

    python3 ops/slo.py            # check: the rules file matches slo.toml (exit 1 if not)
    python3 ops/slo.py --write    # write ops/prometheus/release-flow.rules.yml
    python3 ops/slo.py --print    # print the rules to standard output

Before generating it checks slo.toml against the service: every route of the router's table
(crates/api/src/router.rs ROUTES) is excluded or in exactly one latency class, no class names a
route the service does not have, and every latency threshold is one of the histogram's buckets
(crates/api/src/metrics.rs BUCKETS). Standard library only (Python 3.11+, for tomllib).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "ops" / "slo.toml"
RULES = ROOT / "ops" / "prometheus" / "release-flow.rules.yml"
ROUTER = ROOT / "crates" / "api" / "src" / "router.rs"
EDGE = ROOT / "crates" / "api" / "src" / "edge.rs"
METRICS = ROOT / "crates" / "api" / "src" / "metrics.rs"

# The windows every SLO's error ratio and burn rate are recorded over (those the alerts use are
# among them; 30d is the budget period and is derived from the 5m rates).
WINDOWS = ["5m", "30m", "1h", "6h"]


class SloError(Exception):
    pass


# --- what the service has ---------------------------------------------------------------------


def service_routes() -> list[str]:
    """ROUTES of router.rs, with the `edge` constants it names resolved through edge.rs."""
    router = ROUTER.read_text()
    block = re.search(r"pub const ROUTES: &\[&str\] = &\[(.*?)\];", router, re.S)
    if not block:
        raise SloError(f"{ROUTER.relative_to(ROOT)}: no `pub const ROUTES` table found")
    constants = dict(re.findall(r'pub const ([A-Z_]+): &str = "([^"]*)";', EDGE.read_text()))
    routes = []
    for item in re.findall(r'"[^"]*"|[A-Z_]+', block.group(1)):
        if item.startswith('"'):
            routes.append(item.strip('"'))
        elif item in constants:
            routes.append(constants[item])
        else:
            raise SloError(f"ROUTES names {item}, which is not a constant of edge.rs")
    return routes


def histogram_buckets() -> list[float]:
    metrics = METRICS.read_text()
    block = re.search(r"pub const BUCKETS: \[f64; \d+\] = \[(.*?)\];", metrics, re.S)
    if not block:
        raise SloError(f"{METRICS.relative_to(ROOT)}: no `pub const BUCKETS` found")
    return [float(b) for b in re.findall(r"[0-9.]+", block.group(1))]


# --- the source file --------------------------------------------------------------------------


def load(path: Path = SOURCE) -> dict:
    with path.open("rb") as f:
        slo = tomllib.load(f)
    validate(slo)
    return slo


def validate(slo: dict) -> None:
    def objective(where: str, value) -> None:
        if not isinstance(value, float) or not 0.0 < value < 1.0:
            raise SloError(f"{where}: objective must be a number between 0 and 1, not {value!r}")

    objective("[availability]", slo["availability"]["objective"])
    routes = service_routes()
    excluded = slo["service"]["excluded_routes"]
    buckets = histogram_buckets()
    seen: dict[str, str] = {}
    names = set()
    for cls in slo["latency"]:
        where = f"[[latency]] {cls['name']!r}"
        if not re.fullmatch(r"[a-z][a-z0-9-]*", cls["name"]) or cls["name"] in names:
            raise SloError(f"{where}: a name must be unique, lowercase letters, digits and -")
        names.add(cls["name"])
        objective(where, cls["objective"])
        threshold = cls["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise SloError(f"{where}: threshold {threshold!r} is not a number of seconds")
        if float(threshold) not in buckets:
            raise SloError(
                f"{where}: threshold {threshold} s is not a bucket of "
                f"http_request_duration_seconds ({', '.join(f'{b:g}' for b in buckets)})"
            )
        for route in cls["routes"]:
            if route not in routes:
                raise SloError(f"{where}: {route} is not a route of the API ({', '.join(routes)})")
            if route in excluded:
                raise SloError(f"{where}: {route} is excluded in [service]")
            if route in seen:
                raise SloError(f"{route} is in both latency classes {seen[route]!r} and {cls['name']!r}")
            seen[route] = cls["name"]
    for route in routes:
        if route not in excluded and route not in seen:
            raise SloError(
                f"the API's route {route} has no latency class in {SOURCE.relative_to(ROOT)}: "
                "add it to one (or to excluded_routes)"
            )
    for name, burn in slo["burn"].items():
        if not burn["factor"] > 0:
            raise SloError(f"[burn.{name}]: factor must be positive")


# --- PromQL -----------------------------------------------------------------------------------


def regex_alternatives(values: list[str]) -> str:
    """A PromQL string literal of an RE2 alternation matching exactly `values`."""
    escaped = [re.sub(r"([.^$|?*+()\[\]{}\\])", r"\\\1", v) for v in values]
    return json.dumps("|".join(escaped))  # JSON doubles the backslashes, as PromQL wants


def selector(job_regex: str, *matchers: str) -> str:
    return "{" + ",".join([f"job=~{json.dumps(job_regex)}", *matchers]) + "}"


def rate(metric: str, sel: str, window: str) -> str:
    return f"sum by (job) (rate({metric}{sel}[{window}]))"


def sli(slo: dict, name: str, window: str) -> tuple[str, str]:
    """(errors per second, requests per second) of SLO `name` over `window`, by job; the errors
    are 0 (never absent) for a job that has requests and no errors."""
    job = slo["service"]["job_regex"]
    if name == "availability":
        routes = f"route!~{regex_alternatives(slo['service']['excluded_routes'])}"
        requests = rate("http_requests_total", selector(job, routes), window)
        errors = rate("http_requests_total", selector(job, routes, 'status="5xx"'), window)
        return f"{errors}\n  or\n0 * {requests}", requests
    cls = next(c for c in slo["latency"] if f"latency-{c['name']}" == name)
    routes = f"route=~{regex_alternatives(cls['routes'])}"
    requests = rate("http_request_duration_seconds_count", selector(job, routes), window)
    fast = rate("http_request_duration_seconds_bucket", selector(job, routes, le_matcher(cls["threshold"])), window)
    return f"clamp_min(\n  {requests}\n  -\n  {fast},\n  0\n)", requests


def le_matcher(threshold: float) -> str:
    """The `le` matcher of a bucket. The service writes whole numbers without a decimal point
    (`le="1"`); Prometheus 3 rewrites them on ingestion (`le="1.0"`): match both spellings."""
    spellings = sorted({f"{float(threshold):g}", repr(float(threshold))})
    if len(spellings) == 1:
        return f"le={json.dumps(spellings[0])}"
    return f"le=~{regex_alternatives(spellings)}"


def slos(slo: dict) -> list[tuple[str, float, str]]:
    """(slo label, objective, description) of every SLO."""
    out = [("availability", slo["availability"]["objective"], "requests not answered 5xx")]
    for cls in slo["latency"]:
        out.append(
            (
                f"latency-{cls['name']}",
                cls["objective"],
                f"{cls['description']}: answered within {cls['threshold']:g} s",
            )
        )
    return out


def rules(slo: dict) -> dict:
    service = slo["service"]
    period = service["period"]
    sli_rules = []
    for name, objective, _ in slos(slo):
        sli_rules.append(
            {"record": "slo:objective:ratio", "expr": f"vector({objective})", "labels": {"slo": name}}
        )
    sli_rules.append({"record": "slo:error_budget:ratio", "expr": "1 - slo:objective:ratio"})
    for name, _, _ in slos(slo):
        errors, requests = sli(slo, name, "5m")
        sli_rules.append({"record": "slo:sli_errors:rate5m", "expr": errors, "labels": {"slo": name}})
        sli_rules.append({"record": "slo:sli_requests:rate5m", "expr": requests, "labels": {"slo": name}})
    for window in WINDOWS:
        for name, _, _ in slos(slo):
            if window == "5m":
                expr = (
                    f'slo:sli_errors:rate5m{{slo="{name}"}}\n'
                    f'/\nslo:sli_requests:rate5m{{slo="{name}"}}'
                )
            else:
                errors, requests = sli(slo, name, window)
                expr = f"(\n{indent(errors)}\n)\n/\n{requests}"
            sli_rules.append(
                {"record": f"slo:sli_error:ratio_rate{window}", "expr": expr, "labels": {"slo": name}}
            )
    # The budget period, from the 5m rates: weighted by requests, and cheap to evaluate.
    sli_rules.append(
        {
            "record": f"slo:sli_error:ratio_rate{period}",
            "expr": (
                f"sum_over_time(slo:sli_errors:rate5m[{period}])\n"
                f"/\nsum_over_time(slo:sli_requests:rate5m[{period}])"
            ),
        }
    )
    for window in [*WINDOWS, period]:
        sli_rules.append(
            {
                "record": f"slo:burn_rate:ratio_rate{window}",
                "expr": f"slo:sli_error:ratio_rate{window}\n/ on (slo) group_left ()\nslo:error_budget:ratio",
            }
        )
    sli_rules.append(
        {
            "record": "slo:error_budget:remaining_ratio",
            "expr": f"1 - slo:burn_rate:ratio_rate{period}",
        }
    )

    job = service["job_regex"]
    dashboard_rules = [
        {
            "record": "job_route_status:http_requests:rate5m",
            "expr": f"sum by (job, route, status) (rate(http_requests_total{selector(job)}[5m]))",
        },
        {
            "record": "job_route:http_request_duration_seconds:p95_5m",
            "expr": (
                "histogram_quantile(\n  0.95,\n  sum by (job, route, le) "
                f"(rate(http_request_duration_seconds_bucket{selector(job)}[5m]))\n)"
            ),
        },
    ]

    alerts = []
    for kind, burn in slo["burn"].items():
        factor = f"{burn['factor']:g}"
        long, short = burn["long"], burn["short"]
        title = kind.replace("_", " ").title().replace(" ", "")
        alerts.append(
            {
                "alert": f"ReleaseFlowErrorBudgetBurn{title}",
                "expr": (
                    f"slo:burn_rate:ratio_rate{long} > {factor}\n"
                    f"and\nslo:burn_rate:ratio_rate{short} > {factor}"
                ),
                "for": burn["for"],
                "labels": {"severity": burn["severity"], "burn": kind},
                "annotations": {
                    "summary": (
                        "{{ $labels.job }}: SLO {{ $labels.slo }} is spending its error budget "
                        f'{{{{ $value | printf "%.1f" }}}}× as fast as {period} allows'
                    ),
                    "description": (
                        f"The burn rate of {{{{ $labels.slo }}}} has been above {factor}× over the "
                        f"last {long} and the last {short}; {budget_note(burn['factor'], long, period)} "
                        "Dashboard: Release Flow API; what to do: docs/OPERATIONS.md, "
                        '"When an alert fires".'
                    ),
                },
            }
        )
    readiness, scrape = slo["readiness"], slo["scrape"]
    alerts.append(
        {
            "alert": "ReleaseFlowInstanceNotReady",
            "expr": "release_flow_readiness" + selector(job, 'status="fail"') + " == 1",
            "for": readiness["for"],
            "labels": {"severity": readiness["severity"]},
            "annotations": {
                "summary": "{{ $labels.job }} instance {{ $labels.instance }} is not ready (/api/health: fail)",
                "description": (
                    f"Its readiness probe has reported fail for {readiness['for']}: the database "
                    "is unreachable from it, slower than HEALTH_DB_TIMEOUT_MS, or its migrations "
                    "are not applied. GET /api/health on the instance says which; "
                    'docs/OPERATIONS.md, "When an alert fires".'
                ),
            },
        }
    )
    alerts.append(
        {
            "alert": "ReleaseFlowScrapeFailing",
            "expr": f"up{selector(job)} == 0",
            "for": scrape["for"],
            "labels": {"severity": scrape["severity"]},
            "annotations": {
                "summary": "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}",
                "description": (
                    f"No scrape has succeeded for {scrape['for']}: the instance is down or "
                    "unreachable, or METRICS_TOKEN differs from the token Prometheus sends "
                    "(401), or is unset (404). The SLO rules do not see this instance meanwhile."
                ),
            },
        }
    )
    # The burn-rate alerts sit in the group of the rates they read, after them: each evaluation
    # compares the rates it has just recorded (groups are evaluated independently of each other).
    return {
        "groups": [
            {"name": "release-flow-api-slo", "rules": sli_rules + alerts[:-2]},
            {"name": "release-flow-api-instances", "rules": alerts[-2:]},
            {"name": "release-flow-api-dashboard", "rules": dashboard_rules},
        ]
    }


def budget_note(factor: float, window: str, period: str) -> str:
    hours = {"m": 1 / 60, "h": 1, "d": 24}
    def h(d: str) -> float:
        return float(d[:-1]) * hours[d[-1]]
    spent = factor * h(window) / h(period)
    lasts = h(period) / factor
    lasts_text = f"{lasts / 24:.0f} days" if lasts >= 48 else f"{lasts:.0f} hours"
    return (
        f"{window} at this rate spends {spent:.0%} of the {period} budget, and the whole budget "
        f"would last {lasts_text}."
    )


def indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line for line in text.splitlines())


# --- YAML -------------------------------------------------------------------------------------

HEADER = """\
# GENERATED by ops/slo.py from ops/slo.toml: do not edit. Change ops/slo.toml, then run
#   python3 ops/slo.py --write
# Recording rules (SLIs, error ratios and burn rates per window, the budget that remains, and
# per-route rates and P95 for the dashboard) and the alerts. docs/OPERATIONS.md explains them.
"""


def scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if re.fullmatch(r"[A-Za-z0-9_:.-]+", value) and not re.fullmatch(r"[0-9.]+|true|false|null", value):
        return value
    return json.dumps(value, ensure_ascii=False)


def emit(rules_doc: dict) -> str:
    out = [HEADER, "groups:\n"]
    for group in rules_doc["groups"]:
        out.append(f"  - name: {scalar(group['name'])}\n    rules:\n")
        for rule in group["rules"]:
            first = True
            for key in ["record", "alert", "expr", "for", "labels", "annotations"]:
                if key not in rule:
                    continue
                lead = "      - " if first else "        "
                first = False
                value = rule[key]
                if key == "expr":
                    out.append(f"{lead}expr: |-\n{indent(value, ' ' * 10)}\n")
                elif isinstance(value, dict):
                    out.append(f"{lead}{key}:\n")
                    for k, v in value.items():
                        out.append(f"          {k}: {scalar(v)}\n")
                else:
                    out.append(f"{lead}{key}: {scalar(value)}\n")
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {RULES.relative_to(ROOT)}")
    mode.add_argument("--print", action="store_true", help="print the rules")
    args = parser.parse_args()
    try:
        text = emit(rules(load()))
    except (SloError, KeyError) as e:
        print(f"ops/slo.toml: {e}", file=sys.stderr)
        return 2
    if args.print:
        sys.stdout.write(text)
    elif args.write:
        RULES.parent.mkdir(parents=True, exist_ok=True)
        RULES.write_text(text)
        print(f"wrote {RULES.relative_to(ROOT)}")
    elif not RULES.exists() or RULES.read_text() != text:
        print(
            f"{RULES.relative_to(ROOT)} does not match ops/slo.toml: run python3 ops/slo.py --write",
            file=sys.stderr,
        )
        return 1
    else:
        print(f"{RULES.relative_to(ROOT)} matches ops/slo.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
