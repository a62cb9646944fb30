"""A lint over core/: no state changes but through guarded UPDATEs (issue 23, STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from core.base.models import Base

CORE = Path(__file__).resolve().parents[2] / "core"
# Models whose rows have a state machine (a `state` column).
STATEFUL = {m.class_.__name__ for m in Base.registry.mappers if "state" in m.columns}
# Course.state is Google Classroom's course state, copied in as data: not a machine of ours.
NOT_A_MACHINE = {("catalog/sources/sync.py", "course.state")}


def _sources() -> list[tuple[str, str, ast.Module]]:
    out = []
    for path in sorted(CORE.rglob("*.py")):
        text = path.read_text()
        out.append((path.relative_to(CORE).as_posix(), text, ast.parse(text)))
    return out


def _chain_top(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST:
    # update(X).where(...).values(...): climb from update(X) to the whole chained expression.
    while isinstance(parents.get(node), (ast.Attribute, ast.Call)):
        node = parents[node]
    return node


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def test_the_stateful_models_are_the_ones_we_think() -> None:
    assert {"TaskRecord", "Download", "Delivery"} <= STATEFUL


def test_no_state_is_assigned_on_a_loaded_row() -> None:
    offenders = []
    for name, text, tree in _sources():
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                for item in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(item, ast.Attribute) and item.attr == "state":
                        where = (name, ast.get_source_segment(text, item))
                        if where not in NOT_A_MACHINE:
                            offenders.append(f"{name}:{node.lineno}")
    assert offenders == [], "read-check-write of a state; use core.base.transitions instead"


def test_every_update_of_a_stateful_table_is_guarded_by_its_state() -> None:
    offenders, seen = [], 0
    for name, text, tree in _sources():
        parents = _parents(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "update"):
                continue
            target = node.args[0] if node.args else None
            model = getattr(target, "id", None)
            if model not in STATEFUL and name != "base/transitions.py":
                continue  # a table with no state machine (catalog items, subscriptions)
            seen += 1
            chain = ast.get_source_segment(text, _chain_top(node, parents)) or ""
            wheres = chain.split(".where(")[1:]
            if not any(".state" in where.split(".values(")[0] for where in wheres):
                offenders.append(f"{name}:{node.lineno}")
    assert seen >= 5, "the check found the updates it is meant to read"
    assert offenders == [], "an UPDATE of a stateful row without `state` in its WHERE"


def test_only_the_primitive_writes_a_state_value() -> None:
    offenders = []
    for name, _text, tree in _sources():
        for node in ast.walk(tree):
            is_values = isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "values"
            if is_values and any(k.arg == "state" for k in node.keywords):  # type: ignore[attr-defined]
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == [], "set states through core.base.transitions.transition"
