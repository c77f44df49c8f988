"""Where a running sandbox tells its clients (``python -m ops --sandbox``) how to reach it.

``python -m sandbox up`` writes ``build/sandbox/<stack>.connection.json`` once it serves and
removes it when it stops: the embedded AWS endpoint, the region and the stack's outputs.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
"""The embedded AWS accepts any key; these are what the sandbox's own clients use."""


def python_command() -> str:
    """This interpreter as a shell word that works from the project root with nothing activated,
    for the commands the sandbox and the demo print."""
    executable = Path(sys.executable)
    shown = executable.relative_to(ROOT) if executable.is_relative_to(ROOT) else executable
    return shlex.quote(str(shown))


def connection_file(stack: str) -> Path:
    return ROOT / "build" / "sandbox" / f"{stack}.connection.json"


def write_connection(stack: str, endpoint: str, region: str, outputs: dict[str, Any]) -> Path:
    path = connection_file(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"stack": stack, "endpoint": endpoint, "region": region, "outputs": outputs}, indent=1))
    return path


def read_connection(stack: str) -> dict[str, Any] | None:
    """The running sandbox's connection, or None when none is running for ``stack``."""
    path = connection_file(stack)
    if not path.exists():
        return None
    return dict(json.loads(path.read_text()))
