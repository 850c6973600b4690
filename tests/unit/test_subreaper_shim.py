"""The shim in front of each run's wrapper makes it a child subreaper, with perl or without."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fleetctl.runtime import launcher

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are Linux only")

# PR_GET_CHILD_SUBREAPER (37), asked by the program the shim became (the flag survives execve)
ASK = "import ctypes; v = ctypes.c_int(); ctypes.CDLL(None).prctl(37, ctypes.byref(v), 0, 0, 0); print(v.value)"


def _flag_after(prefix: tuple[str, ...]) -> str:
    done = subprocess.run([*prefix, sys.executable, "-c", ASK], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_without_a_shim_a_process_is_no_subreaper() -> None:
    assert _flag_after(()) == "0"


def test_the_shim_makes_the_program_it_runs_a_subreaper() -> None:
    assert _flag_after(launcher.subreaper()) == "1"


def test_without_perl_the_python_shim_does_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher.shutil, "which", lambda _name: None)
    prefix = launcher.subreaper()
    assert prefix[0] == sys.executable
    assert _flag_after(prefix) == "1"


def test_a_program_the_shim_cannot_run_is_one_clear_line() -> None:
    done = subprocess.run([*launcher.subreaper(), "/nonexistent/agent"], capture_output=True, text=True, timeout=20)
    assert done.returncode != 0
    assert "/nonexistent/agent" in done.stderr
