"""Invalid requests: the gateway answers 400 when it cannot parse the body,
and 500 with the rpc-server's message when the rpc-server refuses the request.
Either way the stack keeps serving."""

import pytest

from conftest import Room, texts

PARSE_ERROR = (400, "Failed to parse request body: ")
LONG_MEMBER = "m" * 129
LONG_UNICODE_MEMBER = "€" * 43  # 129 bytes in 43 characters


def send_body(chat="a:b", text="hi", sender="a"):
    return {"chat": chat, "text": text, "sender": sender}


SEND_CASES = {
    "bad json": ('{"chat": "a:b", "text": ', *PARSE_ERROR),
    "json array": ("[]", *PARSE_ERROR),
    "text not a string": ({**send_body(), "text": 1}, *PARSE_ERROR),
    "empty body": (None, 500, "invalid chat: "),
    "json null": ("null", 500, "invalid chat: "),
    "missing chat": ({"text": "hi", "sender": "a"}, 500, "invalid chat: "),
    "empty chat": (send_body(chat=""), 500, "invalid chat: "),
    "chat without colon": (send_body(chat="ab"), 500, "invalid chat: "),
    "chat with two colons": (send_body(chat="a:b:c"), 500, "invalid chat: "),
    "empty first member": (send_body(chat=":b"), 500, "invalid chat: "),
    "empty second member": (send_body(chat="a:"), 500, "invalid chat: "),
    "only a colon": (send_body(chat=":", sender=""), 500, "invalid chat: "),
    "only colons": (send_body(chat="::"), 500, "invalid chat: "),
    "first member of 129 bytes": (send_body(chat=f"{LONG_MEMBER}:b", sender="b"), 500, "invalid chat: "),
    "second member of 129 bytes": (send_body(chat=f"a:{LONG_MEMBER}"), 500, "invalid chat: "),
    "member of 129 bytes in 43 chars": (send_body(chat=f"a:{LONG_UNICODE_MEMBER}"), 500, "invalid chat: "),
    "missing sender": ({"chat": "a:b", "text": "hi"}, 500, "invalid sender: "),
    "sender not in room": (send_body(sender="c"), 500, "invalid sender: "),
    "sender of other case": (send_body(sender="A"), 500, "invalid sender: "),
    "sender is the chat": (send_body(sender="a:b"), 500, "invalid sender: "),
    "text of 65537 bytes": (send_body(text="x" * 65537), 500, "invalid text: 65537 bytes"),
    "text of 65538 bytes in 21846 chars": (send_body(text="€" * 21846), 500, "invalid text: 65538 bytes"),
}

PULL_CASES = {
    "bad json": ('{"chat": ', *PARSE_ERROR),
    "limit not a number": ({"chat": "a:b", "limit": "ten"}, *PARSE_ERROR),
    "limit beyond int32": ({"chat": "a:b", "limit": 2**31}, *PARSE_ERROR),
    "reverse not a bool": ({"chat": "a:b", "reverse": "yes"}, *PARSE_ERROR),
    "empty body": (None, 500, "invalid chat: "),
    "missing chat": ({"limit": 1}, 500, "invalid chat: "),
    "chat without colon": ({"chat": "ab"}, 500, "invalid chat: "),
    "chat with two colons": ({"chat": "a:b:c"}, 500, "invalid chat: "),
    "empty member": ({"chat": "a:"}, 500, "invalid chat: "),
    "member of 129 bytes": ({"chat": f"{LONG_MEMBER}:b"}, 500, "invalid chat: "),
    "negative limit": ({"chat": "a:b", "limit": -1}, 500, "invalid limit: "),
    "negative limit reverse": ({"chat": "a:b", "limit": -5, "reverse": True}, 500, "invalid limit: "),
    "negative cursor": ({"chat": "a:b", "cursor": -1}, 500, "invalid cursor: "),
    "negative cursor reverse": ({"chat": "a:b", "cursor": -1, "reverse": True}, 500, "invalid cursor: "),
}


def assert_rejected(response, status, message_start):
    assert response.status == status, response
    assert response.text.startswith(message_start), response


def assert_still_serving(gateway, room):
    gateway.send_ok(room.chat, "still here", room.a)
    assert texts(gateway.pull_ok(room.chat)["messages"]) == ["still here"]


@pytest.mark.parametrize("body, status, message_start", SEND_CASES.values(), ids=SEND_CASES.keys())
def test_invalid_send_is_rejected(gateway, room, body, status, message_start):
    assert_rejected(gateway.request("POST", "/api/send", body), status, message_start)
    assert_still_serving(gateway, room)


@pytest.mark.parametrize("body, status, message_start", PULL_CASES.values(), ids=PULL_CASES.keys())
def test_invalid_pull_is_rejected(gateway, room, body, status, message_start):
    assert_rejected(gateway.request("GET", "/api/pull", body), status, message_start)
    assert_still_serving(gateway, room)


def test_messages_name_the_problem(gateway):
    """The rpc-server's reasons reach the HTTP client with the offending values."""
    cases = [
        (gateway.request("POST", "/api/send", send_body(chat="a:b:c")), ["invalid chat", '"a:b:c"', "more than one ':'"]),
        (gateway.request("POST", "/api/send", send_body(chat=f"a:{LONG_MEMBER}")), ["invalid chat", "129 bytes", "128"]),
        (gateway.request("POST", "/api/send", send_body(sender="c")), ["invalid sender", '"c"', '"a"', '"b"']),
        (gateway.request("POST", "/api/send", send_body(text="x" * 65537)), ["invalid text", "65537", "65536"]),
        (gateway.pull("a:b", limit=-3), ["invalid limit", "-3"]),
        (gateway.pull("a:b", cursor=-7), ["invalid cursor", "-7"]),
    ]
    for response, fragments in cases:
        assert response.status == 500, response
        for fragment in fragments:
            assert fragment in response.text, response


def test_rejected_messages_are_not_stored(gateway, room):
    gateway.send(room.chat, "x" * 65537, room.a)
    gateway.send(room.chat, "from an outsider", "mallory")
    assert gateway.pull_ok(room.chat) == {}


def test_limits_are_inclusive(gateway):
    room = Room("m" * 128, "€" * 42 + "xx")  # both 128 bytes
    gateway.send_ok(room.swapped, "at the limit", room.b)
    [message] = gateway.pull_ok(room.chat)["messages"]
    assert (message["chat"], message["sender"]) == (room.swapped, room.b)
