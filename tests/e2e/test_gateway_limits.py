"""What HTTP clients can hold in the gateway is bounded (http-server-go/limits.go):
connections over the limit are closed before a byte is read, the open-file limit
is never reached by HTTP connections (netpoll's accept loop would spin on EMFILE),
silent and trickling connections end, and a body shorter than its Content-Length
gets a 400 after the read timeout."""

from __future__ import annotations

import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import wait_until

LIMIT = 20
IDLE_TIMEOUT = 1.5
READ_TIMEOUT = 0.5
OPEN_FILES = 256
PING = b"GET /ping HTTP/1.1\r\nHost: gateway\r\n\r\n"
# Execs the binary given last with RLIMIT_NOFILE set, as a service manager would.
WITH_OPEN_FILES = (
    sys.executable, "-c",
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); os.execv(sys.argv[2], sys.argv[2:])",
    str(OPEN_FILES),
)


@pytest.fixture(scope="module")
def bounded(stack):
    """Short timeouts, the default connection limit."""
    gateway = stack.start_gateway(
        "gateway-short-timeouts", RPC_ADDR=stack.rpc_address,
        HTTP_IDLE_TIMEOUT=f"{IDLE_TIMEOUT}s", HTTP_READ_TIMEOUT=f"{READ_TIMEOUT}s",
    )
    yield gateway
    gateway.process.terminate()


@pytest.fixture
def few_connections(stack):
    """A connection limit of LIMIT, on a gateway of its own: the slots its test
    uses come back only as the gateway sees the closes."""
    gateway = stack.start_gateway("gateway-few-connections", RPC_ADDR=stack.rpc_address, HTTP_MAX_CONNECTIONS=str(LIMIT))
    yield gateway
    gateway.process.terminate()


def connect(gateway) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    sock.settimeout(5)
    return sock


def ping_on(sock: socket.socket) -> bytes:
    """Sends /ping and returns the status line, b"" if the gateway closed the connection."""
    sock.sendall(PING)
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply.split(b"\r\n", 1)[0]


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the gateway closed `sock` (nothing may arrive before)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    assert sock.recv(4096) == b"", "the gateway answered instead of closing"
    return time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def log_lines(process, text: str) -> int:
    return process.log_path.read_text(errors="replace").count(text)


def test_connections_over_the_limit_are_closed_at_once_and_counted_back(few_connections):
    bounded = few_connections
    held = []
    try:
        # The start-up check's connections may still count for a moment.
        for _ in range(LIMIT + 50):
            sock = connect(bounded)
            if ping_on(sock) == b"HTTP/1.1 200 OK":
                held.append(sock)
                if len(held) == LIMIT:
                    break
            else:
                sock.close()
                time.sleep(0.05)
        # LIMIT served connections open: exactly the limit counted.
        assert len(held) == LIMIT
        refused = [connect(bounded) for _ in range(30)]
        for sock in refused:
            closed_within(sock, 2)
            sock.close()
        assert log_lines(bounded.process, "new connections at once") <= 2, bounded.process.log_tail()
        assert log_lines(bounded.process, "NETPOLL") == 0, bounded.process.log_tail()
    finally:
        for sock in held:
            sock.close()
    # Every slot comes back once its connection closes.
    def all_served():
        fresh = [connect(bounded) for _ in range(LIMIT)]
        try:
            return all(ping_on(sock) == b"HTTP/1.1 200 OK" for sock in fresh)
        finally:
            for sock in fresh:
                sock.close()

    wait_until(all_served, 5, f"{LIMIT} new connections to be served again")


def test_silent_and_trickling_connections_are_closed_after_the_idle_timeout(bounded):
    silent = connect(bounded)
    assert closed_within(silent, IDLE_TIMEOUT + 2) >= IDLE_TIMEOUT - 0.3
    # A request trickling in, each byte well within the read timeout, still
    # has to arrive whole within the idle timeout.
    trickling = connect(bounded)
    started = time.monotonic()
    with pytest.raises(OSError):
        for byte in PING * 10:
            trickling.sendall(bytes([byte]))
            time.sleep(READ_TIMEOUT / 5)
            assert time.monotonic() - started < IDLE_TIMEOUT + 3, "still open"
    # After a served request the same bound runs again.
    served = connect(bounded)
    assert ping_on(served) == b"HTTP/1.1 200 OK"
    assert closed_within(served, IDLE_TIMEOUT + 2) >= IDLE_TIMEOUT - 0.3


def test_a_body_shorter_than_its_length_gets_400_after_the_read_timeout(bounded):
    """40 at once: Hertz logs each connection's error, at most 10 per 10 s pass
    (two windows at most during this module: 20)."""
    socks = [connect(bounded) for _ in range(40)]
    started = time.monotonic()
    for sock in socks:
        sock.sendall(b"POST /api/send HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 500\r\n\r\n{\"chat\":\"a")
    for sock in socks:
        assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")
        sock.close()
    assert time.monotonic() - started < READ_TIMEOUT + 3
    assert bounded.ping().status == 200
    assert 1 <= log_lines(bounded.process, "HERTZ: Error=") <= 20, bounded.process.log_tail()


def test_http_connections_never_use_up_the_open_file_limit(stack):
    """With the default limit, half of what the open-file limit leaves: more
    connections than the file limit allows are refused quietly, the accept loop
    does not spin, and the gateway serves again once they go."""
    gateway = stack.start_gateway("gateway-few-files", wrapper=WITH_OPEN_FILES, RPC_ADDR=stack.rpc_address)
    pid = gateway.process.popen.pid
    held = []
    try:
        # In a burst from several threads, as fast as the gateway accepts.
        with ThreadPoolExecutor(8) as pool:
            held += pool.map(lambda _: connect(gateway), range(OPEN_FILES + 100))
        time.sleep(0.5)
        open_files = len(os.listdir(f"/proc/{pid}/fd"))
        assert open_files < OPEN_FILES - 32, f"{open_files} files open"
        before = cpu_seconds(pid)
        time.sleep(2)
        assert cpu_seconds(pid) - before < 0.5, "the gateway is busy with nothing to serve"
        assert log_lines(gateway.process, "NETPOLL") == 0, gateway.process.log_tail()
        assert log_lines(gateway.process, "new connections at once") <= 2, gateway.process.log_tail()
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: gateway.ping().status == 200, 5, "/ping once the connections closed")
    assert gateway.pull("limits:check").status == 200
    gateway.process.terminate()
