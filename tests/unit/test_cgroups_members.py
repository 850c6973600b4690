"""cgroups.members: the kernel's list of an agent's processes, or None where there is none
(then the caller searches every process). A cgroup directory is read as files, so a plain
directory tree stands in for /sys/fs/cgroup here."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetctl import cgroups


@pytest.mark.timeout(10)
def test_members_lists_the_agents_cgroups_and_says_none_where_there_is_no_list(tmp_path: Path) -> None:
    state, fleet = tmp_path / "state", tmp_path / "cg" / "fleetctl-demo"
    state.mkdir()
    assert cgroups.members(state, ["a"]) is None  # no fleet cgroup recorded
    (fleet / "a").mkdir(parents=True)
    (fleet / "a" / cgroups.PROCS).write_text("101\n102\n")
    (fleet / "b").mkdir()
    (fleet / "b" / cgroups.PROCS).write_text("201\n")
    (state / cgroups.RECORD).write_text(f"{fleet}\n")
    assert cgroups.members(state, ["a"]) == {101, 102}
    assert cgroups.members(state, ["a", "b"]) == {101, 102, 201}
    assert cgroups.members(state, ["a", "c"]) is None  # c's runs were started without a cgroup
    assert cgroups.members(state, []) is None
    (fleet / "b" / cgroups.PROCS).write_text("")
    assert cgroups.members(state, ["b"]) == set()  # a run that left nothing behind
