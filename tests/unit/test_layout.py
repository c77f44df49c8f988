"""The layout's rules, checked on the source: imports point down and public class names are
unique. (That a Lambda worker loads nothing of the sandbox is tests/integration/test_lambda_runtime.py's.)"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from synth.program import ROOT

LAYERS = ["handlers", "components", "synth", "policies", "sandbox", "ops", "demo", "examples", "bench", "tests"]
"""Lowest first: a module may import its own layer and those before it, never one after."""


def _python_files(layer: str) -> list[Path]:
    return sorted(p for p in (ROOT / layer).rglob("*.py") if ".venv" not in p.parts)


def _imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):  # function-level imports count too: they run in the same process
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for rank, layer in enumerate(LAYERS):
        allowed = set(LAYERS[: rank + 1])
        for path in _python_files(layer):
            for imported in sorted(_imported_layers(path) - allowed):
                upward.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert upward == []


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from tests.unit import helpers\nimport demo.audit\n")
    assert _imported_layers(module) == {"tests", "demo"}


def test_no_two_public_classes_share_a_name() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for layer in LAYERS[:-1]:  # tests may name their fakes freely
        for path in _python_files(layer):
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                    where[node.name].append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
