"""Layering: only the process gateway (fleetctl/procs.py) reads /proc or imports psutil.

Everything else asks the gateway, so fleetctl runs wherever psutil does (a /proc path in
another module is Linux-only code; psutil at import would slow every command)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import fleetctl

PACKAGE = Path(fleetctl.__file__).parent
GATEWAY = PACKAGE / "procs.py"


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _code_strings(tree: ast.AST) -> list[str]:
    """Every string constant in the code, docstrings left out (prose may name /proc)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def _imports(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_only_the_process_gateway_reads_proc() -> None:
    readers = [
        f"{path.relative_to(PACKAGE)}: {text!r}"
        for path in _sources()
        if path != GATEWAY
        for text in _code_strings(ast.parse(path.read_text(), str(path)))
        if text.startswith("/proc")  # a path: prose that names /proc is no read
    ]
    assert readers == [], "read /proc through fleetctl.procs.ProcessGateway instead"
    assert any(text.startswith("/proc") for text in _code_strings(ast.parse(GATEWAY.read_text()))), (
        "the check finds nothing"
    )


def test_only_the_process_gateway_imports_psutil() -> None:
    importers = [
        str(path.relative_to(PACKAGE)) for path in _sources() if "psutil" in _imports(ast.parse(path.read_text()))
    ]
    assert importers == ["procs.py"]


def test_importing_the_gateway_reads_nothing_and_loads_no_psutil() -> None:
    """Nothing is read at import time (a read of /proc/stat there killed every command off
    Linux), and a command that never looks at a process never pays for psutil."""
    code = (
        "import builtins, os, sys\n"
        "opened = []\n"
        "real_open = builtins.open\n"
        "builtins.open = lambda f, *a, **k: (opened.append(str(f)), real_open(f, *a, **k))[1]\n"
        "import fleetctl.procs\n"
        "assert 'psutil' not in sys.modules, 'psutil imported'\n"
        "assert not [f for f in opened if f.startswith('/proc')], opened\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_status_loads_none_of_the_modules_that_act(tmp_path: Path) -> None:
    """`status` only reads: the launcher, the passes, stop, the supervisor, terminate and psutil
    stay unloaded (they cost it ~3 ms CPU at 100 agents; docs/benchmarks.md)."""
    (tmp_path / "fleet.toml").write_text(
        f'[fleet]\nname = "lazy{tmp_path.name[-6:]}"\n\n[agents.a]\ncommand = "sleep 1000"\n'
    )
    code = (
        "import io, contextlib, sys\n"
        "from fleetctl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    code = main(['-c', {str(tmp_path / 'fleet.toml')!r}, 'status', '--json'])\n"
        'assert \'"name": "a"\' in out.getvalue(), out.getvalue()\n'
        "acting = ('launcher', 'passes', 'stop', 'supervisor', 'terminate', 'actions')\n"
        "acting = ['fleetctl.runtime.' + m for m in acting]\n"
        "print(sorted(m for m in acting + ['psutil', 'textual'] if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
