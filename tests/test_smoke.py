from __future__ import annotations

from tests.conftest import FleetHarness, free_port, port_open


def test_up_status_down(fleet_dir: FleetHarness) -> None:
    port = free_port()
    fleet_dir.write(f"""
    [agents.web]
    command = "python3 -m http.server {{port}} --bind 127.0.0.1"
    port = {port}
    min_uptime = "0.2s"
    """)
    r = fleet_dir.run("up")
    assert r.code == 0, r
    assert port_open(port)
    st = fleet_dir.status()
    assert st["web"]["state"] == "running"
    assert fleet_dir.run("down").code == 0
    assert not port_open(port)
