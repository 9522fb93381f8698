"""The real stack for the end-to-end tests, and an HTTP client for it.

A session-scoped `stack` runs Redis, etcd, the rpc-server and the Hertz
gateway on free 127.0.0.1 ports with their data and logs in a temp dir.
Every process is stopped at teardown, also when tests fail; the tails of
their logs are attached to the report of a failed test.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICE_KEY_PREFIX = "kitex/registry-etcd/demo.rpc.server/"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

# Every process started by the tests, for log tails and cleanup.
_processes: list[Process] = []

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: should pytest itself be killed (no
    teardown), the kernel kills the server too."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    """Polls `condition` until it returns something truthy and returns that.
    Exceptions count as "not yet"; the last one is reported on timeout."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            result = condition()
            if result:
                return result
        except Exception as err:  # noqa: BLE001 - any failure means "not yet"
            last_error = err
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error!r})")
        time.sleep(interval)


def binary(env_var: str, *candidates: str) -> str:
    if os.environ.get(env_var):
        return os.environ[env_var]
    for candidate in candidates:
        if (REPO / candidate).is_file():
            return str(REPO / candidate)
    pytest.exit(f"{candidates[0]} is missing: build it first or set {env_var}", returncode=2)


class Process:
    """A server in its own process group, its output in `<log_dir>/<name>.log`."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None):
        self.name, self.argv, self.env = name, argv, env or {}
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        _processes.append(self)

    def start(self) -> Process:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then SIGKILL to the whole group if it has not exited in time."""
        if self.popen is None:
            return 0
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode

    def wait_for_port(self, port: int) -> None:
        def accepting():
            assert self.running, f"{self.name} exited with {self.popen.returncode}"
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True

        wait_until(accepting, START_TIMEOUT, f"{self.name} to listen on {port}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(ANSI_ESCAPE.sub("", line) for line in text.splitlines()[-lines:])


@dataclass
class Response:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self):
        return json.loads(self.body)


class Gateway:
    """HTTP client of one gateway process; one connection per request."""

    def __init__(self, port: int, process: Process):
        self.port, self.process = port, process

    def request(self, method: str, path: str, body=None) -> Response:
        """`body`: a dict/list is sent as JSON, str/bytes as they are, None as no body."""
        headers = {}
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return Response(response.status, response.read())
        finally:
            conn.close()

    def ping(self) -> Response:
        return self.request("GET", "/ping")

    def send(self, chat: str, text: str, sender: str) -> Response:
        return self.request("POST", "/api/send", {"chat": chat, "text": text, "sender": sender})

    def pull(self, chat: str, cursor: int = 0, limit: int = 10, reverse: bool = False) -> Response:
        body = {"chat": chat, "cursor": cursor, "limit": limit, "reverse": reverse}
        return self.request("GET", "/api/pull", body)

    def send_ok(self, chat: str, text: str, sender: str) -> None:
        response = self.send(chat, text, sender)
        assert (response.status, response.body) == (200, b""), response

    def pull_ok(self, chat: str, cursor: int = 0, limit: int = 10, reverse: bool = False) -> dict:
        response = self.pull(chat, cursor, limit, reverse)
        assert response.status == 200, response
        return response.json()

    def send_eventually(self, chat: str, text: str, sender: str, timeout: float) -> None:
        """Sends, retrying failed attempts for up to `timeout` seconds."""
        wait_until(lambda: self.send(chat, text, sender).status == 200, timeout, f"sending {text!r}", interval=0.1)

    def pull_all(self, chat: str, limit: int, reverse: bool = False, cursor: int = 0) -> list[dict]:
        """Every message from `cursor` on, following `next_cursor` page by page;
        checks the paging contract on the way (`limit` at most the cap of 100)."""
        messages: list[dict] = []
        for _ in range(10_000):
            page = self.pull_ok(chat, cursor, limit, reverse)
            batch = page.get("messages", [])
            assert len(batch) <= limit, page
            messages += batch
            if not page.get("has_more"):
                assert "next_cursor" not in page, page
                return messages
            assert len(batch) == limit, f"a page short of {limit} claims has_more: {page}"
            assert page["next_cursor"] > 0, page
            cursor = page["next_cursor"]
        raise AssertionError("paging did not end")


@dataclass(frozen=True)
class Room:
    a: str
    b: str

    @property
    def chat(self) -> str:
        return f"{self.a}:{self.b}"

    @property
    def swapped(self) -> str:
        return f"{self.b}:{self.a}"


def new_room() -> Room:
    """Members unique to the caller, so that tests share no messages."""
    tag = uuid.uuid4().hex[:12]
    return Room(f"alice-{tag}", f"bob-{tag}")


def texts(messages: list[dict]) -> list[str]:
    """The texts of `messages`; an empty text is omitted from the JSON like every zero value."""
    return [message.get("text", "") for message in messages]


def fill_room(gateway: Gateway, room: Room, count: int) -> list[str]:
    """Sends `count` numbered messages, senders alternating; returns their texts in order."""
    sent = [f"message-{i:04}" for i in range(count)]
    for i, text in enumerate(sent):
        gateway.send_ok(room.chat, text, room.b if i % 2 else room.a)
    return sent


class Stack:
    """Redis, etcd, rpc-servers and gateways on loopback ports under `tmp`."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.redis_port = free_port()
        self.etcd_port = free_port()
        self.rpc_port = free_port()
        self.rpc_bin = binary("RPC_SERVER_BIN", "target/release/rpc-server", "target/debug/rpc-server")
        self.gateway_bin = binary("GATEWAY_BIN", "http-server-go/bin/http-server")
        self.rpc_server: Process | None = None
        self.gateway: Gateway | None = None

    @property
    def etcd_endpoint(self) -> str:
        return f"127.0.0.1:{self.etcd_port}"

    @property
    def rpc_address(self) -> str:
        """Where the session's rpc-server listens and registers itself."""
        return f"127.0.0.1:{self.rpc_port}"

    def start(self) -> None:
        redis = Process(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
            self.tmp,
        ).start()
        peer = f"http://127.0.0.1:{free_port()}"
        client = f"http://{self.etcd_endpoint}"
        etcd = Process(
            "etcd",
            ["etcd", "--name", "default", "--data-dir", str(self.tmp / "etcd"),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"default={peer}"],
            self.tmp,
        ).start()
        redis.wait_for_port(self.redis_port)
        etcd.wait_for_port(self.etcd_port)
        self.rpc_server = self.start_rpc_server("rpc-server", self.rpc_port)
        self.gateway = self.start_gateway("gateway", RPC_ADDR=self.rpc_address)
        self.wait_serving(self.gateway)

    def start_rpc_server(self, name: str, port: int, **env: str) -> Process:
        process = Process(
            name,
            [self.rpc_bin],
            self.tmp,
            {
                "RPC_LISTEN": f"127.0.0.1:{port}",
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}",
                "ETCD_ENDPOINTS": self.etcd_endpoint,
                "KITEX_ETCD_REGISTRY_LEASE_TTL": "5",
                "RUST_LOG": "info",
                **env,
            },
        ).start()
        process.wait_for_port(port)
        return process

    def start_gateway(self, name: str, wrapper: tuple[str, ...] = (), **env: str) -> Gateway:
        """`wrapper`: a command that execs the gateway binary given as its last argument."""
        port = free_port()
        process = Process(
            name,
            [*wrapper, self.gateway_bin],
            self.tmp,
            {"HTTP_ADDR": f"127.0.0.1:{port}", "ETCD_ENDPOINTS": self.etcd_endpoint, **env},
        ).start()
        gateway = Gateway(port, process)

        def pong():
            assert process.running, f"{name} exited with {process.popen.returncode}"
            return gateway.ping().status == 200

        wait_until(pong, START_TIMEOUT, f"{name} to answer /ping")
        return gateway

    @staticmethod
    def wait_serving(gateway: Gateway, timeout: float = START_TIMEOUT) -> None:
        """Until a pull through `gateway` reaches an rpc-server and Redis."""
        wait_until(lambda: gateway.pull("ready:check").status == 200, timeout, "a pull to answer 200")

    def restart_rpc_server(self) -> None:
        """SIGTERM the rpc-server, wait for its exit, start it again on the same port."""
        assert self.rpc_server.terminate() == 0, self.rpc_server.log_tail()
        self.rpc_server.start().wait_for_port(self.rpc_port)

    def registered_addresses(self) -> set[str]:
        """The rpc-server addresses registered in etcd, read with etcdctl."""
        out = subprocess.run(
            ["etcdctl", "--endpoints", self.etcd_endpoint, "get", "--prefix", "--keys-only", SERVICE_KEY_PREFIX],
            env={**os.environ, "ETCDCTL_API": "3"},
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout
        return {line.removeprefix(SERVICE_KEY_PREFIX) for line in out.split() if line}


def stop_all() -> None:
    """Gateways first (they hold connections to the rpc-servers), then the rest."""
    for process in sorted(reversed(_processes), key=lambda p: not p.name.startswith("gateway")):
        process.terminate()


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    stack = Stack(tmp_path_factory.mktemp("stack"))
    try:
        stack.start()
        yield stack
    finally:
        stop_all()


@pytest.fixture
def gateway(stack) -> Gateway:
    return stack.gateway


@pytest.fixture
def room() -> Room:
    return new_room()


# hookwrapper (not wrapper=True): Debian's pytest 7.2 knows only the older form.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for process in _processes:
            report.sections.append((f"log tail: {process.name} ({process.log_path})", process.log_tail()))
