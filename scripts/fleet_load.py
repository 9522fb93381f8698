"""Helpers of scripts/fleet.sh (Python 3 standard library only).

  fleet_load.py load ADDR SECONDS OUT   traffic through the gateway at ADDR
      (host:port): workers alternate Send (unique texts) and Pull, each
      request's outcome is recorded; at the end every room is pulled whole
      and acknowledged sends missing from it are counted as lost. Writes
      JSON to OUT.
  fleet_load.py relay LISTEN_HOST PORT TARGET_HOST PORT   a TCP relay that
      delays every chunk by 25 ms in each direction after SIGUSR1 (50 ms
      more round trip), and by nothing again after SIGUSR2.
  fleet_load.py report DIR   reads DIR/<scenario>.json and .events for each
      scenario DIR/scenarios lists, prints the table and the details, exits 1
      if an expectation failed.
  fleet_load.py outages DIR   the same runs as a before/after table of the
      shared outages (scenario names `etcd-all@<rpc-server>`), no verdict.
  fleet_load.py pools DIR [--check]   the gateway pool runs (DIR/pool-N.json):
      a table; with --check exits 1 unless every run had no failed request,
      new connections past one per client below 0.01 per call and TIME_WAIT
      below a tenth of the ephemeral port range.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import signal
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

WORKERS = 4
INTERVAL = 0.04  # seconds between a worker's requests: at most 100 requests/s in all
TIMEOUT = 5.0  # HTTP client timeout; the gateway's RPC timeout is 1 s


def request(conn, method: str, path: str, body: dict):
    conn.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


def load(addr: str, seconds: float, out: str) -> None:
    host, port = addr.rsplit(":", 1)
    run = uuid.uuid4().hex[:8]
    records: list[list] = []  # [start, end, kind, status, message]
    acked: dict[str, list[str]] = {}
    lock = threading.Lock()
    stop_at = time.time() + seconds

    def worker(index: int) -> None:
        chat, sender = f"fleet{run}w{index}:peer", f"fleet{run}w{index}"
        mine: list[str] = []
        conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
        seq = 0
        next_at = time.time()
        while time.time() < stop_at:
            kind = "send" if seq % 2 == 0 else "pull"
            text = f"{chat}-{seq:06}"
            if kind == "send":
                body = {"chat": chat, "text": text, "sender": sender}
                method, path = "POST", "/api/send"
            else:
                body = {"chat": chat, "cursor": 0, "limit": 5, "reverse": True}
                method, path = "GET", "/api/pull"
            started = time.time()
            try:
                status, message = request(conn, method, path, body)
            except (OSError, http.client.HTTPException) as err:
                status, message = 0, f"{type(err).__name__}: {err}"
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
            ended = time.time()
            if status == 200 and kind == "send":
                mine.append(text)
            with lock:
                records.append([started, ended, kind, status, "" if status == 200 else message[:200]])
            seq += 1
            next_at += INTERVAL
            time.sleep(max(0.0, next_at - time.time()))
        conn.close()
        with lock:
            acked[chat] = mine

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    lost = 0
    unverified = 0
    for chat, texts in acked.items():
        stored = pull_room(conn, chat)
        if stored is None:
            unverified += len(texts)
        else:
            lost += len(set(texts) - stored)
    Path(out).write_text(json.dumps({"records": records, "acked": sum(map(len, acked.values())),
                                     "lost": lost, "unverified": unverified}))


def pull_room(conn, chat: str):
    """Every text of the room, following next_cursor; None if the gateway keeps failing."""
    texts: set[str] = set()
    cursor = 0
    attempts = 0
    while True:
        try:
            status, body = request(conn, "GET", "/api/pull", {"chat": chat, "cursor": cursor, "limit": 100, "reverse": False})
        except (OSError, http.client.HTTPException):
            status, body = 0, ""
            conn.close()
        if status != 200:
            attempts += 1
            if attempts > 40:
                return None
            time.sleep(0.25)
            continue
        page = json.loads(body) if body else {}
        texts.update(m.get("text", "") for m in page.get("messages", []))
        if not page.get("has_more"):
            return texts
        cursor = page["next_cursor"]


# --- the delaying relay -----------------------------------------------------

DELAY = [0.0]


async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    async def forward() -> None:
        try:
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()

    task = asyncio.create_task(forward())
    try:
        while data := await src.read(65536):
            queue.put_nowait((loop.time() + DELAY[0], data))
    except OSError:
        pass
    queue.put_nowait((0.0, None))
    await task


async def relay(listen_host: str, listen_port: int, target_host: str, target_port: int) -> None:
    async def handle(reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: DELAY.__setitem__(0, 0.025))
    loop.add_signal_handler(signal.SIGUSR2, lambda: DELAY.__setitem__(0, 0.0))
    server = await asyncio.start_server(handle, listen_host, listen_port)
    async with server:
        await server.serve_forever()


# --- the report ---------------------------------------------------------------

def scenario(directory: str, name: str) -> dict:
    """One scenario's records and events, and what follows from them."""
    result = json.loads(Path(directory, f"{name}.json").read_text())
    events: dict[str, str] = {}
    for line in Path(directory, f"{name}.events").read_text().splitlines():
        key, _, value = line.partition(" ")
        events[key] = value
    records = result["records"]
    failed = [r for r in records if r[3] != 200]
    # Recovery: from the fault (or the link's return, when it returns) to
    # the end of the last failed request.
    since = float(events.get("restored", events["fault"]))
    recovery = max(0.0, max(r[1] for r in failed) - since) if failed else 0.0
    return {"name": name, "base": name.split("@")[0], "result": result, "events": events,
            "records": records, "failed": failed, "recovery": recovery,
            "fault": float(events["fault"]), "run_end": max(r[1] for r in records)}


def failure_kinds(failed: list) -> list[str]:
    kinds: dict[str, int] = {}
    for r in failed:
        key = f"{r[3]} {r[4][:70]}"
        kinds[key] = kinds.get(key, 0) + 1
    return [f"  {n} x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:4]]


def details(s: dict) -> list[str]:
    name, failed, fault, events = s["name"], s["failed"], s["fault"], s["events"]
    note = [f"{name}: {s['result']['acked']} sends acknowledged"]
    if failed:
        slowest = max(r[1] - r[0] for r in failed)
        note.append(f"failures {min(r[0] for r in failed) - fault:+.1f}..{max(r[1] for r in failed) - fault:+.1f} s "
                    f"after the fault, slowest failed request {slowest * 1000:.0f} ms")
        note += failure_kinds(failed)
    for key, value in events.items():
        if key != "fault":
            try:
                note.append(f"  {key}: {float(value) - fault:+.1f} s after the fault")
            except ValueError:
                note.append(f"  {key}: {value}")
    if s["base"] == "latency":
        before = [r[1] - r[0] for r in s["records"] if r[0] < fault and r[3] == 200]
        during = [r[1] - r[0] for r in s["records"] if r[0] > fault + 0.5 and r[3] == 200]
        if before and during:
            note.append(f"  median request {statistics.median(before) * 1000:.0f} ms before, "
                        f"{statistics.median(during) * 1000:.0f} ms with 50 ms more to Redis")
    return note


def readiness_replies(value: str) -> list[str]:
    """`rpc1: 200 ready|rpc2: ...` or `200 ready; ...` -> each replica's reply."""
    return [part.split(": ", 1)[-1] if part.startswith("rpc") else part for part in value.split("|")]


def problems_of(s: dict) -> list[str]:
    name, base, failed, events = s["name"], s["base"], s["failed"], s["events"]
    problems = []
    result = s["result"]
    if result["lost"] or result["unverified"]:
        problems.append(f"{name}: {result['lost']} acknowledged sends lost, {result['unverified']} unverified")
    if failed and max(r[1] for r in failed) > s["run_end"] - 5:
        problems.append(f"{name}: requests still failed in the last 5 s")
    if base in ("latency", "etcd-all") and failed:
        problems.append(f"{name}: {len(failed)} requests failed")
    # Readiness is for what is the replica's own: a lost etcd or Redis keeps
    # it ready, and the body names what is degraded.
    wanted = {"etcd-cut": "etcd: not registered", "etcd-all": "etcd: not registered",
              "redis-cut": "storage not connected", "redis-all": "storage not connected"}.get(base)
    readiness = events.get("readyz-cut")
    if wanted and readiness is not None:
        for reply in readiness_replies(readiness):
            if not (reply.startswith("200") and wanted in reply):
                problems.append(f"{name}: /readyz during the cut was {reply!r}, expected 200 naming {wanted!r}")
    if base in ("redis-cut", "redis-all"):
        # After 3 s of the cut, the replicas should know that Redis is gone.
        settled = [r for r in failed if s["fault"] + 3 <= r[0] and r[1] <= float(events["restored"])]
        slow = [r for r in settled if "storage unavailable" not in r[4] or r[1] - r[0] > 0.5]
        if slow:
            problems.append(f"{name}: {len(slow)} of {len(settled)} failures 3 s or more into the cut were not "
                            f"a quick (< 0.5 s) 500 `storage unavailable`, e.g. {slow[-1][4][:80]!r} "
                            f"in {(slow[-1][1] - slow[-1][0]) * 1000:.0f} ms")
    for key, value in events.items():
        if value.startswith("FAIL"):
            problems.append(f"{name}: {key}: {value}")
    return problems


def scenarios(directory: str) -> list[dict]:
    names = Path(directory, "scenarios").read_text().split()
    return [scenario(directory, name) for name in names if Path(directory, f"{name}.json").exists()]


def table(header: tuple, rows: list) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()


def report(directory: str) -> int:
    runs = scenarios(directory)
    table(("scenario", "requests", "failed", "recovery s", "acknowledged-but-lost"),
          [(s["name"], len(s["records"]), len(s["failed"]), f"{s['recovery']:.1f}", s["result"]["lost"])
           for s in runs])
    print("\n".join(line for s in runs for line in details(s)))
    problems = [p for s in runs for p in problems_of(s)]
    expected = Path(directory, "scenarios").read_text().split()
    if len(runs) < len(expected):
        problems.append(f"only {len(runs)} of {len(expected)} scenarios left results")
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems or not runs else 0


def balancer_changes(directory: str) -> list[tuple[float, str, str]]:
    """(time, replica, UP or DOWN) from the load balancer's log, in order."""
    changes = []
    path = Path(directory, "haproxy.log")
    for line in path.read_text().splitlines() if path.exists() else []:
        match = re.match(r"(\d{4}-\S+) .*Server rpc/(rpc\d) is (UP|DOWN)", line)
        if match:
            when = datetime.fromisoformat(match.group(1)).timestamp()
            changes.append((when, match.group(2), match.group(3)))
    return changes


def without_replicas(s: dict, changes: list) -> tuple[float, list[str]]:
    """Seconds of the scenario with no replica up in the load balancer (all
    three up at its start), and the changes as notes."""
    start = s["records"][0][0] if s["records"] else s["fault"]
    up, empty_since, empty, notes = 3, None, 0.0, []
    for when, replica, state in changes:
        if not start <= when <= s["run_end"]:
            continue
        up += 1 if state == "UP" else -1
        notes.append(f"  load balancer: {replica} {state} {when - s['fault']:+.1f} s after the fault")
        if up == 0 and empty_since is None:
            empty_since = when
        elif up > 0 and empty_since is not None:
            empty += when - empty_since
            empty_since = None
    if empty_since is not None:
        empty += s["run_end"] - empty_since
    return empty, notes


def outages(directory: str) -> int:
    runs = scenarios(directory)
    changes = balancer_changes(directory)
    rows = []
    for s in runs:
        empty, notes = without_replicas(s, changes)
        s["notes"] = notes
        base, _, server = s["name"].partition("@")
        unavailable = sum("storage unavailable" in r[4] for r in s["failed"])
        timeout = sum("storage timeout" in r[4] for r in s["failed"])
        readiness = s["events"].get("readyz-cut", "")
        codes = " ".join(reply.split(" ", 1)[0] for reply in readiness_replies(readiness))
        rows.append((base, server, len(s["records"]), len(s["failed"]), unavailable, timeout,
                     len(s["failed"]) - unavailable - timeout, f"{s['recovery']:.1f}", f"{empty:.1f}", codes))
    table(("scenario", "rpc-server", "requests", "failed", "`storage unavailable`", "`storage timeout`",
           "connection and other errors", "recovery s", "s with no replica in the balancer",
           "/readyz of the 3 replicas late in the cut"), rows)
    print("\n".join(line for s in runs for line in details(s) + s["notes"]))
    return 0


def pools(directory: str, check: bool) -> int:
    runs = sorted((json.loads(p.read_text()) for p in Path(directory).glob("pool-*.json")),
                  key=lambda r: (r["pool"] != "template", r["clients"]))
    rows, notes, problems = [], [], []
    for run in runs:
        bench = run["bench"]
        label = f"{run['pool']} pool, {run['clients']} clients"
        if bench is None:
            problems.append(f"{label}: im-bench wrote no report: {run['bench_tail']!r}")
            continue
        failed = bench["errors"] + (run["prefill_errors"] or 0)
        per_call = run["new_connections"] / run["rpcs"] if run["rpcs"] else float("nan")
        rows.append((run["pool"], run["clients"], run["seconds"], bench["requests"], failed, f"{per_call:.3f}",
                     run["time_wait"], f"{bench['throughput_rps']:.0f}", f"{bench['latency_us']['p99'] / 1000:.1f}"))
        notes.append(f"{label}: {run['rpcs']} calls reached rpc1 (prefill included) over {run['new_connections']} "
                     f"new connections; {run['dial_errors']} `cannot assign requested address` in the gateway's log; "
                     f"ephemeral range {run['ports']} ports")
        notes += [f"  {n} x {message[:100]}" for message, n in list(bench["error_samples"].items())[:3]]
        if run["prefill_errors"] is None:
            problems.append(f"{label}: no prefill line in im-bench's output")
        if failed:
            problems.append(f"{label}: {failed} failed requests")
        # A pool opens one connection per concurrent call once; churn is
        # what comes after.
        churn = (run["new_connections"] - run["clients"]) / run["rpcs"] if run["rpcs"] else float("nan")
        if not churn < 0.01:
            problems.append(f"{label}: {run['new_connections']} new connections for {run['clients']} clients "
                            f"({churn:.3f} per call past one per client)")
        if run["time_wait"] >= run["ports"] / 10:
            problems.append(f"{label}: {run['time_wait']} sockets in TIME_WAIT of {run['ports']} ephemeral ports")
        if run["dial_errors"]:
            problems.append(f"{label}: the gateway could not dial {run['dial_errors']} times")
    print("Across hosts: gateway (and im-bench, --workload mixed) on one host, rpc-server and Redis on others;"
          " req/s and p99 on a busy machine unless said otherwise")
    table(("pool", "HTTP clients", "s", "requests", "failed", "new connections per call", "TIME_WAIT to the rpc-server at end",
           "req/s", "p99 ms"), rows)
    print("\n".join(notes))
    if not check:
        return 0
    if not runs:
        problems.append("no pool run left results")
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


def main() -> int:
    command, args = sys.argv[1], sys.argv[2:]
    if command == "load":
        load(args[0], float(args[1]), args[2])
    elif command == "relay":
        asyncio.run(relay(args[0], int(args[1]), args[2], int(args[3])))
    elif command == "report":
        return report(args[0])
    elif command == "outages":
        return outages(args[0])
    elif command == "pools":
        return pools(args[0], "--check" in args[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
