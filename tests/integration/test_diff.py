"""``collsync diff``, saved plans with ``apply``, and ``export-map``, against the sandbox."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from collsync.cli import main
from collsync.report.render import schema
from collsync.sandbox import AKINON_EMAIL, AKINON_PASSWORD
from collsync.target import AkinonClient

from .conftest import Sandbox, store_call


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def change_both_sides(sandbox: Sandbox) -> dict[str, Any]:
    """Rename 3 and add 2 in the store, remove an item there, rename 1 on Akinon."""
    collections = sandbox.seed.store.collections
    renamed = collections[:3]
    store_call(
        sandbox,
        "update",
        data=[{"id": c["id"], "name": c["name"] + " (yeni)", "slug": c["slug"]} for c in renamed],
    )
    store_call(
        sandbox,
        "create",
        data=[
            {"name": "Yeni Koleksiyon A", "slug": "yeni-a"},
            {"name": "Yeni Koleksiyon B", "slug": "yeni-b"},
        ],
    )
    shrunk = collections[5]
    product = next(
        p for p in sandbox.store_app.state.sandbox.data.products if shrunk["id"] in p["collections"]
    )
    product["collections"].remove(shrunk["id"])
    drifted = collections[10]
    target = next(c for c in sandbox.akinon.collections.values() if c.name == drifted["name"])

    async def rename_on_akinon() -> None:
        async with AkinonClient(
            sandbox.commerce_url, email=AKINON_EMAIL, password=AKINON_PASSWORD
        ) as client:
            await client.update_collection(target.pk, name="Elle değiştirildi")

    asyncio.run(rename_on_akinon())
    return {"renamed": renamed, "shrunk": shrunk, "sku": product["sku"], "drifted": drifted}


@pytest.fixture
def changed(sandbox: Sandbox) -> dict[str, Any]:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    return change_both_sides(sandbox)


def test_the_diff_shows_exactly_the_changes_with_their_origin(
    sandbox: Sandbox, changed: dict[str, Any]
) -> None:
    writes = sandbox.commerce_log.writes() + sandbox.store_log.writes()
    result = run("diff", "-c", str(sandbox.config), "--format", "json", "--exit-code")
    assert result.exit_code == 4
    assert sandbox.commerce_log.writes() + sandbox.store_log.writes() == writes  # no write
    report = json.loads(result.stdout)
    jsonschema.validate(report, schema())
    by = {(c["action"], c["origin"], c["source_slug"]): c for c in report["changes"]}
    assert len(report["changes"]) == 3 + 2 + 1 + 1
    for c in changed["renamed"]:
        entry = by[("update", "source", c["slug"])]
        assert entry["fields"] == [
            {"field": "name", "old": c["name"], "new": c["name"] + " (yeni)"}
        ]
    assert {("create", "source", "yeni-a"), ("create", "source", "yeni-b")} <= by.keys()
    shrunk = by[("update", "source", changed["shrunk"]["slug"])]
    assert [i["sku"] for i in shrunk["items_removed"]] == [changed["sku"]]
    drift = by[("update", "drift", changed["drifted"]["slug"])]
    assert drift["fields"] == [
        {"field": "name", "old": "Elle değiştirildi", "new": changed["drifted"]["name"]}
    ]
    assert drift["akinon_pk"] is not None
    assert report["summary"]["update"] == 5
    assert report["summary"]["create"] == 2
    assert report["summary"]["drift"] == 1


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "html"])
def test_every_format_names_the_same_changes(
    sandbox: Sandbox, changed: dict[str, Any], fmt: str, tmp_path: Path
) -> None:
    out = tmp_path / f"diff.{fmt}"
    result = run("diff", "-c", str(sandbox.config), "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    for c in changed["renamed"]:
        assert c["slug"] in text
    assert "yeni-a" in text
    assert "Elle değiştirildi" in text
    assert changed["sku"] in text
    assert "drift" in text
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {r["origin"] for r in rows} == {"source", "drift"}


def test_no_changes_exits_0_with_exit_code(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    result = run("diff", "-c", str(sandbox.config), "--exit-code", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["changes"] == []


def test_a_fresh_plan_applies_and_leaves_nothing_to_diff(
    sandbox: Sandbox, changed: dict[str, Any], tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    assert run("diff", "-c", str(sandbox.config), "--save-plan", str(plan)).exit_code == 0
    result = run("apply", "-c", str(sandbox.config), str(plan))
    assert result.exit_code == 0, result.output
    after = run("diff", "-c", str(sandbox.config), "--exit-code", "--format", "json")
    assert after.exit_code == 0, after.output
    names = set(sandbox.migrated())
    assert {c["name"] + " (yeni)" for c in changed["renamed"]} <= names
    assert {"Yeni Koleksiyon A", "Yeni Koleksiyon B"} <= names


def test_a_stale_plan_is_refused_naming_the_change_and_writes_nothing(
    sandbox: Sandbox, changed: dict[str, Any], tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    assert run("diff", "-c", str(sandbox.config), "--save-plan", str(plan)).exit_code == 0
    moved = sandbox.seed.store.collections[20]
    store_call(
        sandbox, "update", data=[{"id": moved["id"], "name": "Sonradan", "slug": moved["slug"]}]
    )
    writes = sandbox.commerce_log.writes()
    result = CliRunner().invoke(main, ["apply", "-c", str(sandbox.config), str(plan)])
    assert result.exit_code == 1
    assert "the plan is stale; nothing was applied" in result.output
    assert moved["id"] in result.output
    assert sandbox.commerce_log.writes() == writes


def test_a_file_that_is_not_a_plan_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    bogus = tmp_path / "plan.json"
    bogus.write_text('{"hello": 1}', encoding="utf-8")
    result = CliRunner().invoke(main, ["apply", "-c", str(sandbox.config), str(bogus)])
    assert result.exit_code == 1
    assert "is not a collsync plan" in result.output


def test_export_map_lists_every_migrated_collection_once(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(run("export-map", "-c", str(sandbox.config)).stdout)))
    assert len(rows) == 60
    assert len({r["source_slug"] for r in rows}) == 60
    first = rows[0]
    assert first["public_url"].startswith("/wishlists/user-collection/")
    as_json = json.loads(run("export-map", "-c", str(sandbox.config), "--format", "json").stdout)
    assert [r["source_slug"] for r in as_json] == [r["source_slug"] for r in rows]


def test_export_map_verify_leaves_out_what_akinon_no_longer_has(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    rows = json.loads(run("export-map", "-c", str(sandbox.config), "--format", "json").stdout)
    gone, hidden = rows[0], rows[1]
    by_pk = {c.pk: c for c in sandbox.akinon.collections.values()}
    sandbox.akinon.delete_collection(by_pk[gone["akinon_pk"]])  # by hand, on Akinon
    sandbox.akinon.update_collection(by_pk[hidden["akinon_pk"]], name=None, status="private")

    stale = json.loads(run("export-map", "-c", str(sandbox.config), "--format", "json").stdout)
    assert len(stale) == 60  # the state alone cannot know
    result = run("export-map", "-c", str(sandbox.config), "--format", "json", "--verify")
    assert result.exit_code == 0
    verified = {r["source_slug"]: r for r in json.loads(result.stdout)}
    assert len(verified) == 59
    assert gone["source_slug"] not in verified
    assert f"left out: {gone['source_slug']} (Akinon pk {gone['akinon_pk']})" in result.stderr
    assert verified[hidden["source_slug"]]["public_url"] is None  # private: no redirect to it
    nginx = run("export-map", "-c", str(sandbox.config), "--format", "nginx", "--verify").stdout
    assert nginx.count('"/collections/') == 58


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")
def test_the_nginx_map_passes_nginx_t(sandbox: Sandbox, tmp_path: Path) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    result = run(
        "export-map",
        "-c",
        str(sandbox.config),
        "--format",
        "nginx",
        "-o",
        str(tmp_path / "collsync-map.conf"),
        "--base-url",
        "https://shop.example.com",
    )
    assert result.exit_code == 0
    text = (tmp_path / "collsync-map.conf").read_text(encoding="utf-8")
    assert text.count('"/collections/') == 60
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/collsync-map.conf;\n"
        "  server {\n    listen 127.0.0.1:18080;\n"
        "    if ($collsync_redirect) { return 301 $collsync_redirect; }\n  }\n}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [NGINX, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")
def test_a_large_nginx_map_passes_nginx_t(tmp_path: Path) -> None:
    from collsync.commands.export import render_nginx

    rows = [
        {
            "source_slug": f"koleksiyon-cok-uzun-bir-ad-ile-{n:05d}",
            "public_url": f"/wishlists/user-collection/koleksiyon-{n:05d}-{n:032x}/",
        }
        for n in range(20_000)
    ]
    (tmp_path / "map.conf").write_text(render_nginx(rows, "/collections", "https://x.example"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  include {tmp_path}/map.conf;\n}}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [NGINX, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
