"""Pull pages: default and capped limits, cursors, following next_cursor."""

import pytest

from conftest import fill_room, new_room, texts

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


def filled_room(gateway, count):
    """A new room of `count` messages, and the messages as read back oldest first."""
    room = new_room()
    sent = fill_room(gateway, room, count)
    messages = gateway.pull_all(room.chat, limit=MAX_LIMIT)
    assert texts(messages) == sent
    return room, messages


@pytest.fixture(scope="module")
def paged_room(stack):
    return filled_room(stack.gateway, 23)


@pytest.fixture(scope="module")
def room_over_max_limit(stack):
    return filled_room(stack.gateway, MAX_LIMIT + 5)


def test_default_limit_is_10(gateway, room):
    sent = fill_room(gateway, room, 12)
    messages = gateway.pull_all(room.chat, limit=MAX_LIMIT)
    eleventh = messages[DEFAULT_LIMIT]["send_time"]

    for body in ({"chat": room.chat, "limit": 0}, {"chat": room.chat}):
        page = gateway.request("GET", "/api/pull", body).json()
        assert texts(page["messages"]) == sent[:DEFAULT_LIMIT], body
        assert (page["has_more"], page["next_cursor"]) == (True, eleventh), body

    newest_first = gateway.pull_ok(room.chat, limit=0, reverse=True)
    assert texts(newest_first["messages"]) == sent[::-1][:DEFAULT_LIMIT]
    assert newest_first["next_cursor"] == messages[1]["send_time"]


@pytest.mark.parametrize("reverse", [False, True], ids=["oldest-first", "newest-first"])
@pytest.mark.parametrize("limit", [1, 2, 5, 10, 22, 23, 24, 100])
def test_following_next_cursor_reads_each_message_once(gateway, paged_room, limit, reverse):
    room, messages = paged_room
    expected = messages[::-1] if reverse else messages
    assert gateway.pull_all(room.swapped, limit=limit, reverse=reverse) == expected


def test_next_cursor_is_the_first_message_of_the_next_page(gateway, paged_room):
    room, messages = paged_room
    page = gateway.pull_ok(room.chat, limit=5)
    assert page["next_cursor"] == messages[5]["send_time"]
    page = gateway.pull_ok(room.chat, limit=5, reverse=True)
    assert page["next_cursor"] == messages[-6]["send_time"]


def test_cursor_is_inclusive(gateway, paged_room):
    room, messages = paged_room
    times = [m["send_time"] for m in messages]
    assert times == sorted(set(times)), "send_time strictly increasing"

    assert gateway.pull_all(room.chat, limit=4, cursor=times[7]) == messages[7:]
    assert gateway.pull_all(room.chat, limit=4, cursor=times[7], reverse=True) == messages[7::-1]
    # Between two send_times: from the next one going forward, the previous one going back.
    assert gateway.pull_all(room.chat, limit=4, cursor=times[7] + 1) == messages[8:]
    assert gateway.pull_all(room.chat, limit=4, cursor=times[7] - 1, reverse=True) == messages[6::-1]


def test_cursor_beyond_either_end(gateway, paged_room):
    room, messages = paged_room
    newest, oldest = messages[-1]["send_time"], messages[0]["send_time"]
    assert gateway.pull_ok(room.chat, cursor=newest + 1) == {}
    assert gateway.pull_ok(room.chat, cursor=oldest - 1, reverse=True) == {}
    assert gateway.pull_all(room.chat, limit=7, cursor=newest + 10**9, reverse=True) == messages[::-1]
    assert gateway.pull_all(room.chat, limit=7, cursor=1) == messages


@pytest.mark.parametrize("limit", [MAX_LIMIT + 1, 1000, 2**31 - 1])
def test_limit_above_100_is_capped(gateway, room_over_max_limit, limit):
    room, messages = room_over_max_limit
    page = gateway.pull_ok(room.chat, limit=limit)
    assert page["messages"] == messages[:MAX_LIMIT]
    assert (page["has_more"], page["next_cursor"]) == (True, messages[MAX_LIMIT]["send_time"])
    rest = gateway.pull_ok(room.chat, cursor=page["next_cursor"], limit=limit)
    assert rest == {"messages": messages[MAX_LIMIT:]}
