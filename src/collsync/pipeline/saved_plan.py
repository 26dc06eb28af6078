"""Saved plans: ``diff --save-plan`` writes one, ``apply`` executes exactly it, or refuses.

A saved plan holds its mode, its operations (per collection, and the deletions) and fingerprints
of the three things it was made against: the source (every planned collection's content hash),
the target (every Akinon collection of the account, with its items) and the state (the id and
item maps). ``apply`` refuses a plan when any of them moved, naming the records that did, and
otherwise executes those operations and nothing else. A resumed ``apply`` executes what is left.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from collsync.errors import StalePlanError
from collsync.pipeline.inputs import actual, mapped
from collsync.pipeline.models import (
    Action,
    CollectionPlan,
    DesiredCollection,
    DesiredItem,
    Operation,
    Origin,
)
from collsync.pipeline.plan import Plan, mode_named, plan_collection
from collsync.pipeline.scope import Scope
from collsync.source import CollectionFilters

if TYPE_CHECKING:
    from pathlib import Path

    from collsync.config import Config
    from collsync.pipeline.inputs import StateInputs
    from collsync.pipeline.preview import Preview
    from collsync.state import State

PLAN_FORMAT = "collsync-plan"
PLAN_VERSION = 2


def document(preview: Preview, scope: Scope, config: Config, state: State) -> dict[str, Any]:
    report = preview.report
    return {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "created_at": report.generated_at,
        "source": report.source_url,
        "target": report.target_url,
        "account": config.target.email,
        "mode": report.mode,
        "filters": scope.filters.to_wire(),
        "limit": scope.limit,
        "summary": report.summary,
        "guard": report.guard,
        "refused": report.refused,
        "fingerprints": {
            "source": preview.source,
            "target": state.readback.fingerprint(),
            "state": state.ids.fingerprint(),
        },
        "collections": [
            {
                "desired": _desired_dict(p.desired),
                "operations": [_op_dict(op) for op in p.operations],
            }
            for p in preview.changed
        ],
        "deletions": [_op_dict(op) for op in preview.deletions],
    }


def read_plan(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StalePlanError(f"cannot read plan {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise StalePlanError(f"{path} is not a collsync plan (not JSON: {exc})") from None
    if not isinstance(loaded, dict) or loaded.get("format") != PLAN_FORMAT:
        raise StalePlanError(f"{path} is not a collsync plan (made by `collsync diff --save-plan`)")
    if loaded.get("version") != PLAN_VERSION:
        raise StalePlanError(
            f"{path} is a version {loaded.get('version')} plan; this collsync applies version "
            f"{PLAN_VERSION}: run `collsync diff --save-plan` again"
        )
    if loaded.get("refused"):
        raise StalePlanError(f"{path} was refused by its delete guard: {loaded.get('guard')}")
    return loaded


def scope_of(saved: dict[str, Any], config: Config) -> Scope:
    """What the run applying ``saved`` reads: the same as the diff that made it."""
    if (saved.get("source"), saved.get("target")) != (
        str(config.source.url),
        str(config.target.url),
    ):
        raise StalePlanError(
            f"the plan was made for {saved.get('source')} -> {saved.get('target')}, "
            f"not for this config ({config.source.url} -> {config.target.url})"
        )
    try:
        mode = mode_named(str(saved.get("mode")))
    except ValueError as exc:
        raise StalePlanError(f"the plan names {exc}") from None
    filters = CollectionFilters.model_validate(saved["filters"])
    return Scope(mode, filters, saved.get("limit"))


def plan_of(saved: dict[str, Any], state: State, inputs: StateInputs, *, resumed: bool) -> Plan:
    """The saved plan, if the world has not moved since it was made (what is left of it, when
    an earlier apply of it was interrupted)."""
    mode = mode_named(str(saved["mode"]))
    fingerprints = saved["fingerprints"]
    now_source = {c.desired.source_id: c.desired.content_hash for c in inputs.collections()}
    moved = _moved("source collections", fingerprints["source"], now_source)
    if not resumed:  # a resumed apply has already changed the target and the state
        moved += _moved("Akinon collections", fingerprints["target"], state.readback.fingerprint())
        moved += _moved("mapped collections", fingerprints["state"], state.ids.fingerprint())
    if moved:
        raise StalePlanError(
            "the plan is stale; nothing was applied. Since it was made:\n  "
            + "\n  ".join(moved)
            + "\nRun `collsync diff --save-plan` again and review the new plan."
        )
    collections = [_plan_from(entry) for entry in saved["collections"]]
    deletions = [_op_from(op) for op in saved["deletions"]]
    if resumed:  # what is left of each saved operation, and nothing that was not saved
        collections = [
            _outstanding(
                p,
                plan_collection(
                    p.desired,
                    mapped(state, p.desired.source_id),
                    actual(state, p.desired.source_id),
                    removals=mode.removals,
                ),
            )
            for p in collections
        ]
        deletions = [
            op
            for op in deletions
            if (entry := state.ids.get(op.source_id)) is not None
            and entry.akinon_pk == op.akinon_pk
            and state.readback.get(entry.akinon_pk) is not None
        ]
    return Plan(mode, tuple(deletions), (), collections)


def _outstanding(saved: CollectionPlan, now: CollectionPlan) -> CollectionPlan:
    """The operations of ``now`` (a collection planned again) that ``saved`` holds."""
    wanted = {_key(op) for op in saved.operations}
    return CollectionPlan(saved.desired, tuple(op for op in now.operations if _key(op) in wanted))


def _key(op: Operation) -> tuple[object, ...]:
    """What makes two plans' operations the same change, whatever pks they carry."""
    if op.action in (Action.CREATE, Action.RECREATE):
        return ("create",)
    if op.action is Action.UPDATE:
        return (op.action, op.name, op.status)
    return (op.action, op.product_pk, op.note)


def _moved(label: str, then: dict[str, str], now: dict[str, str]) -> list[str]:
    changed = sorted(k for k in then.keys() & now.keys() if then[k] != now[k])
    added = sorted(now.keys() - then.keys())
    gone = sorted(then.keys() - now.keys())
    lines = []
    for what, keys in (("changed", changed), ("new", added), ("gone", gone)):
        if keys:
            shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            lines.append(f"{label}: {len(keys)} {what} ({shown})")
    return lines


def _desired_dict(desired: DesiredCollection) -> dict[str, Any]:
    data = asdict(desired)
    data.pop("item_problems")
    data["uncertain_skus"] = sorted(desired.uncertain_skus)
    return data


def _op_dict(op: Operation) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in asdict(op).items()}


def _op_from(data: dict[str, Any]) -> Operation:
    return Operation(**{**data, "action": Action(data["action"]), "origin": Origin(data["origin"])})


def _plan_from(entry: dict[str, Any]) -> CollectionPlan:
    d = entry["desired"]
    desired = DesiredCollection(
        source_id=d["source_id"],
        source_slug=d["source_slug"],
        name=d["name"],
        status=d["status"],
        content_hash=d["content_hash"],
        items=tuple(DesiredItem(**i) for i in d["items"]),
        dropped_fields=tuple(d.get("dropped_fields", ())),
        uncertain_skus=frozenset(d.get("uncertain_skus", ())),
    )
    return CollectionPlan(desired, tuple(_op_from(op) for op in entry["operations"]))
