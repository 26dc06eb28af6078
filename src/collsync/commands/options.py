"""Option groups shared by every command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, overload

import click

from collsync import logging as collsync_logging

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@overload
def logging_options(command: Callable[..., Any]) -> Callable[..., Any]: ...
@overload
def logging_options(*, default_level: str) -> Decorator: ...
def logging_options(
    command: Callable[..., Any] | None = None, *, default_level: str = "info"
) -> Callable[..., Any] | Decorator:
    """Add ``--json-logs`` and ``--log-level`` to a command and configure logging from them."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @click.option(
            "--json-logs", is_flag=True, help="Log JSON lines to stderr (for collectors)."
        )
        @click.option(
            "--log-level",
            type=click.Choice(collsync_logging.LEVELS, case_sensitive=False),
            default=default_level,
            show_default=True,
            help="Least severe log level shown.",
        )
        @functools.wraps(command)
        def wrapper(*args: Any, json_logs: bool, log_level: str, **kwargs: Any) -> Any:
            collsync_logging.configure(json_logs=json_logs, level=log_level)
            return command(*args, **kwargs)

        return wrapper

    return decorate(command) if command is not None else decorate


def config_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``-c/--config FILE``, required by every command that talks to the services."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        required=True,
        type=click.Path(path_type=Path, dir_okay=False),
        help="The TOML config file (see config/store.example.toml).",
    )(command)


def _formats() -> tuple[str, ...]:
    from collsync.report.render import FORMATS

    return tuple(FORMATS)


def report_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--format`` and ``-o/--output``: how a plan is shown (``diff`` and every ``--dry-run``)."""
    command = click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Write the report to this file instead of the terminal.",
    )(command)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(_formats()),
        default="table",
        show_default=True,
        help="Report format of the plan.",
    )(command)


def existing_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--adopt-existing`` / ``--allow-duplicates`` as one ``existing`` (the planner's word)."""

    @functools.wraps(command)
    def wrapper(*args: Any, adopt_existing: bool, allow_duplicates: bool, **kwargs: Any) -> Any:
        if adopt_existing and allow_duplicates:
            raise click.UsageError("--adopt-existing and --allow-duplicates exclude each other")
        existing = "adopt" if adopt_existing else "duplicate" if allow_duplicates else "report"
        return command(*args, existing=existing, **kwargs)

    decorated = click.option(
        "--allow-duplicates",
        is_flag=True,
        help="Create a store collection even when the account already has one of its name "
        "that no store collection is mapped to.",
    )(wrapper)
    return click.option(
        "--adopt-existing",
        is_flag=True,
        help="Map a never-mapped store collection to the account's one collection of its name "
        "(after a lost state); several of that name stay a conflict.",
    )(decorated)


def rebind_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--rebind",
        is_flag=True,
        help="The store or Akinon moved (a new URL, the same data): bind the state to the "
        "config's services. Recorded in the state's runs.",
    )(command)
