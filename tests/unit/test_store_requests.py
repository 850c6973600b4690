"""Requests from one host to another (restart, stop) on both backends: taken once, by the host
they are for; a result written back; one not yet taken can be withdrawn, one taken cannot."""

from __future__ import annotations

from fleetctl.store import StateStore


def test_a_request_is_taken_once_by_its_host_and_its_result_read_back(backend_store: StateStore) -> None:
    requests = backend_store.requests
    first = requests.ask("beta", "web", "restart", "alpha", 100.0)
    other = requests.ask("gamma", "db", "stop", "alpha", 100.5)
    assert requests.take("alpha", 101.0, 0.0) == []  # none is for alpha
    taken = requests.take("beta", 101.0, 0.0)
    assert [(r.id, r.agent, r.action, r.sender, r.taken) for r in taken] == [(first, "web", "restart", "alpha", 101.0)]
    assert requests.take("beta", 102.0, 0.0) == []  # taken once
    assert not requests.withdraw(first, 103.0)  # too late: beta is carrying it out
    requests.finish(first, True, "web: restarted on beta (pid 42)", 104.0)
    done = requests.get(first)
    assert done is not None and done.ok is True and done.finished == 104.0
    assert done.result == "web: restarted on beta (pid 42)"
    assert requests.withdraw(other, 105.0)  # gamma never took it: it never will
    assert requests.take("gamma", 106.0, 0.0) == []
    gone = requests.get(other)
    assert gone is not None and gone.ok is False and gone.result == "withdrawn"


def test_a_stale_request_is_left_alone(backend_store: StateStore) -> None:
    requests = backend_store.requests
    old = requests.ask("beta", "web", "stop", "alpha", 10.0)
    fresh = requests.ask("beta", "web", "restart", "alpha", 500.0)
    assert [r.id for r in requests.take("beta", 501.0, 501.0 - 120.0)] == [fresh]
    left = requests.get(old)
    assert left is not None and left.taken is None
