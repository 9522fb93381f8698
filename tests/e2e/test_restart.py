"""Messages live in Redis: they survive a restart of the rpc-server."""

from conftest import fill_room, texts, wait_until

# The gateway's pooled connections to the old process are dead: its first
# calls after the restart may fail.
RECONNECT_TIMEOUT = 5.0


def test_messages_survive_an_rpc_server_restart(stack, gateway, room):
    sent = fill_room(gateway, room, 15)
    before = gateway.pull_all(room.chat, limit=10)

    stack.restart_rpc_server()

    after = wait_until(
        lambda: (response := gateway.pull(room.chat, limit=100)).status == 200 and response.json(),
        RECONNECT_TIMEOUT,
        "the gateway to reach the restarted rpc-server",
    )
    assert after["messages"] == before
    assert texts(before) == sent

    gateway.send_eventually(room.chat, "after the restart", room.b, RECONNECT_TIMEOUT)
    messages = gateway.pull_all(room.swapped, limit=10)
    assert messages[:-1] == before and texts(messages[-1:]) == ["after the restart"]
    assert messages[-1]["send_time"] > before[-1]["send_time"]
