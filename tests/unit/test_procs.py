"""ProcessGateway against real processes: the FLEET_RUN search and what it may skip."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from fleetctl.procs import ProcessGateway


@pytest.mark.timeout(20)
def test_find_env_finds_a_carrier_and_reads_nothing_it_is_told_to_skip() -> None:
    run = uuid.uuid4().hex
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             env={**os.environ, "FLEET_RUN": run})  # fmt: skip
    try:
        gateway = ProcessGateway()
        table = gateway.scan()
        since = table.procs[child.pid].start_time
        assert gateway.find_env("FLEET_RUN", {run}, table, since) == {run: [child.pid]}
        assert gateway.find_env("FLEET_RUN", {run}) == {run: [child.pid]}
        assert gateway.find_env("FLEET_RUN", {run}, table, since, skip={child.pid}) == {}
        assert gateway.find_env("FLEET_RUN", {"another-run"}, table, since) == {}
    finally:
        child.kill()
        child.wait()
