"""A gateway with RPC_DISCOVERY=etcd balances over the rpc-servers registered
in etcd, and stops using one once it has deregistered."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import free_port, new_room, texts, wait_until

# Kitex refreshes its resolver cache periodically, not at once.
RESOLVER_REFRESH_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def replicas(stack):
    """The session's rpc-server plus a replica on the same Redis and etcd, and
    a gateway that discovers both; returns (gateway, replica, its address)."""
    port = free_port()
    # Debug logs of the handler count the messages the replica stores.
    replica = stack.start_rpc_server("rpc-server-replica", port, RUST_LOG="info,rpc_server::handler=debug")
    address = f"127.0.0.1:{port}"
    both = {stack.rpc_address, address}
    wait_until(lambda: both <= stack.registered_addresses(), 15, "both replicas to register in etcd", interval=0.2)
    gateway = stack.start_gateway("gateway-etcd", RPC_DISCOVERY="etcd")
    stack.wait_serving(gateway)
    yield gateway, replica, address
    gateway.process.terminate()
    replica.terminate()


def stored_by(replica) -> int:
    return replica.log_path.read_text(errors="replace").count("message stored")


def test_etcd_discovery_balances_and_survives_a_replica_stopping(stack, replicas):
    gateway, replica, replica_address = replicas
    room = new_room()
    balanced = [f"balanced-{i:03}" for i in range(40)]
    for text in balanced:
        gateway.send_ok(room.chat, text, room.a)

    assert texts(gateway.pull_all(room.chat, limit=15)) == balanced
    assert texts(stack.gateway.pull_all(room.chat, limit=100)) == balanced
    assert 0 < stored_by(replica) < len(balanced), "both replicas served sends"
    assert {stack.rpc_address, replica_address} <= stack.registered_addresses()

    # Keep sending while the replica deregisters, drains and exits.
    during: list[str] = []
    stop_sending = threading.Event()

    def send_until_stopped():
        while not stop_sending.is_set():
            during.append(f"during-stop-{len(during):04}")
            gateway.send_eventually(room.chat, during[-1], room.b, RESOLVER_REFRESH_TIMEOUT)

    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(send_until_stopped)
        try:
            assert replica.terminate() == 0, replica.log_tail()
            assert replica_address not in stack.registered_addresses(), "deregistered on SIGTERM"
            assert stack.rpc_address in stack.registered_addresses()
        finally:
            stop_sending.set()
        sending.result()

    after = [f"after-stop-{i:03}" for i in range(20)]
    for text in after:
        gateway.send_eventually(room.chat, text, room.a, RESOLVER_REFRESH_TIMEOUT)
    expected = balanced + during + after
    assert texts(gateway.pull_all(room.chat, limit=100)) == expected, "each message stored exactly once"
