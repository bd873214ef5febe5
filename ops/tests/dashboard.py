#!/usr/bin/env python3
"""Checks of the Grafana dashboard's queries (ops/grafana/release-flow-api.json).

    python3 ops/tests/dashboard.py     # offline: every metric name is one the rules define or
                                       # the service's source registers

The end-to-end test (ops/tests/e2e.py) calls `check` with the names of a live scrape instead,
and has a real Prometheus evaluate every query.

Every query is found: panel targets (in rows too), annotations and template variables. Grafana's
variables are replaced by values a query can run with. Metric names are read with a small PromQL
lexer: strings, label matchers, ranges, grouping clauses, numbers and durations are removed, and
every remaining identifier that is neither a keyword nor followed by `(` is a metric name.
Standard library only.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops" / "grafana" / "release-flow-api.json"
RULES = ROOT / "ops" / "prometheus" / "release-flow.rules.yml"
METRICS_RS = ROOT / "crates" / "api" / "src" / "metrics.rs"

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "and", "or", "unless", "atan2", "inf", "nan", "start", "end",
}


def queries(dashboard: dict) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every query in the dashboard."""
    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield f"panel {panel.get('title')!r} ({target.get('refId')})", target["expr"]
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            yield f"annotation {annotation.get('name')!r}", annotation["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        match = re.fullmatch(r"\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*", query or "")
        yield f"variable {variable.get('name')!r}", match.group(1) if match else query


def substitute(expr: str, job: str) -> str:
    """The query as Grafana would send it, with this test's values for its variables."""
    for name, value in {
        "job": job,
        "__rate_interval": "1m",
        "__interval": "15s",
        "__range": "1h",
    }.items():
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable in {expr!r}")
    return expr


def metric_names(expr: str) -> set[str]:
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"(?<![\w:])\d[\w.]*", " ", text)  # numbers and durations (5m, 0.95, 1e3)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        name = match.group(0)
        if name in KEYWORDS or re.match(r"\s*\(", text[match.end():]):
            continue
        names.add(name)
    return names


def rule_names(rules: Path = RULES) -> set[str]:
    """The series the rules file defines: recorded names, and ALERTS if it has alerts."""
    text = rules.read_text()
    names = set(re.findall(r"^\s*-?\s*record:\s*(\S+)", text, re.M))
    if re.search(r"^\s*-?\s*alert:", text, re.M):
        names.add("ALERTS")
    return names


def source_metric_names(metrics_rs: Path = METRICS_RS) -> set[str]:
    """The names the service's registry exposes, from the source (offline check): counters get
    `_total`, histograms `_bucket`, `_count` and `_sum`."""
    text = metrics_rs.read_text()
    names = set()
    for name, _help, field in re.findall(r'registry\.register\(\s*"([^"]+)",\s*"([^"]*)",\s*(\w+)', text, re.S):
        binding = re.search(rf"let {field}\b([^;]*);", text)
        kind = re.search(r"Counter|Histogram|Gauge", binding.group(1)) if binding else None
        kind = kind.group(0) if kind else "Gauge"
        if kind == "Counter":
            names.add(f"{name}_total")
        elif kind == "Histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        else:
            names.add(name)
    return names


def check(
    path: Path,
    known: set[str],
    query: Callable[[str], list] | None = None,
    job: str = "release-flow-api",
) -> None:
    """Fails (raises) on a query naming an unknown metric; with `query` (a Prometheus instant
    query), also on a query Prometheus refuses or that returns nothing."""
    dashboard = json.loads(path.read_text())
    problems = []
    found = list(queries(dashboard))
    if not found:
        problems.append("no queries found")
    for where, expr in found:
        try:
            promql = substitute(expr, job)
        except ValueError as e:
            problems.append(f"{where}: {e}")
            continue
        unknown = metric_names(promql) - known
        if unknown:
            problems.append(f"{where}: {', '.join(sorted(unknown))} neither exported nor recorded: {expr}")
        if query is not None:
            try:
                result = query(promql)
            except Exception as e:  # noqa: BLE001 (the query's own error is the message)
                problems.append(f"{where}: Prometheus refused it: {e}")
                continue
            if not result:
                problems.append(f"{where}: no data: {promql}")
            else:
                print(f"  ok: {where}: {len(result)} series")
    if problems:
        raise AssertionError("dashboard " + str(path.relative_to(ROOT)) + ":\n  " + "\n  ".join(problems))
    print(f"  ok: the dashboard's {len(found)} queries name only exported or recorded metrics")


def main() -> int:
    known = rule_names() | source_metric_names()
    try:
        check(DASHBOARD, known)
    except AssertionError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
