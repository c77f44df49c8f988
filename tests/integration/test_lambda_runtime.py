"""The local Lambda runtime's workers are what Lambda's are: a fresh interpreter with the
function's handler and environment, and nothing of the process that started them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

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
