"""Apache Thrift's Python client calling the rpc-server directly, in every
framing with both protocols.

The client code is generated at test time from idl/idl_rpc.thrift by
Debian's Apache Thrift compiler (`thrift --gen py`) and runs on Debian's
python3-thrift: unframed (TBufferedTransport), TFramedTransport, each with
TBinaryProtocol and TCompactProtocol. TTHeader is Kitex's transport (magic
0x1000); Apache Thrift has none (its THeader, magic 0x0FFF, is another
format), so `TTHeaderTransport` below frames Apache Thrift's protocol bytes
as Kitex's TTHeader does: the messages inside are still Apache Thrift's.
"""

from __future__ import annotations

import importlib
import io
import shutil
import socket
import struct
import subprocess
import sys

import pytest
from thrift.Thrift import TApplicationException
from thrift.protocol import TBinaryProtocol, TCompactProtocol
from thrift.transport import THeaderTransport, TSocket, TTransport

from conftest import REPO

PROTOCOLS = ("binary", "compact")
FRAMINGS = ("unframed", "framed", "ttheader")
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def idl(tmp_path_factory):
    """The generated `idl_rpc` package (IMService client and ttypes)."""
    if shutil.which("thrift") is None:
        pytest.fail("the Apache Thrift compiler is missing (Debian: thrift-compiler)")
    out = tmp_path_factory.mktemp("thrift-py")
    subprocess.run(["thrift", "--gen", "py", "-out", str(out), str(REPO / "idl/idl_rpc.thrift")], check=True)
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("idl_rpc.IMService"), importlib.import_module("idl_rpc.ttypes")
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == "idl_rpc" or n.startswith("idl_rpc.")]:
            del sys.modules[name]


class TTHeaderTransport(TTransport.TTransportBase):
    """Kitex's TTHeader around each message: length, magic 0x1000, flags,
    sequence number, header size in 4-byte words, then the header (protocol
    id, no transforms, an info block of string key/values, padding) and the
    payload. Replies are checked to be TTHeader with the same protocol id."""

    MAGIC = 0x1000
    PROTOCOL_IDS = {"binary": 0, "compact": 2}
    INFO_KEY_VALUE = 0x01

    def __init__(self, transport, protocol: str):
        self._transport = transport
        self._protocol_id = self.PROTOCOL_IDS[protocol]
        self._write_buffer = io.BytesIO()
        self._read_buffer = io.BytesIO()
        self._sequence = 0

    def isOpen(self):
        return self._transport.isOpen()

    def open(self):
        self._transport.open()

    def close(self):
        self._transport.close()

    def write(self, buf):
        self._write_buffer.write(buf)

    def flush(self):
        payload = self._write_buffer.getvalue()
        self._write_buffer = io.BytesIO()
        self._sequence += 1
        header = bytes([self._protocol_id, 0, self.INFO_KEY_VALUE]) + struct.pack("!H", 1)
        for text in ("client", "apache-thrift-py"):
            header += struct.pack("!H", len(text)) + text.encode()
        header += b"\0" * (-len(header) % 4)
        rest = struct.pack("!HHIH", self.MAGIC, 0, self._sequence, len(header) // 4) + header + payload
        self._transport.write(struct.pack("!I", len(rest)) + rest)
        self._transport.flush()

    def read(self, sz):
        data = self._read_buffer.read(sz)
        if not data:
            self._read_frame()
            data = self._read_buffer.read(sz)
        return data

    def _read_frame(self):
        (size,) = struct.unpack("!I", self._transport.readAll(4))
        frame = self._transport.readAll(size)
        magic, _flags, _sequence, words = struct.unpack("!HHIH", frame[:10])
        assert magic == self.MAGIC, f"reply is not TTHeader: {frame[:10].hex()}"
        assert frame[10] == self._protocol_id, f"reply protocol id {frame[10]}, sent {self._protocol_id}"
        self._read_buffer = io.BytesIO(frame[10 + words * 4:])


def connect(port: int, protocol: str, framing: str):
    """An open Apache Thrift `IMService` transport and protocol to 127.0.0.1:port."""
    sock = TSocket.TSocket("127.0.0.1", port)
    sock.setTimeout(TIMEOUT_MS)
    if framing == "unframed":
        transport = TTransport.TBufferedTransport(sock)
    elif framing == "framed":
        transport = TTransport.TFramedTransport(sock)
    else:
        transport = TTHeaderTransport(sock, protocol)
    if protocol == "binary":
        proto = TBinaryProtocol.TBinaryProtocol(transport)
    else:
        proto = TCompactProtocol.TCompactProtocol(transport)
    transport.open()
    return transport, proto


@pytest.fixture(params=[(p, f) for p in PROTOCOLS for f in FRAMINGS], ids=lambda pf: f"{pf[0]}-{pf[1]}")
def client(request, stack, idl):
    """One connection for the whole test: every call must leave it usable."""
    service, _ = idl
    protocol, framing = request.param
    transport, proto = connect(stack.rpc_port, protocol, framing)
    try:
        yield service.Client(proto)
    finally:
        transport.close()


def send(client, types, chat: str, text: str, sender: str):
    message = types.Message(Chat=chat, Text=text, Sender=sender)
    return client.Send(types.SendRequest(message=message))


def pull_all(client, types, chat: str, limit: int, reverse: bool | None) -> list:
    """Every message, following NextCursor; checks each page's fields."""
    messages, cursor = [], 0
    for _ in range(100):
        page = client.Pull(types.PullRequest(Chat=chat, Cursor=cursor, Limit=limit, Reverse=reverse))
        assert (page.Code, page.Msg) == (0, "success"), page
        assert page.Messages is not None and page.HasMore is not None and page.NextCursor is not None, page
        assert len(page.Messages) <= limit, page
        messages += page.Messages
        if not page.HasMore:
            assert page.NextCursor == 0, page
            return messages
        assert len(page.Messages) == limit, page
        cursor = page.NextCursor
        following = page.Messages[-1].SendTime
        assert cursor > following if not reverse else cursor < following, page
    raise AssertionError("paging did not end")


def test_send_and_pull_every_field(client, idl, room):
    _, types = idl
    texts = ["first", "héllo wörld 🌍 — 你好", "", "fourth", "x" * 1000]
    for i, text in enumerate(texts):
        # The second member writes the room's name the other way round.
        chat = room.chat if i % 2 == 0 else room.swapped
        sender = room.a if i % 2 == 0 else room.b
        response = send(client, types, chat, text, sender)
        assert (response.Code, response.Msg) == (0, "success"), response

    forward = pull_all(client, types, room.chat, limit=2, reverse=False)
    assert [m.Text for m in forward] == texts
    assert [m.Sender for m in forward] == [room.a, room.b] * 2 + [room.a]
    assert [m.Chat for m in forward] == [room.chat, room.swapped] * 2 + [room.chat]
    times = [m.SendTime for m in forward]
    assert times == sorted(times) and len(set(times)) == len(times) and times[0] > 0

    backward = pull_all(client, types, room.swapped, limit=2, reverse=True)
    assert [m.Text for m in backward] == texts[::-1]
    assert [m.SendTime for m in backward] == times[::-1]

    # Reverse left out means forward.
    assert [m.Text for m in pull_all(client, types, room.chat, limit=3, reverse=None)] == texts

    # A cursor in the middle, both ways, inclusive.
    middle = times[2]
    page = client.Pull(types.PullRequest(Chat=room.chat, Cursor=middle, Limit=10, Reverse=True))
    assert [m.Text for m in page.Messages] == texts[2::-1]
    assert (page.HasMore, page.NextCursor) == (False, 0)
    page = client.Pull(types.PullRequest(Chat=room.chat, Cursor=middle, Limit=1, Reverse=False))
    assert [m.Text for m in page.Messages] == [texts[2]]
    assert (page.HasMore, page.NextCursor) == (True, times[3])


def test_errors_are_answered_with_a_code_and_the_connection_stays(client, idl, room):
    _, types = idl
    response = send(client, types, room.chat, "hi", "mallory")
    assert response.Code == 400 and response.Msg.startswith("invalid sender"), response
    response = send(client, types, "no-colon", "hi", "a")
    assert response.Code == 400 and response.Msg.startswith("invalid chat"), response
    page = client.Pull(types.PullRequest(Chat=room.chat, Cursor=-1, Limit=10, Reverse=True))
    assert page.Code == 400 and page.Msg.startswith("invalid cursor"), page
    page = client.Pull(types.PullRequest(Chat=room.chat, Cursor=0, Limit=-5, Reverse=False))
    assert page.Code == 400 and page.Msg.startswith("invalid limit"), page
    # Still the same connection, still served.
    assert send(client, types, room.chat, "after errors", room.a).Code == 0
    page = client.Pull(types.PullRequest(Chat=room.chat, Cursor=0, Limit=10, Reverse=False))
    assert [m.Text for m in page.Messages] == ["after errors"]
    assert (page.HasMore, page.NextCursor) == (False, 0)


def test_apache_theader_is_refused_and_the_server_goes_on(stack, idl):
    """Apache Thrift's THeader (magic 0x0FFF) is not Kitex's TTHeader: the
    server closes the connection at once rather than guess."""
    service, types = idl
    sock = TSocket.TSocket("127.0.0.1", stack.rpc_port)
    sock.setTimeout(TIMEOUT_MS)
    transport = THeaderTransport.THeaderTransport(sock, [THeaderTransport.THeaderClientType.HEADERS])
    transport.open()
    try:
        with pytest.raises((TTransport.TTransportException, TApplicationException, OSError)):
            send(service.Client(TBinaryProtocol.TBinaryProtocol(transport)), types, "a:b", "hi", "a")
    finally:
        transport.close()
    transport, proto = connect(stack.rpc_port, "compact", "framed")
    try:
        assert send(service.Client(proto), types, "a:b", "still served", "a").Code == 0
    finally:
        transport.close()


def test_framed_compact_inputs_that_crashed_pilota_0_13_1_are_answered(stack):
    """Framed compact requests that killed the connection's task before the
    vendored pilota fix (vendor/pilota/PATCH.md): an unknown string field
    before the arguments, and a Pull with `Reverse` set. Both get a reply."""
    requests = {
        # Send { 9: "abcde\x0c\x02\x1c\x18\x7f" (unknown), 1: {1: {"a:b", "hi", "a"}} }
        "Send": "8221010453656e64980a61626364650c021c187f0c021c1803613a6218026869180161000000",
        # Pull { 2: {Chat "a:b", Cursor 0, Limit 10, Reverse true} }, as Apache Thrift writes it
        "Pull": "8221000450756c6c2c1803613a6216001514110000",
    }
    for method, hex_message in requests.items():
        message = bytes.fromhex(hex_message)
        with socket.create_connection(("127.0.0.1", stack.rpc_port), timeout=TIMEOUT_MS / 1000) as sock:
            sock.sendall(struct.pack("!I", len(message)) + message)
            (size,) = struct.unpack("!I", recv_exactly(sock, 4))
            reply = recv_exactly(sock, size)
        # A compact reply (message type 2) to the same method.
        assert reply[:2] == b"\x82\x41", (method, reply.hex())
        assert method.encode() in reply[:12], (method, reply.hex())


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"connection closed after {len(data)} of {n} bytes"
        data += chunk
    return data
