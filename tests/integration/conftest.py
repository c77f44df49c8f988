"""One moto account per session, executing ASL, with scripted Lambda functions."""

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from sandbox.stepfunctions import route_lambda_invokes, time_scale
from tests.integration.saga_rig import Rig, ScriptedFunctions

# Retry waits and timeouts at 1/100 of real time: a 30 s state timeout takes 0.3 s, ample
# for an in-process scripted function on a loaded machine, short enough for the suite.
TIME_SCALE = 0.01


@pytest.fixture(scope="session")
def rig() -> Iterator[Rig]:
    functions = ScriptedFunctions()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        # mock_aws replaces boto3's default session: route on the one the interpreter uses.
        unroute = route_lambda_invokes(boto3._get_default_session(), functions)
        with time_scale(TIME_SCALE) as retry_waits:
            yield Rig(functions, retry_waits)
        functions.release.set()
        unroute()
