"""Answer the ASL interpreter's Lambda tasks with our own runtime.

moto executes ASL when ``execute_state_machine`` is on, but its Lambda needs Docker.
``route_lambda_invokes`` answers every ``lambda.Invoke`` made through a boto3 session (the
interpreter uses the default session of its own process) with a Python callable. The other
seams (time scale, client reuse) patch moto itself and live in ``moto_patches``.
"""

from __future__ import annotations

import io
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from sandbox.runtime.errors import FunctionError

Invoke = Callable[[str, Any], Any]
"""``invoke(function_name_or_arn, payload) -> result``; raise ``FunctionError`` to fail."""


def route_lambda_invokes(session: boto3.Session, invoke: Invoke) -> Callable[[], None]:
    """Answer ``lambda.Invoke`` calls made through ``session``; returns the undo function."""

    def before_call(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # url_path is /2015-03-31/functions/<quoted name or ARN>/invocations
        function = urllib.parse.unquote(params["url_path"].split("/")[3])
        payload = json.loads(params["body"] or b"null")
        parsed: dict[str, Any] = {"StatusCode": 200, "ResponseMetadata": {"HTTPStatusCode": 200}}
        try:
            result = invoke(function, payload)
        except FunctionError as error:
            parsed["FunctionError"] = "Unhandled"
            result = {"errorType": error.error_type, "errorMessage": error.message}
        parsed["Payload"] = io.BytesIO(json.dumps(result).encode())
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), parsed

    # botocore's stubs type handlers as returning None; a before-call handler may return
    # (http_response, parsed) to answer the call itself.
    session.events.register("before-call.lambda.Invoke", before_call)  # type: ignore[arg-type]
    return lambda: session.events.unregister("before-call.lambda.Invoke", before_call)  # type: ignore[arg-type]
