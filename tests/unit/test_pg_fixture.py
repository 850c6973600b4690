"""The throwaway PostgreSQL cluster really runs on 127.0.0.1 and hands out empty databases."""

from __future__ import annotations

import psycopg

from tests.pg import Cluster


def test_each_test_gets_a_fresh_database_on_loopback(pg_cluster: Cluster, pg_url: str) -> None:
    assert "@127.0.0.1:" in pg_url
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        addr = conn.execute("SELECT inet_server_addr()::text").fetchone()
    assert tables == (0,)
    assert addr is not None and addr[0].startswith("127.0.0.1")
    assert pg_cluster.new_database() != pg_url
