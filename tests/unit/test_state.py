"""The state file: versioned schema, the run lock, atomic journal confirmations."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collsync.errors import ConfigError, LockHeldError
from collsync.state import SCHEMA_VERSION, ItemConfirmation, State
from collsync.target import Collection, Item, Product


def test_a_new_file_gets_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    state = State.open(tmp_path / "sub" / "state.db")
    conn = state.db.conn
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    state.close()
    State.open(tmp_path / "sub" / "state.db").close()  # opening again migrates nothing


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    state.db.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    state.close()
    with pytest.raises(ConfigError, match="written by a newer collsync"):
        State.open(tmp_path / "state.db")


def test_a_live_holder_blocks_and_a_dead_one_is_taken_over(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    with state.transaction() as conn:
        conn.execute(
            "INSERT INTO lock VALUES (1, ?, ?, 'sync', ?)",
            (holder.pid, socket.gethostname(), time.time()),
        )
    with (
        pytest.raises(LockHeldError, match=rf"collsync sync` \(pid {holder.pid} on"),
        state.locked("migrate"),
    ):
        pass
    holder.kill()
    holder.wait()
    with state.locked("migrate"):
        row = state.db.conn.execute("SELECT pid, command FROM lock").fetchone()
        assert tuple(row) == (os.getpid(), "migrate")
    assert state.db.conn.execute("SELECT COUNT(*) FROM lock").fetchone()[0] == 0
    state.close()


def test_an_old_lock_from_another_host_is_taken_over(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    with state.transaction() as conn:
        conn.execute("INSERT INTO lock VALUES (1, 1, 'elsewhere', 'sync', ?)", (time.time(),))
    with pytest.raises(LockHeldError, match="on elsewhere"), state.locked("migrate"):
        pass
    with state.locked("migrate", stale_after=0.0):
        pass
    state.close()


def test_a_confirmation_is_all_or_nothing(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    entry = state.journal_intent(1, "create", "s1", {"name": "Yaz"})

    def crash_between_the_writes() -> None:
        with state.transaction() as conn:
            state.map_collection(
                conn,
                source_id="s1",
                source_slug="yaz",
                pk=5,
                slug="yaz-1",
                public_url=None,
                owner=None,
            )
            raise RuntimeError("crash between the two writes")

    with pytest.raises(RuntimeError):
        crash_between_the_writes()
    assert state.mapped("s1") is None
    assert [e.id for e in state.open_intents()] == [entry]
    state.close()


def test_failures_are_counted_and_resolved(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    state.record_failure("r1", "load", "rejected", "first", run_id=1)
    state.record_failure("r1", "load", "rejected", "second", run_id=2)
    [failure] = state.failures()
    assert (failure["attempts"], failure["reason"]) == (2, "second")
    state.resolve_failures("r1", ["load"])
    assert state.failures() == []
    state.close()


def _mapped_collection(state: State) -> None:
    with state.transaction() as conn:
        state.map_collection(
            conn, source_id="s1", source_slug="yaz", pk=5, slug="yaz-1", public_url=None, owner=None
        )


def _settle_with_one_item(
    state: State, content_hash: str, statements: list[str] | None = None
) -> None:
    """Settle ``s1`` with product 77 added (item 901); its intent must close. ``statements``
    collects the SQL of the settling alone."""
    [entry] = state.journal_intents(2, "add_item", "s1", [({"product_pk": 77}, 77)])
    if statements is not None:
        state.db.conn.set_trace_callback(statements.append)
    state.settle_collection(
        "s1", content_hash, None, [ItemConfirmation(entry, 77, 901, "", "confirmed")]
    )
    assert state.items_mapped("s1") == {77: (901, "")}
    assert state.open_intents() == []


def test_a_settled_collection_has_its_items_hash_and_failures_in_one_commit(
    tmp_path: Path,
) -> None:
    state = State.open(tmp_path / "state.db")
    _mapped_collection(state)
    state.record_failure("s1", "load", "ThrottledError", "throttled (429)", run_id=1)
    statements: list[str] = []
    _settle_with_one_item(state, "hash-2", statements)
    mapped = state.mapped("s1")
    assert mapped is not None
    assert mapped.synced_hash == "hash-2"
    assert statements.count("COMMIT") == 1
    assert state.failures() == []
    state.close()


def test_a_collection_already_in_step_is_not_written_again(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    _mapped_collection(state)
    state.settle_collection("s1", "hash-1", None)
    written = state.db.conn.total_changes
    state.settle_collection("s1", "hash-1", None)  # a no-op rerun
    assert state.db.conn.total_changes == written
    # ...unless it has a load failure left to resolve
    state.record_failure("s1", "load", "ThrottledError", "throttled (429)", run_id=1)
    state.settle_collection("s1", "hash-1", None)
    assert state.failures() == []
    state.close()


def test_an_in_step_collection_still_records_what_was_done_to_it(tmp_path: Path) -> None:
    """Same content, but items re-added after drift, or a slug Akinon changed: written."""
    state = State.open(tmp_path / "state.db")
    _mapped_collection(state)
    state.settle_collection("s1", "hash-1", None)
    _settle_with_one_item(state, "hash-1")

    class Renamed:
        slug, public_url = "yaz-2", "/wishlists/user-collection/yaz-2/"

    state.settle_collection("s1", "hash-1", Renamed())
    mapped = state.mapped("s1")
    assert mapped is not None
    assert (mapped.akinon_slug, mapped.public_url) == ("yaz-2", Renamed.public_url)
    state.close()


def test_a_refusal_text_utf8_cannot_hold_still_closes_its_intent(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    entry = state.journal_intent(1, "create", "s1", {"name": "Yaz"})
    with state.transaction() as conn:  # "\ud800" can arrive as an escape in a JSON answer
        state.journal_close(conn, entry, "failed", "name: bad \ud800 text")
    assert state.open_intents() == []
    state.close()


def test_a_failure_about_text_utf8_cannot_hold_is_recorded_escaped(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    raw = {"id": "x\ud800", "name": "Bozuk \udfff"}  # decoded from JSON escapes
    state.record_failure("x\ud800", "extract", "invalid_record", "name: \udfff here", raw=raw)
    [failure] = state.failures()
    assert failure["record_id"] == "x\\ud800"
    assert failure["reason"] == "name: \\udfff here"
    assert json.loads(failure["raw"]) == raw  # the raw JSON keeps the escape, so nothing is lost
    state.close()


def test_an_akinon_name_utf8_cannot_hold_is_kept_escaped(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    listed = Collection(
        pk=3,
        name="Yaz \ud800",
        slug="yaz",
        status="private",
        items=[Item(pk=9, note="not \udc00", product=Product(pk=77, sku="SKU-\ud800"))],
    )
    state.upsert_target(listed)
    assert state.target_collection(3) == {
        "pk": 3,
        "name": "Yaz \\ud800",
        "slug": "yaz",
        "status": "private",
        "public_url": None,
        "items": [(9, 77, "not \\udc00", "SKU-\\ud800")],
    }
    state.close()
