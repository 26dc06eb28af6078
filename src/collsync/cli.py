"""The ``collsync`` command line: parse options, call the library, map errors to exit codes.

Every command accepts ``--json-logs`` and ``--log-level``. An expected failure (any
:class:`~collsync.errors.CollsyncError`) prints one ``error:`` line and exits with its code;
no traceback reaches the user for it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from collsync import __version__
from collsync.errors import EXIT_FATAL, CollsyncError
from collsync.logging import redact


class _Group(click.Group):
    """Loads commands lazily; turns expected failures into one line and the documented code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CollsyncError as exc:
            click.echo(f"error: {redact(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted, safe to re-run", err=True)
            ctx.exit(EXIT_FATAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="collsync")
def main() -> None:
    """Migrate and sync product collections from a Commerscale store to Akinon Commerce.

    \b
    Rehearse on the local sandbox first:
      collsync sandbox serve            # both services on 127.0.0.1, seeded
      collsync check -c config/sandbox.toml
    Exit codes: 0 done, 1 fatal (state saved, safe to re-run), 2 usage or config error,
    3 some records failed, 4 diff found changes, 75 another run holds the lock.
    """


# Commands load on first use: a cron run of `collsync sync` imports neither the sandbox nor rich
# report renderers. "name": "module:attribute".
COMMANDS = {
    "apply": "collsync.commands.diff:apply_command",
    "check": "collsync.commands.check:check",
    "demo": "collsync.commands.demo:demo",
    "diff": "collsync.commands.diff:diff_command",
    "export-map": "collsync.commands.export:export_map",
    "failures": "collsync.commands.status:failures",
    "migrate": "collsync.commands.migrate:migrate_command",
    "rollback": "collsync.commands.rollback:rollback_command",
    "sandbox": "collsync.commands.sandbox:sandbox",
    "status": "collsync.commands.status:status",
    "sync": "collsync.commands.sync:sync_command",
}
