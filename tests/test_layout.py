"""The code's shape, as the design states it: pure stages import no I/O, SQL lives in state/."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "src" / "collsync"
SQL = re.compile(
    r"^\s*(SELECT \S|INSERT (OR \w+ )?INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TABLE|INDEX)"
    r"|ALTER TABLE|PRAGMA \w|BEGIN\b)"
)


def test_the_planner_and_the_transform_import_no_io() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, collsync.pipeline.plan, collsync.pipeline.transform;"
            "print(sorted({'httpx', 'sqlite3', 'sqlite_utils'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_sql_is_written_in_the_state_package_alone() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("state", "sandbox"):  # the sandbox keeps its data in memory
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and SQL.match(node.value):
                found.append(f"{relative}:{node.lineno}")
    assert found == []


def test_one_planner_and_one_executor_by_their_file_names() -> None:
    defined: dict[str, list[str]] = {}
    for path in (PACKAGE / "pipeline").glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                defined.setdefault(node.name, []).append(path.name)
    assert defined["plan"] == ["plan.py"]
    assert defined["plan_collection"] == ["plan.py"]
    assert defined["Executor"] == ["execute.py"]
