"""The config: keys validated with messages that name them, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from collsync.config import format_duration, load_config, parse_config, parse_duration
from collsync.errors import EXIT_USAGE, ConfigError

REPO = Path(__file__).resolve().parents[2]
ENV = {"STORE_API_KEY": "store-key-123", "AKINON_EMAIL": "me@example.com", "AKINON_PASSWORD": "pw"}


def minimal(**sections: dict[str, object]) -> dict[str, object]:
    data: dict[str, object] = {
        "source": {"url": "https://store.example.com", "api_key": "${STORE_API_KEY}"},
        "products": {"resolve": "identity"},
        "target": {
            "url": "https://commerce.example.com",
            "email": "${AKINON_EMAIL}",
            "password": "${AKINON_PASSWORD}",
        },
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}  # type: ignore[dict-item]
    return data


@pytest.mark.parametrize("name", ["sandbox.toml", "store.example.toml"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_config(REPO / "config" / name, env=ENV)
    assert config.source.api_key.get_secret_value() == "store-key-123"
    assert config.target.password is not None
    assert config.target.password.get_secret_value() == "pw"
    # relative paths are resolved against the config's folder, not the working directory
    assert config.state.path.is_absolute()


def test_shipped_configs_hold_no_literal_secret() -> None:
    for path in (REPO / "config").glob("*.toml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            key = line.split("=", 1)[0].strip().lstrip("# ")
            if key in {"api_key", "password", "token"}:
                assert "${" in line, f"{path.name}: {line}"


def test_environment_references_are_expanded() -> None:
    config = parse_config(minimal(), env=ENV)
    assert config.target.email == "me@example.com"


def test_missing_environment_variable_names_key_and_variable() -> None:
    with pytest.raises(ConfigError, match=r"source\.api_key: environment variable STORE_API_KEY"):
        parse_config(minimal(), env={})


def test_literal_secret_is_refused() -> None:
    data = minimal(target={"password": "hunter2"})
    with pytest.raises(
        ConfigError, match=r"target\.password: secrets are read from the env"
    ) as info:
        parse_config(data, env=ENV)
    assert "hunter2" not in str(info.value)
    assert info.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"source": {"page_size": 5000}}, r"source\.page_size: .*less than or equal to 1000"),
        ({"source": {"url": "not a url"}}, r"source\.url: "),
        ({"items": {"from": "ftp"}}, r"items\.from: .*'store', 'file' or 'none'"),
        ({"items": {"from": "file"}}, r'items: path is required when from = "file"'),
        ({"products": {"resolve": "sku-map"}}, r"products\.path: required when"),
        ({"transform": {"status": "hidden"}}, r"transform\.status: "),
        ({"run": {"concurrency": 0}}, r"run\.concurrency: .*greater than or equal to 1"),
        ({"run": {"concurency": 4}}, r"run\.concurency: unknown key"),
        ({"source": {"filters": {"id": ["nope"]}}}, r"source\.filters\.id: .*'nope' is not a GUID"),
        ({"source": {"filters": {"createdon_min": "yesterday"}}}, r"filters\.createdon_min: "),
        ({"sync": {"reconcile_every": "daily"}}, r"sync\.reconcile_every: .*not a duration"),
        ({"transform": {"rules": [{"status": "private"}]}}, r"exactly one of slug or name"),
    ],
)
def test_bad_values_name_the_key(sections: dict[str, dict[str, object]], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(minimal(**sections), env=ENV)


def test_target_needs_credentials() -> None:
    data = minimal()
    data["target"] = {"url": "https://commerce.example.com"}
    with pytest.raises(ConfigError, match=r"target: .*set email and password, or token"):
        parse_config(data, env=ENV)


def test_token_mode_is_enough() -> None:
    data = minimal()
    data["target"] = {"url": "https://commerce.example.com", "token": "${AKINON_TOKEN}"}
    config = parse_config(data, env={**ENV, "AKINON_TOKEN": "tok"})
    assert config.target.token is not None


def test_several_errors_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(minimal(source={"page_size": 0}, run={"concurrency": 0}), env=ENV)
    assert "source.page_size" in str(info.value)
    assert "run.concurrency" in str(info.value)


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[source\nurl=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86400)])
def test_durations_are_read_once_into_time_spans(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


def test_a_bad_duration_names_its_key() -> None:
    data = {
        "source": {"url": "http://s", "api_key": "${K}"},
        "target": {"url": "http://t", "token": "${K}"},
        "products": {"resolve": "identity"},
        "sync": {"overlap": "an hour"},
    }
    with pytest.raises(ConfigError, match=r"sync.overlap: 'an hour' is not a duration like 30s"):
        parse_config(data, env={"K": "k"})
