"""The ``collsync`` command line: parse options, call the library, map errors to exit codes.

Every command accepts ``--json-logs`` and ``--log-level``. An expected failure (any
:class:`~collsync.errors.CollsyncError`) prints one ``error:`` line and exits with its code;
no traceback reaches the user for it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click
from click.utils import make_default_short_help

from collsync import __version__
from collsync.errors import EXIT_FATAL, CollsyncError


class _Group(click.Group):
    """Loads commands lazily; turns expected failures into one line and the documented code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target[0].split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from :data:`COMMANDS`: ``collsync --help`` imports no command."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, make_default_short_help(COMMANDS[name][1], limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CollsyncError as exc:
            from collsync.logging import redact

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


# Commands load on first use: `collsync --help` imports none of them, and a cron run of
# `collsync sync` imports neither the sandbox nor the report renderers.
# "name": ("module:attribute", its short help, as the command's own help says it).
COMMANDS = {
    "apply": (
        "collsync.commands.diff:apply_command",
        "Apply a plan saved by `collsync diff --save-plan`, exactly; refuse if it is stale.",
    ),
    "check": (
        "collsync.commands.check:check",
        "Check what a run needs: the config, its files and folders, both services.",
    ),
    "demo": (
        "collsync.commands.demo:demo",
        "Show the whole job on the sandbox: a real migration, a no-op rerun, and a diff.",
    ),
    "diff": (
        "collsync.commands.diff:diff_command",
        "Show what `sync --full` (or `--mirror`) would change, writing nothing.",
    ),
    "export-map": (
        "collsync.commands.export:export_map",
        "Export the map of migrated collections: old slug -> Akinon slug and public URL.",
    ),
    "failures": (
        "collsync.commands.status:failures",
        "List records that failed, with the reason, the stage, and when they are tried again.",
    ),
    "migrate": (
        "collsync.commands.migrate:migrate_command",
        "Migrate collections to Akinon; resumes an unfinished run, never creates twice.",
    ),
    "rollback": (
        "collsync.commands.rollback:rollback_command",
        "Delete on Akinon the collections collsync created (all, or those of run N).",
    ),
    "sandbox": (
        "collsync.commands.sandbox:sandbox",
        "Local stand-ins for the Commerscale store and Akinon Commerce, to rehearse a migration.",
    ),
    "state": (
        "collsync.commands.state:state_group",
        "Look after the state file: a consistent backup, and a health check.",
    ),
    "status": (
        "collsync.commands.status:status",
        "Show the last runs, what is mapped, and what failed.",
    ),
    "sync": (
        "collsync.commands.sync:sync_command",
        "Bring Akinon up to date with the store; the job to run from cron.",
    ),
}
