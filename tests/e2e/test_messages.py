"""Sending and reading messages: fields, rooms, texts, concurrency."""

import time
from concurrent.futures import ThreadPoolExecutor

from conftest import Room, texts

MAX_TEXT_BYTES = 65536


def test_ping(gateway):
    response = gateway.ping()
    assert response.status == 200
    assert response.json() == {"message": "pong"}


def test_round_trip(gateway, room):
    before = time.time_ns() // 1000
    gateway.send_ok(room.chat, "hello", room.a)
    after = time.time_ns() // 1000

    page = gateway.pull_ok(room.chat)
    assert list(page) == ["messages"], "has_more and next_cursor are omitted on the last page"
    [message] = page["messages"]
    assert {k: message[k] for k in ("chat", "text", "sender")} == {"chat": room.chat, "text": "hello", "sender": room.a}
    assert isinstance(message["send_time"], int)
    assert before - 1_000_000 <= message["send_time"] <= after + 1_000_000, "send_time is now, in microseconds"


def test_empty_room_has_no_fields(gateway, room):
    assert gateway.pull_ok(room.chat) == {}
    assert gateway.pull_ok(room.chat, reverse=True) == {}


def test_both_member_orders_are_one_room(gateway, room):
    gateway.send_ok(room.chat, "from a", room.a)
    gateway.send_ok(room.swapped, "from b", room.b)

    for chat in (room.chat, room.swapped):
        messages = gateway.pull_ok(chat)["messages"]
        assert [(m["chat"], m["text"], m["sender"]) for m in messages] == [
            (room.chat, "from a", room.a),
            (room.swapped, "from b", room.b),
        ], "each message keeps the chat string it was sent with"


def test_rooms_are_separate(gateway, room):
    other = Room(room.a, room.b + "-other")
    gateway.send_ok(room.chat, "here", room.a)
    gateway.send_ok(other.chat, "there", room.a)
    assert texts(gateway.pull_ok(room.chat)["messages"]) == ["here"]
    assert texts(gateway.pull_ok(other.swapped)["messages"]) == ["there"]


def test_identical_texts_are_all_kept(gateway, room):
    for _ in range(5):
        gateway.send_ok(room.chat, "same", room.a)
    messages = gateway.pull_ok(room.chat)["messages"]
    assert texts(messages) == ["same"] * 5
    send_times = [m["send_time"] for m in messages]
    assert send_times == sorted(set(send_times)), "each has its own, increasing send_time"


UNUSUAL_TEXTS = [
    "",
    "emoji 😀👩‍👩‍👧‍👦🏳️‍🌈",
    "中文，日本語のテキスト、한국어",
    "quotes \" ' ` and backslashes \\ \\\\ \\n \\u0041",
    "new\nlines\r\nand\ttabs",
    "control \u0000 \u0001 \u001f \u007f",
    "combining e\u0301 and zero\u200bwidth, rtl \u202e",
    "json-looking {\"chat\":\"x:y\",\"send_time\":1}",
    "   surrounding spaces   ",
]


def test_unusual_texts_are_kept_exactly(gateway, room):
    for text in UNUSUAL_TEXTS:
        gateway.send_ok(room.chat, text, room.a)
    messages = gateway.pull_ok(room.chat, limit=100)["messages"]
    assert texts(messages) == UNUSUAL_TEXTS
    assert "text" not in messages[0], "the empty text is omitted like every zero value"


def test_unicode_members(gateway):
    room = Room(f"李-{time.time_ns()}", "Ölaf 😀")
    gateway.send_ok(room.chat, "hi", room.b)
    [message] = gateway.pull_ok(room.swapped)["messages"]
    assert (message["chat"], message["sender"]) == (room.chat, room.b)


def test_largest_texts_are_accepted(gateway, room):
    largest = [
        "x" * MAX_TEXT_BYTES,
        "€" * (MAX_TEXT_BYTES // 3) + "x",  # the limit counts bytes: 21845 * 3 + 1
    ]
    for text in largest:
        assert len(text.encode()) == MAX_TEXT_BYTES
        gateway.send_ok(room.chat, text, room.a)
    assert texts(gateway.pull_ok(room.chat)["messages"]) == largest


def test_concurrent_senders_lose_and_duplicate_nothing(gateway, room):
    threads, per_thread = 8, 50

    def send_all(thread: int) -> None:
        chat = room.chat if thread % 2 else room.swapped
        sender = room.a if thread % 4 < 2 else room.b
        for i in range(per_thread):
            gateway.send_ok(chat, f"t{thread}-{i:03}", sender)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send_all, range(threads)))

    messages = gateway.pull_all(room.chat, limit=100)
    sent = {f"t{t}-{i:03}" for t in range(threads) for i in range(per_thread)}
    assert len(messages) == len(sent) and set(texts(messages)) == sent, "none lost or duplicated"
    send_times = [m["send_time"] for m in messages]
    assert send_times == sorted(set(send_times)), "send_time strictly increasing"
    for thread in range(threads):
        own = [text for text in texts(messages) if text.startswith(f"t{thread}-")]
        assert own == sorted(own), f"thread {thread}'s messages out of order"
    assert gateway.pull_all(room.swapped, limit=100, reverse=True) == messages[::-1]
