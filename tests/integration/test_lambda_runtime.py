"""The local Lambda runtime's workers are what Lambda's are: a fresh interpreter with the
function's handler and environment, and nothing of the process that started them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandbox.runtime.errors import FunctionError
from sandbox.runtime.functions import FunctionSpec, LambdaRuntime

ROOT = Path(__file__).resolve().parents[2]

PARENT = textwrap.dedent(
    """
    import json
    import moto  # the demo's and the bench's __main__ import moto (through sandbox.up)

    from sandbox.runtime.functions import FunctionSpec, LambdaRuntime

    if __name__ == "__main__":
        runtime = LambdaRuntime({"ONLY": "this"})
        arn = "arn:aws:lambda:us-east-1:123456789012:function:probe"
        runtime.deploy(FunctionSpec("probe", arn, "tests.integration.runtime_handlers.report_modules"))
        try:
            print(json.dumps(runtime.invoke("probe", {})))
        finally:
            runtime.stop()
    """
)


def test_a_worker_imports_its_handler_and_nothing_of_its_parents_main_module(tmp_path: Path) -> None:
    parent = tmp_path / "parent.py"
    parent.write_text(PARENT)
    result = subprocess.run(
        [sys.executable, str(parent)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    worker = json.loads(result.stdout)
    assert not {"moto", "boto3", "botocore"} & set(worker["packages"]), worker["packages"]
    assert worker["environment"] == {
        "ONLY": "this",
        "AWS_LAMBDA_FUNCTION_NAME": "probe",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "_HANDLER": "tests.integration.runtime_handlers.report_modules",
    }


ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def _runtime(handler: str, timeout_seconds: float = 60) -> LambdaRuntime:
    runtime = LambdaRuntime({}, default_concurrency=1)
    runtime.deploy(FunctionSpec("probe", ARN + "probe", handler, timeout_seconds=timeout_seconds))
    return runtime


def test_an_invocation_past_its_timeout_kills_the_worker_and_the_next_gets_a_fresh_one() -> None:
    runtime = _runtime("tests.integration.runtime_handlers.sleep", timeout_seconds=1)
    try:
        with pytest.raises(FunctionError) as timed_out:
            runtime.invoke("probe", {"seconds": 600})
        assert timed_out.value.error_type == "Sandbox.Timedout"
        assert runtime.invoke("probe", {"seconds": 0}) == "awake"  # not queued behind the sleeper
    finally:
        runtime.stop()


def test_a_worker_that_dies_after_its_work_fails_the_invocation_and_is_replaced() -> None:
    runtime = _runtime("tests.integration.runtime_handlers.sleep")
    try:
        runtime.functions["probe"].inject("crash_after", "o-1")
        with pytest.raises(FunctionError) as died:
            runtime.invoke("probe", {"orderId": "o-1"})
        assert died.value.error_type == "Runtime.ExitError"
        assert runtime.invoke("probe", {"orderId": "o-1"}) == "awake"
    finally:
        runtime.stop()


def test_a_handler_that_cannot_be_imported_fails_every_invocation_as_lambda_does() -> None:
    runtime = _runtime("tests.integration.no_such_module.handler")
    try:
        for _ in range(2):
            with pytest.raises(FunctionError) as refused:
                runtime.invoke("probe", {})
            assert refused.value.error_type == "Runtime.ImportModuleError"
            assert "no_such_module" in refused.value.message
    finally:
        runtime.stop()
