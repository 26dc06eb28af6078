"""The ``collsync`` command line: parse options, call the library, map errors to exit codes.

Every command accepts ``--json-logs`` and ``--log-level``. An expected failure (any
:class:`~collsync.errors.CollsyncError`) prints one ``error:`` line and exits with its code;
no traceback reaches the user for it.
"""

from __future__ import annotations

from typing import Any

import click

from collsync import __version__
from collsync.errors import EXIT_FATAL, CollsyncError
from collsync.logging import redact


class _Group(click.Group):
    """Turns expected failures into a one-line message and the documented exit code."""

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


def _register_subcommands() -> None:
    from collsync.commands.check import check
    from collsync.commands.demo import demo
    from collsync.commands.diff import apply_command, diff_command
    from collsync.commands.export import export_map
    from collsync.commands.migrate import migrate_command
    from collsync.commands.sandbox import sandbox
    from collsync.commands.status import failures, status
    from collsync.commands.sync import sync_command

    main.add_command(check)
    main.add_command(demo)
    main.add_command(diff_command)
    main.add_command(apply_command)
    main.add_command(export_map)
    main.add_command(migrate_command)
    main.add_command(status)
    main.add_command(failures)
    main.add_command(sync_command)
    main.add_command(sandbox)


_register_subcommands()
