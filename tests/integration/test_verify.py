"""After writing, a run reads back what it touched and names what does not match."""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner, Result

from collsync.cli import main
from collsync.sandbox.commerce_state import CommerceState, Item

from .conftest import Sandbox


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_an_item_acknowledged_but_not_kept_is_a_named_verify_failure(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Akinon answers 201 for one item but does not keep it: the run says so, and a sync
    tries that collection again when its failure is due."""
    kept = CommerceState.add_item
    lost: list[int] = []

    def forgetful(self: CommerceState, collection: Any, product_pk: int, note: str) -> Item:
        item = kept(self, collection, product_pk, note)
        if not lost:  # the first item added is acknowledged, then lost
            lost.append(collection.pk)
            self.remove_item(item)
        return item

    monkeypatch.setattr(CommerceState, "add_item", forgetful)
    result = cli("migrate", "-c", str(sandbox.config))
    assert result.exit_code == 3, result.output
    assert "Verified 59 of 60 collections, 239 of 240 items" in result.output
    failures = cli("failures", "-c", str(sandbox.config), "--format", "json").stdout
    assert re.search(r"does not match the store after the run: 1 item\(s\) missing", failures)
    assert f"Akinon pk {lost[0]}" in failures

    monkeypatch.setattr(CommerceState, "add_item", kept)
    assert cli("failures", "-c", str(sandbox.config), "--retry").exit_code == 0
    again = cli("sync", "-c", str(sandbox.config))
    assert again.exit_code == 0, again.output
    assert sandbox.migrated() == sandbox.expected()
    assert cli("failures", "-c", str(sandbox.config)).stdout.strip() == "no open failures"


def test_no_verify_reads_nothing_back_and_a_rerun_reads_nothing_either(sandbox: Sandbox) -> None:
    result = cli("migrate", "-c", str(sandbox.config), "--no-verify")
    assert result.exit_code == 0
    assert "Verified" not in result.output
    gets = sum(1 for e in sandbox.commerce_log.entries if e.method == "GET")
    assert cli("migrate", "-c", str(sandbox.config)).exit_code == 0
    reread = [e for e in sandbox.commerce_log.entries if e.method == "GET"][gets:]
    # a rerun with nothing to do reads the account once (its pages) and verifies nothing
    assert all(e.path == "/wishlists/user-collections/" for e in reread)
