#!/usr/bin/env python3
"""One login storm against a running `api`, for bench/login-storm.sh (Python 3 standard library).

N connections are opened first; once all are open, every one sends its login at the same moment
(an asyncio event), so the server really has N logins in flight. Each request comes "through the
edge": `X-Forwarded-Proto: https` and an `X-Forwarded-For` chain whose client entry is an address
of its own, so no two requests share a per-address budget. Every password is wrong; emails are
unknown ones, plus a quarter on the known accounts (whose per-account budget then runs out: 429).

While the storm runs, the server's VmRSS is sampled every 10 ms from /proc/PID/status; its VmHWM
(peak RSS) is reset first by writing 5 to /proc/PID/clear_refs, so the peak is this storm's.
Prints one JSON object: answers by status and error code, how many 429/503 lacked Retry-After,
latencies, and the memory figures.

Usage: login_storm.py HOST PORT PID N ROUND KNOWN_EMAIL...
"""

import asyncio
import json
import math
import sys
import time

TIMEOUT = 30.0


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


async def login(host, port, body, forwarded_for, go, opened):
    """One login on its own connection; returns (status, error code, retry-after, seconds)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
    except (OSError, asyncio.TimeoutError) as e:
        opened()
        return ("no-connection", type(e).__name__, None, None)
    opened()
    await go.wait()
    payload = json.dumps(body).encode()
    request = (
        f"POST /api/auth/login HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"X-Forwarded-Proto: https\r\nX-Forwarded-For: {forwarded_for}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + payload
    started = time.perf_counter()
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    except (OSError, asyncio.TimeoutError) as e:
        return ("no-answer", type(e).__name__, None, None)
    finally:
        writer.close()
    took = time.perf_counter() - started
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or len(lines[0].split(" ")) < 2:
        return ("no-answer", "empty", None, None)
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    code = None
    try:
        code = json.loads(rest)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        pass
    return (status, code, headers.get("retry-after"), took)


async def sample(pid, stop, peak):
    while not stop.is_set():
        peak[0] = max(peak[0], status_kib(pid, "VmRSS"))
        await asyncio.sleep(0.01)


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    # Nearest rank: the smallest value with at least p % of the values at or below it.
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


async def main():
    host, port, pid, n, round_no = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    known = sys.argv[6:]
    go = asyncio.Event()
    count = [0]
    all_open = asyncio.Event()

    def opened():
        count[0] += 1
        if count[0] == n:
            all_open.set()

    tasks = []
    for i in range(n):
        if known and i % 4 == 0:
            email = known[(i // 4) % len(known)]
        else:
            email = f"storm-{round_no}-{i}@example.com"
        # A client network per request: 2001:db8:ROUND:I::1 (documentation range; the limits key
        # IPv6 by /64), then the static host's proxy and the edge.
        forwarded_for = f"2001:db8:{round_no:x}:{i + 1:x}::1, 162.158.0.9, 104.16.0.1"
        body = {"email": email, "password": "not the password"}
        tasks.append(asyncio.create_task(login(host, port, body, forwarded_for, go, opened)))
    await asyncio.wait_for(all_open.wait(), TIMEOUT)

    rss_before = status_kib(pid, "VmRSS")
    hwm_reset = reset_peak(pid)
    stop = asyncio.Event()
    sampled_peak = [rss_before]
    sampler = asyncio.create_task(sample(pid, stop, sampled_peak))
    started = time.perf_counter()
    go.set()
    answers = await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    stop.set()
    await sampler
    hwm = status_kib(pid, "VmHWM")
    await asyncio.sleep(1.0)  # let the server finish closing connections and free their buffers
    rss_after = status_kib(pid, "VmRSS")

    by_status = {}
    missing_retry_after = 0
    latencies = []
    for status, code, retry_after, took in answers:
        key = f"{status} {code}" if code else f"{status}"
        by_status[key] = by_status.get(key, 0) + 1
        if status in (429, 503) and not (retry_after or "").isdigit():
            missing_retry_after += 1
        if took is not None:
            latencies.append(took)
    latencies.sort()
    print(json.dumps({
        "n": n,
        "answers": by_status,
        "missing_retry_after": missing_retry_after,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 1) if latencies else None,
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "wall_s": round(wall, 2),
        "rss_before_kib": rss_before,
        # VmHWM is exact when it could be reset; else the 10 ms samples' maximum.
        "peak_kib": hwm if hwm_reset else sampled_peak[0],
        "peak_source": "VmHWM" if hwm_reset else "sampled VmRSS",
        "rss_after_kib": rss_after,
    }))


asyncio.run(main())
