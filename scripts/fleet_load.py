"""Helpers of scripts/fleet.sh (Python 3 standard library only).

  fleet_load.py load ADDR SECONDS OUT   traffic through the gateway at ADDR
      (host:port): workers alternate Send (unique texts) and Pull, each
      request's outcome is recorded; at the end every room is pulled whole
      and acknowledged sends missing from it are counted as lost. Writes
      JSON to OUT.
  fleet_load.py relay LISTEN_HOST PORT TARGET_HOST PORT   a TCP relay that
      delays every chunk by 25 ms in each direction after SIGUSR1 (50 ms
      more round trip), and by nothing again after SIGUSR2.
  fleet_load.py report DIR   reads DIR/<scenario>.json and .events, prints
      the table and the details, exits 1 if an expectation failed.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import statistics
import sys
import threading
import time
import uuid
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

def report(directory: str) -> int:
    rows, details, problems = [], [], []
    for name in ["kill", "etcd-cut", "redis-cut", "latency"]:
        result_path = Path(directory, f"{name}.json")
        if not result_path.exists():
            continue
        result = json.loads(result_path.read_text())
        events: dict[str, str] = {}
        for line in Path(directory, f"{name}.events").read_text().splitlines():
            key, _, value = line.partition(" ")
            events[key] = value
        records = result["records"]
        failed = [r for r in records if r[3] != 200]
        run_end = max(r[1] for r in records)
        # Recovery: from the fault (or the link's return, when it returns)
        # to the end of the last failed request.
        since = float(events.get("restored", events["fault"]))
        recovery = max(0.0, max(r[1] for r in failed) - since) if failed else 0.0
        lost = result["lost"]
        rows.append((name, len(records), len(failed), f"{recovery:.1f}", lost))

        fault = float(events["fault"])
        note = [f"{name}: {result['acked']} sends acknowledged"]
        if failed:
            kinds: dict[str, int] = {}
            for r in failed:
                key = f"{r[3]} {r[4][:70]}"
                kinds[key] = kinds.get(key, 0) + 1
            slowest = max(r[1] - r[0] for r in failed)
            note.append(f"failures {min(r[0] for r in failed) - fault:+.1f}..{max(r[1] for r in failed) - fault:+.1f} s "
                        f"after the fault, slowest failed request {slowest * 1000:.0f} ms")
            note += [f"  {n} x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:4]]
        for key, value in events.items():
            if key not in ("fault",):
                try:
                    note.append(f"  {key}: {float(value) - fault:+.1f} s after the fault")
                except ValueError:
                    note.append(f"  {key}: {value}")
        if name == "latency":
            before = [r[1] - r[0] for r in records if r[0] < fault and r[3] == 200]
            during = [r[1] - r[0] for r in records if r[0] > fault + 0.5 and r[3] == 200]
            if before and during:
                note.append(f"  median request {statistics.median(before) * 1000:.0f} ms before, "
                            f"{statistics.median(during) * 1000:.0f} ms with 50 ms more to Redis")
        details += note

        if lost or result["unverified"]:
            problems.append(f"{name}: {lost} acknowledged sends lost, {result['unverified']} unverified")
        if failed and max(r[1] for r in failed) > run_end - 5:
            problems.append(f"{name}: requests still failed in the last 5 s")
        if name == "latency" and failed:
            problems.append("latency: requests failed with 50 ms more to Redis")
        readiness = events.get("readyz-cut")
        if readiness is not None and not readiness.startswith(("503", "n/a")):
            problems.append(f"{name}: rpc1 still reported ready during the cut: {readiness}")
        if name == "redis-cut":
            # After 3 s of the cut, the replica should know that Redis is gone.
            settled = [r for r in failed if fault + 3 <= r[0] and r[1] <= float(events["restored"])]
            slow = [r for r in settled if "storage unavailable" not in r[4] or r[1] - r[0] > 0.5]
            if slow:
                problems.append(f"redis-cut: {len(slow)} of {len(settled)} failures 3 s or more into the cut were not "
                                f"a quick (< 0.5 s) 500 `storage unavailable`, e.g. {slow[-1][4][:80]!r} "
                                f"in {(slow[-1][1] - slow[-1][0]) * 1000:.0f} ms")
        for key, value in events.items():
            if value.startswith("FAIL"):
                problems.append(f"{name}: {key}: {value}")

    header = ("scenario", "requests", "failed", "recovery s", "acknowledged-but-lost")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()
    print("\n".join(details))
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems or len(rows) < 4 else 0


def main() -> int:
    command, args = sys.argv[1], sys.argv[2:]
    if command == "load":
        load(args[0], float(args[1]), args[2])
    elif command == "relay":
        asyncio.run(relay(args[0], int(args[1]), args[2], int(args[3])))
    elif command == "report":
        return report(args[0])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
