"""One run of a command: open the state, take the lock, read both sides, plan, then preview or
execute and verify.

Every command is a :class:`RunRequest` to :func:`run`: ``migrate``, ``sync``, ``diff``,
``apply`` and ``rollback`` differ only in the scope they read, the mode they plan in, and
whether the plan is shown (``diff``, ``--dry-run``), confirmed (``rollback`` on a terminal) or
executed. A run that did not finish is resumed by the next one of the same command (unless
``restart``): finished pages are not read again, and open journal intents are settled against
Akinon before anything is planned.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import signal
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collsync.config import parse_max_deletes
from collsync.errors import (
    EXIT_FATAL,
    EXIT_OK,
    EXIT_RECORD_FAILURES,
    CollsyncError,
    ConfigError,
    ExistingCollectionsError,
    InterruptedRunError,
)
from collsync.logging import get_logger
from collsync.pipeline.execute import Executor
from collsync.pipeline.extract import NoProgress
from collsync.pipeline.failure_log import FailureLog
from collsync.pipeline.inputs import StateInputs
from collsync.pipeline.plan import DeleteGuard, Plan, plan
from collsync.pipeline.prepare import Prepared, RunContext, prepare
from collsync.pipeline.preview import Preview, preview
from collsync.pipeline.saved_plan import document, plan_of
from collsync.pipeline.scope import Scope, record_bookkeeping
from collsync.pipeline.verify import Verification, verify
from collsync.source import StoreClient
from collsync.state import Bound, State, run_lock
from collsync.state.database import create_private
from collsync.target import AkinonClient

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import httpx

    from collsync.config import Config
    from collsync.pipeline.extract import Progress
    from collsync.report.model import DiffReport

log = get_logger("collsync.run")


@dataclass(frozen=True, slots=True)
class Transports:
    """Optional transports (tests and the demo use the sandbox in-process)."""

    store: httpx.AsyncBaseTransport | None = None
    akinon: httpx.AsyncBaseTransport | None = None


@dataclass(frozen=True, slots=True)
class RunRequest:
    command: str
    """Recorded in the state's runs, and what a later run of the same command resumes."""
    scope: Scope | Callable[[State], Scope]
    """What the run reads and plans; a function of the state for ``sync``."""
    preview: bool = False
    """Show the plan, write nothing (``diff``, ``--dry-run``)."""
    restart: bool = False
    resumable: bool = True
    verify: bool = True
    max_deletes: str | None = None
    """Overrides ``[sync] max_deletes`` (``--mirror``)."""
    saved: dict[str, Any] | None = None
    """A saved plan to execute (``apply``)."""
    save_plan: bool = False
    """A preview also returns the plan document ``apply`` takes."""
    approve: Callable[[DiffReport], bool] | None = None
    """Shown the plan before anything is written; False ends the run with nothing written."""
    rebind: bool = False
    """The store or Akinon moved: bind the state to the config's services (``--rebind``)."""


PREVIEW_RUN = 0
"""The run id a preview works under: it is not recorded, and writes nothing that needs one."""


@dataclass
class RunSummary:
    """What a run read, planned and did, with the names the diff uses."""

    run_id: int | None
    """None for a preview, which is not recorded."""
    command: str
    mode: str = ""
    label: str = ""
    resumed: bool = False
    state_path: str = ""
    read: Counter[str] = field(default_factory=Counter)
    planned: Counter[str] = field(default_factory=Counter)
    done: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    """Records that failed in this run, each listed by ``collsync failures``."""
    verification: Verification | None = None
    preview: bool = False
    approved: bool = True
    error_exit: int | None = None
    """The exit code of the error that ended the run, if one did."""

    @property
    def exit_code(self) -> int:
        if self.error_exit is not None:
            return self.error_exit
        return EXIT_RECORD_FAILURES if self.failed and not self.preview else EXIT_OK

    @property
    def counts(self) -> Counter[str]:
        return self.read + self.done + Counter({"failed": self.failed})

    def to_dict(self) -> dict[str, Any]:
        verified = self.verification
        return {
            "run_id": self.run_id,
            "command": self.command,
            "mode": self.mode,
            "resumed": self.resumed,
            "counts": dict(sorted(self.counts.items())),
            "planned": dict(sorted(self.planned.items())),
            "failed": self.failed,
            "verified": None if verified is None else dataclasses.asdict(verified),
            "exit_code": self.exit_code,
            "state": self.state_path,
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    summary: RunSummary
    preview: Preview | None = None
    saved: dict[str, Any] | None = None
    """The plan document ``apply`` takes (a preview's)."""


async def run(
    config: Config,
    request: RunRequest,
    *,
    progress: Progress | None = None,
    transports: Transports | None = None,
) -> RunResult:
    """Open the state, take the lock, open both clients, record the run, and run its stages."""
    transports = transports or Transports()
    create_private(config.state.path)  # the folder the lock lives in
    with run_lock(config.state.path, request.command):
        state = State.open(config.state.path)
        try:
            async with (
                StoreClient.from_config(config, transport=transports.store) as store,
                AkinonClient.from_config(config, transport=transports.akinon) as akinon,
            ):
                scope = request.scope(state) if callable(request.scope) else request.scope
                _bind(state, config, request)
                return await _recorded(
                    config, request, scope, state, store, akinon, progress or NoProgress()
                )
        finally:
            state.close()


def bound_to(config: Config) -> Bound:
    """The services and account a config points at."""
    if config.target.token is not None and config.target.password is None:
        token = config.target.token.get_secret_value().encode()
        account = "token " + hashlib.sha256(token).hexdigest()[:12]
    else:
        account = str(config.target.email)
    return Bound(str(config.source.url), str(config.target.url), account)


def _bind(state: State, config: Config, request: RunRequest) -> None:
    """A state belongs to one store and one Akinon account: a run against others is refused
    (exit 2) before anything is read, unless ``--rebind`` declares a real move."""
    current, bound = bound_to(config), state.binding.get()
    if bound == current:
        return
    if bound is None:
        if not request.preview:  # the first run that writes binds it
            state.binding.set(current)
            log.info("collsync.state.bound", **dataclasses.asdict(current))
        return
    if not request.rebind:
        raise ConfigError(
            f"state.path: {state.path} belongs to other services: "
            + "; ".join(bound.differences(current))
            + ". Point state.path at this store's and account's state; if the store or Akinon "
            "only moved, run `collsync sync --rebind` (or migrate) once."
        )
    with state.transaction():
        state.binding.set(current)
        rebind = state.runs.start(
            "rebind", {"from": dataclasses.asdict(bound), "to": dataclasses.asdict(current)}
        )
        state.runs.finish(rebind, "done", {"differences": bound.differences(current)})
    log.warning("collsync.state.rebound", previous=dataclasses.asdict(bound))


async def _recorded(
    config: Config,
    request: RunRequest,
    scope: Scope,
    state: State,
    store: StoreClient,
    akinon: AkinonClient,
    progress: Progress,
) -> RunResult:
    """The run, recorded in the state's runs (a preview is not: it changes nothing): resumed,
    started, and finished with its outcome."""
    unfinished = None
    if request.resumable and not request.restart and not request.preview:
        last = state.runs.last(request.command)
        unfinished = last if last is not None and last.unfinished else None
    if request.preview:
        run_id = PREVIEW_RUN
    elif unfinished is not None:
        run_id = unfinished.id
        state.runs.resume(run_id)
        log.info("collsync.run.resumed", run_id=run_id, command=request.command)
    else:
        if request.restart:
            state.checkpoints.clear("extract.")
        run_id = state.runs.start(request.command, scope.filters.to_wire())
    summary = RunSummary(
        None if request.preview else run_id,
        request.command,
        mode=scope.mode.name,
        label=scope.label,
        resumed=unfinished is not None,
        state_path=str(state.path),
        preview=request.preview,
    )
    if scope.reason:
        log.info("collsync.run.mode", mode=scope.mode.name, reason=scope.reason)
    ctx = RunContext(
        config,
        state,
        store,
        akinon,
        FailureLog(state, run_id, preview=request.preview),
        run_id,
        unfinished is not None,
        progress,
        asyncio.Event(),
    )
    try:
        with _stop_on_signals(ctx.stop):
            result = await _stages(ctx, request, scope, summary)
            if ctx.stop.is_set():
                raise InterruptedRunError()
    except InterruptedRunError as exc:
        summary.error_exit = exc.exit_code
        _finish(ctx, request, summary, "interrupted")
        log.warning("collsync.run.interrupted", run_id=run_id)
        raise
    except BaseException as exc:
        summary.error_exit = exc.exit_code if isinstance(exc, CollsyncError) else EXIT_FATAL
        with contextlib.suppress(Exception):  # the state may be what failed
            _finish(ctx, request, summary, "failed")
        raise
    _finish(ctx, request, summary, "done")
    log.info("collsync.run.finished", **summary.to_dict())
    return result


def _finish(ctx: RunContext, request: RunRequest, summary: RunSummary, status: str) -> None:
    if request.preview:
        summary.failed = len({(f.record_id, f.stage) for f in ctx.failures.recorded})
        return
    summary.failed = ctx.state.failures.count_open(ctx.run_id)
    if status == "done":
        ctx.state.failures.schedule_retries(
            ctx.run_id,
            backoff=ctx.config.sync.retry_backoff.total_seconds(),
            limit=ctx.config.sync.retry_limit,
        )
    ctx.state.runs.finish(ctx.run_id, status, summary.to_dict())


async def _stages(
    ctx: RunContext, request: RunRequest, scope: Scope, summary: RunSummary
) -> RunResult:
    prepared = await prepare(ctx, scope)
    summary.read.update(prepared.counts)
    inputs = StateInputs(
        ctx.state, ctx.config, ctx.failures, prepared.generation, scope.limit, prepared.blocked
    )
    stop = _fresh_state_clash(ctx, scope, inputs)
    if stop is not None and not request.preview:
        raise ExistingCollectionsError(stop)
    if request.preview or request.approve is not None:
        shown = preview(
            _plan(ctx, request, scope, prepared, inputs),
            config=ctx.config,
            state=ctx.state,
            failures=ctx.failures,
            dropped_fields=inputs.dropped_fields,
            progress=ctx.progress,
        )
        summary.planned.update(_planned(shown))
        shown.report.stop = shown.report.stop or stop
        if scope.full_read and scope.mode.collections and not scope.mode.mirror:
            shown.report.gone_from_store = len(ctx.state.ids.not_staged(prepared.generation))
        if request.preview:
            summary.read["fields_dropped"] = sum(inputs.dropped_fields.values())
            saved = document(shown, scope, ctx.config, ctx.state) if request.save_plan else None
            return RunResult(summary, shown, saved)
        assert request.approve is not None
        with _interruptible(ctx.stop):
            approved = request.approve(shown.report)
        if not approved:
            summary.approved = False
            return RunResult(summary, shown)
        inputs = dataclasses.replace(inputs, dropped_fields={})
    executor = Executor(
        ctx.akinon,
        ctx.state,
        ctx.failures,
        run_id=ctx.run_id,
        owner=ctx.config.target.email,
        concurrency=ctx.config.run.concurrency,
        stop=ctx.stop,
        progress=ctx.progress,
    )
    await executor.execute(_plan(ctx, request, scope, prepared, inputs))
    summary.planned = executor.planned
    summary.done.update(executor.done)
    summary.read["fields_dropped"] = sum(inputs.dropped_fields.values())
    if ctx.stop.is_set():
        return RunResult(summary)
    if request.verify:
        summary.verification = await verify(
            ctx.akinon,
            ctx.state,
            inputs,
            ctx.failures,
            touched=executor.touched,
            deleted=executor.deleted,
            removals=scope.mode.removals,
        )
    if scope.full_read and scope.mode.collections:
        ctx.failures.resolve_stale(("extract", "extract.products", "transform"))
    record_bookkeeping(ctx.state, scope, ctx.run_id)
    return RunResult(summary)


def _fresh_state_clash(ctx: RunContext, scope: Scope, inputs: StateInputs) -> str | None:
    """Why a run with a state that maps nothing must not create: the account already holds
    collections of the names it would create (a lost state, or one made for another copy)."""
    mode = scope.mode
    if not mode.collections or mode.existing != "report" or ctx.state.ids.counts().collections:
        return None
    if not ctx.state.readback.count():
        return None
    names = inputs.clashes()
    if not names:
        return None
    shown = ", ".join(repr(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
    return (
        f"this state maps no collection, and the Akinon account already holds {len(names)} "
        f"collection(s) named as store collections it would create ({shown}): a lost or new "
        "state? Run with --adopt-existing to map them by name, or --allow-duplicates to create "
        "them anyway"
    )


def _plan(
    ctx: RunContext, request: RunRequest, scope: Scope, prepared: Prepared, inputs: StateInputs
) -> Plan:
    if request.saved is not None:
        return plan_of(request.saved, ctx.state, inputs, resumed=ctx.resumed)
    return plan(scope.mode, inputs, _guard(ctx, request, prepared) if scope.mode.mirror else None)


def _guard(ctx: RunContext, request: RunRequest, prepared: Prepared) -> DeleteGuard:
    mapped = ctx.state.ids.counts().collections
    setting = request.max_deletes or ctx.config.sync.max_deletes
    try:
        allowed = parse_max_deletes(setting, mapped)
    except ValueError as exc:
        raise ConfigError(f"--max-deletes: {exc}") from None
    return DeleteGuard(
        setting,
        allowed,
        mapped,
        store_empty=ctx.state.staging.count(prepared.generation) == 0,
        store_incomplete=not prepared.store_complete,
    )


def _planned(shown: Preview) -> Counter[str]:
    counts: Counter[str] = Counter()
    for change in shown.report.changes:
        counts[change.action] += 1
        counts["items_added"] += len(change.items_added)
        counts["items_removed"] += len(change.items_removed)
    return counts


@contextlib.contextmanager
def _interruptible(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl+C interrupts while a person is asked a question (nothing has been written yet)."""
    loop = asyncio.get_running_loop()
    if not loop.remove_signal_handler(signal.SIGINT):  # not handled here (not the main thread)
        yield
        return
    try:
        yield
    finally:
        loop.add_signal_handler(signal.SIGINT, stop.set)


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` instead of killing the run mid-write."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (RuntimeError, ValueError):  # not the main thread (tests, the demo's servers)
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
