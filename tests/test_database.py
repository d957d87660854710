"""How requests use the database: reads without transactions, writes inside one."""

from __future__ import annotations

from sqlalchemy import event

from collab.extensions import db


def isolation_levels_seen(app, client, method: str, url: str, **kwargs) -> set[str]:
    seen: set[str] = set()

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.add(conn.get_execution_options().get("isolation_level", "transaction"))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        client.open(url, method=method, **kwargs)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_reads_run_in_autocommit(app, client, alice):
    client.post("/api/v1/projects", json={"name": "P"}, headers=alice.headers)
    seen = isolation_levels_seen(app, client, "GET", "/api/v1/auth/sessions", headers=alice.headers)
    assert seen == {"AUTOCOMMIT"}


def test_writes_run_in_a_transaction(app, client, alice):
    seen = isolation_levels_seen(
        app, client, "POST", "/api/v1/projects", json={"name": "P"}, headers=alice.headers
    )
    assert seen and "AUTOCOMMIT" not in seen


def test_a_read_served_from_the_cache_takes_no_connection(app, client, alice):
    client.get("/api/v1/projects", headers=alice.headers)  # fills the caches
    with app.app_context():
        pool = db.engine.pool
    checkouts = []

    def record(*args):
        checkouts.append(args)

    event.listen(pool, "checkout", record)
    try:
        assert client.get("/api/v1/projects", headers=alice.headers).status_code == 200
    finally:
        event.remove(pool, "checkout", record)
    assert checkouts == []
