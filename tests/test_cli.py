"""The command line explains itself and fails with one clear line, never a traceback."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from collsync import __version__
from collsync.cli import main


def all_commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


COMMANDS = all_commands(main)


def test_top_level_help_lists_commands_and_exit_codes() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "sandbox" in result.output
    assert "75 another run holds the lock" in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help(path: tuple[str, ...], command: click.Command) -> None:
    assert command.help, f"collsync {' '.join(path)} has no help text"
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"collsync {' '.join(path)} {param.opts[0]} has no help"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_leaf_command_shows_an_example_and_logging_options(
    path: tuple[str, ...], command: click.Command
) -> None:
    if isinstance(command, click.Group):
        return
    result = CliRunner().invoke(main, [*path, "--help"])
    assert "Example" in result.output
    assert "--json-logs" in result.output
    assert "--log-level" in result.output


def test_sandbox_serve_help_explains_the_knobs() -> None:
    result = CliRunner().invoke(main, ["sandbox", "serve", "--help"])
    for knob in (
        "--latency",
        "--error-rate",
        "--throttle-rate",
        "--drop-write-rate",
        "--session-expiry",
        "--rate-limit",
        "/__sandbox__/faults",
    ):
        assert knob in result.output


def test_bad_option_value_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["sandbox", "serve", "--error-rate", "2"])
    assert result.exit_code == 2
    assert "--error-rate" in result.output
    assert "Traceback" not in result.output


def test_a_bad_id_filter_is_a_usage_error_naming_the_option(tmp_path: object) -> None:
    import pathlib

    config = pathlib.Path(str(tmp_path)) / "c.toml"
    config.write_text(
        '[source]\nurl = "http://127.0.0.1:9"\napi_key = "${K}"\n'
        '[products]\nresolve = "identity"\n'
        '[target]\nurl = "http://127.0.0.1:9"\ntoken = "${K}"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["migrate", "-c", str(config), "--id", "nope"], env={"K": "secret-value"}
    )
    assert result.exit_code == 2
    assert "--id: " in result.output
    assert "Traceback" not in result.output


def test_every_command_of_the_design_exists() -> None:
    names = {path[0] for path, _ in COMMANDS}
    assert names >= {
        "migrate",
        "sync",
        "diff",
        "status",
        "failures",
        "export-map",
        "sandbox",
        "demo",
        "apply",
        "check",
    }


def test_the_command_list_says_what_each_command_says_of_itself() -> None:
    """`collsync --help` lists commands without importing them: its lines must not drift."""
    from collsync.cli import COMMANDS

    group = main
    with click.Context(group) as ctx:
        for name, (_target, listed) in COMMANDS.items():
            command = group.get_command(ctx, name)
            assert command is not None
            assert command.get_short_help_str(limit=1000) == listed, name
