"""``collsync check`` reaches both sandbox services over HTTP with a user's config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from collsync.cli import main
from collsync.sandbox import (
    AKINON_EMAIL,
    AKINON_PASSWORD,
    STORE_API_KEY,
    SeedSpec,
    create_commerce_app,
    create_store_app,
    generate,
    serve_in_thread,
)

ENV = {
    "STORE_API_KEY": STORE_API_KEY,
    "AKINON_EMAIL": AKINON_EMAIL,
    "AKINON_PASSWORD": AKINON_PASSWORD,
}


@pytest.fixture(scope="module")
def urls() -> Iterator[tuple[str, str]]:
    seed = generate(SeedSpec(collections=12, products=20))
    with (
        serve_in_thread(create_store_app(seed.store)) as store,
        serve_in_thread(create_commerce_app(seed.commerce)) as commerce,
    ):
        yield store, commerce


def write_config(tmp_path: Path, store: str, commerce: str) -> Path:
    path = tmp_path / "collsync.toml"
    path.write_text(
        f'[source]\nurl = "{store}"\napi_key = "${{STORE_API_KEY}}"\n'
        '[products]\nresolve = "identity"\n'
        f'[target]\nurl = "{commerce}"\nemail = "${{AKINON_EMAIL}}"\n'
        'password = "${AKINON_PASSWORD}"\n',
        encoding="utf-8",
    )
    return path


def test_check_reports_both_services(tmp_path: Path, urls: tuple[str, str]) -> None:
    result = CliRunner().invoke(main, ["check", "-c", str(write_config(tmp_path, *urls))], env=ENV)
    assert result.exit_code == 0, result.output
    assert "12 collections, products API answers" in result.output
    assert f"logged in as {AKINON_EMAIL}, 0 collections" in result.output


def test_a_refused_key_is_named_with_the_vendor_message(
    tmp_path: Path, urls: tuple[str, str]
) -> None:
    result = CliRunner().invoke(
        main,
        ["check", "-c", str(write_config(tmp_path, *urls))],
        env={**ENV, "STORE_API_KEY": "not-the-key"},
    )
    assert result.exit_code == 2
    assert "source.api_key: the store refused the API key: Invalid API key" in result.output
    assert "not-the-key" not in result.output


def test_a_wrong_store_url_is_a_config_error(tmp_path: Path, urls: tuple[str, str]) -> None:
    store, commerce = urls
    config = write_config(tmp_path, f"{store}/shop", commerce)
    result = CliRunner().invoke(main, ["check", "-c", str(config)], env=ENV)
    assert result.exit_code == 2
    assert "source.url: " in result.output
    assert "check source.url" in result.output


def test_a_missing_variable_is_a_config_error(tmp_path: Path, urls: tuple[str, str]) -> None:
    config = write_config(tmp_path, *urls)
    result = CliRunner().invoke(
        main, ["check", "-c", str(config)], env={**ENV, "AKINON_PASSWORD": None}
    )  # type: ignore[dict-item]
    assert result.exit_code == 2
    assert "target.password: environment variable AKINON_PASSWORD is not set" in result.output


def test_every_problem_a_run_would_meet_is_named_at_once(
    tmp_path: Path, urls: tuple[str, str]
) -> None:
    store, commerce = urls
    (tmp_path / "not-a-folder").write_text("")
    (tmp_path / "sku-map.csv").write_text("sku;product_pk\nA;1\n")  # ; is not the separator
    config = tmp_path / "collsync.toml"
    config.write_text(
        f'[source]\nurl = "{store}"\napi_key = "${{STORE_API_KEY}}"\n'
        '[products]\nresolve = "sku-map"\npath = "sku-map.csv"\n'
        '[items]\nfrom = "file"\npath = "items.csv"\n'
        f'[target]\nurl = "{commerce}"\nemail = "${{AKINON_EMAIL}}"\n'
        'password = "${AKINON_PASSWORD}"\n'
        '[state]\npath = "not-a-folder/collsync.db"\n'
        '[sync]\nmetrics_file = "textfile"\n',
        encoding="utf-8",
    )
    (tmp_path / "textfile").mkdir()
    result = CliRunner().invoke(
        main, ["check", "-c", str(config)], env={**ENV, "AKINON_PASSWORD": "wrong"}
    )
    assert result.exit_code == 2
    first, *problems = result.output.splitlines()
    assert first == "error: 5 problem(s) a run would meet:"
    print(problems)
    assert [p.strip().split(": ")[0] for p in problems] == [
        "products.path",
        "items.path",
        "state.path",
        "sync.metrics_file",
        "target.email/password",
    ]
    assert "lacks the column(s) product_pk, sku" in problems[0]
    assert "items.csv (No such file or directory)" in problems[1]
    assert "not-a-folder is a file, not a folder" in problems[2]
    assert "textfile is a folder; name a file in it" in problems[3]
    assert "wrong" not in result.output
