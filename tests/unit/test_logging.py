"""Log events are structured and never carry a secret."""

from __future__ import annotations

import json

import pytest

from collsync import logging as collsync_logging


@pytest.fixture(autouse=True)
def _json_logs() -> None:
    collsync_logging.configure(json_logs=True, level="debug")


def events(captured: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


def test_secret_keys_are_redacted_at_any_depth(capsys: pytest.CaptureFixture[str]) -> None:
    log = collsync_logging.get_logger("collsync.test")
    log.info(
        "collsync.test.request",
        api_key="store-key",
        headers={"Authorization": "Token abc", "X-CSRFToken": "csrf", "Accept": "json"},
        cookies=[{"osessionid": "s"}],
        body={"authentication": {"apiKey": "store-key"}, "email": "me@example.com"},
        password="pw",
    )
    [event] = events(capsys.readouterr().err)
    text = json.dumps(event)
    for secret in ("store-key", "Token abc", 'csrf"', 'pw"'):
        assert secret not in text
    assert event["headers"] == {"Authorization": "***", "X-CSRFToken": "***", "Accept": "json"}
    assert event["body"]["email"] == "me@example.com"  # type: ignore[index]


def test_registered_secret_values_are_masked_inside_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    collsync_logging.register_secret("s3cr3t-token-value")
    log = collsync_logging.get_logger("collsync.test")
    log.warning("collsync.test.url", url="https://x/?t=s3cr3t-token-value", note="ok")
    [event] = events(capsys.readouterr().err)
    assert event["url"] == "https://x/?t=***"
    assert event["level"] == "warning"
    assert event["event"] == "collsync.test.url"


def test_level_filters_events(capsys: pytest.CaptureFixture[str]) -> None:
    collsync_logging.configure(json_logs=True, level="warning")
    log = collsync_logging.get_logger("collsync.test")
    log.info("collsync.test.hidden")
    log.error("collsync.test.shown")
    assert [e["event"] for e in events(capsys.readouterr().err)] == ["collsync.test.shown"]


def test_console_output_is_human_readable(capsys: pytest.CaptureFixture[str]) -> None:
    collsync_logging.configure(json_logs=False, level="info")
    collsync_logging.get_logger("collsync.test").info("collsync.test.hello", password="pw", n=3)
    err = capsys.readouterr().err
    assert "collsync.test.hello" in err
    assert "n=3" in err
    assert "pw" not in err.replace("password", "")
    with pytest.raises(json.JSONDecodeError):
        json.loads(err)
