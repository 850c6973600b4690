"""A throwaway PostgreSQL cluster for the tests: one per test session (per xdist worker).

initdb runs in a fresh temp dir owned by a non-root OS user (PostgreSQL refuses root; the
fixture creates the user `fleetpg` with useradd when running as root and it is missing),
the server listens on a free port of 127.0.0.1 only, and every test gets a fresh database
in it. The cluster is stopped and its directory removed at the end of the session. Tests
that need it are skipped only when no PostgreSQL binaries exist (.ci/run installs them).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_USER = "fleetpg"
ROLE = "fleet"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin_dir() -> Path | None:
    """Where initdb, pg_ctl and postgres are: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists() and (candidate / "initdb").exists():
            return candidate
    return None


def _os_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, or None to run as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(PG_USER)
    return entry.pw_uid, entry.pw_gid


@dataclass
class Cluster:
    bindir: Path
    directory: Path
    port: int
    owner: tuple[int, int] | None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", PG_USER, "--"] if self.owner else []
        return subprocess.run(
            [*prefix, *argv], check=True, capture_output=True, text=True, cwd=self.directory, timeout=60
        )

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_cluster() -> Cluster | None:
    bindir = pg_bin_dir()
    if bindir is None:
        return None
    owner = _os_user()
    directory = Path(tempfile.mkdtemp(prefix="fleetctl-pg-"))
    if owner:
        os.chown(directory, *owner)
    cluster = Cluster(bindir=bindir, directory=directory, port=free_port(), owner=owner)
    data = directory / "data"
    cluster.run(str(bindir / "initdb"), "-D", str(data), "-U", ROLE, "--auth=trust", "--no-sync", "-E", "UTF8")
    options = (
        f"-p {cluster.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    cluster.run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "start")
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    with contextlib.suppress(subprocess.SubprocessError):
        cluster.run(str(cluster.bindir / "pg_ctl"), "-D", str(cluster.directory / "data"), "-m", "immediate", "stop")
    shutil.rmtree(cluster.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    if pg_bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin")
    cluster = start_cluster()
    assert cluster is not None
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL of a fresh database in the session's cluster."""
    return pg_cluster.new_database()
