"""The GitHub Actions workflows pass actionlint, and actionlint does catch a broken one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from synth.program import ROOT

ACTIONLINT = Path(sys.executable).parent / "actionlint"


def lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ACTIONLINT), *map(str, paths)], capture_output=True, text=True, cwd=ROOT)


def test_shipped_workflows_pass_actionlint() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {w.name for w in workflows} >= {"policy.yml", "deploy.yml", "pulumi-stack.yml"}
    result = lint(*workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_refuses_a_workflow_reading_an_undeclared_input(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    shutil.copytree(ROOT / ".github" / "workflows", workflows)
    stack = workflows / "pulumi-stack.yml"
    stack.write_text(stack.read_text().replace("inputs.region }}", "inputs.regoin }}"))
    result = lint(*sorted(workflows.glob("*.yml")))
    assert result.returncode == 1 and "regoin" in result.stdout, result.stdout
