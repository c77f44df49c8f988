"""Run the real program (``__main__.py``) under Pulumi mocks with a stack's config and write
its resource graph: ``python -m synth --stack prod-use1`` → ``build/prod-use1.resources.json``.

Every resource appears with its URN, type, logical name, parent and inputs as the engine sees
them (camelCase), plus the mocked outputs. The policy check and the sandbox read this file.
A standby stack's ``StackReference`` to its primary is answered with the outputs of a synth
of that primary (run first, in its own process: Pulumi's runtime is one program per process).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import runpy
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml

from synth.graph import Graph

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
ACCOUNT = "123456789012"
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker of a secret value


class SynthError(Exception):
    """The stack cannot be synthesized: unknown stack, bad config. The message says why."""


def stack_file(stack: str, root: Path = ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def read_config(stack: str, root: Path = ROOT) -> dict[str, str]:
    """The stack's config as the engine passes it: ``namespace:key`` → string (objects as JSON)."""
    path = stack_file(stack, root)
    if not path.exists():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))
        raise SynthError(f"unknown stack {stack!r}: no {path.name} (stacks: {', '.join(known)})")
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())["name"]
    raw = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    config = {}
    for key, value in raw.items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(value, (dict, list)):
            config[full] = json.dumps(value)
        elif isinstance(value, bool):
            config[full] = "true" if value else "false"
        else:
            config[full] = str(value)
    return config


def _physical(inputs: dict[str, Any], name: str) -> str:
    for key in ("name", "functionName", "layerName", "dashboardName"):
        if isinstance(inputs.get(key), str):
            return str(inputs[key])
    return name


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(parent: str | None, typ: str, name: str, stack: str, project: str) -> str:
    """The URN the Pulumi engine gives a resource, from its parent's *engine* URN.

    The engine writes the parent's whole qualified type (every ancestor's type, the root
    stack's left out) before the resource's own type (``Deployment.generateURN`` and
    ``resource.NewURN`` in pulumi/pulumi; the SDKs' ``create_urn`` / .NET ``Urn.Create`` cut
    the parent's URN at its last ``::`` the same way). Python's ``MockMonitor.make_urn``
    keeps only the immediate parent's type and writes the root stack's, so a rule that reads
    a URN would judge a mocked graph differently from the engine.
    """
    qualified = typ
    if parent:
        parts = parent.split("::")
        if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
            raise SynthError(f"{typ} {name!r} has a parent that is not a URN: {parent!r}")
        if parts[2] != ROOT_STACK_TYPE:
            qualified = f"{parts[2]}${typ}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def with_engine_urns(resources: list[dict[str, Any]], stack: str, project: str) -> list[dict[str, Any]]:
    """The recorded resources with every URN (own, parent, dependencies) as the engine builds it."""
    by_mock_urn = {resource["urn"]: resource for resource in resources}
    renamed: dict[str, str] = {}

    def rename(mock_urn: str) -> str:
        if mock_urn not in renamed:
            resource = by_mock_urn.get(mock_urn)
            if resource is None:
                raise SynthError(f"{mock_urn} is referenced but was never registered")
            parent = rename(resource["parent"]) if resource["parent"] else None
            renamed[mock_urn] = engine_urn(parent, resource["type"], resource["name"], stack, project)
        return renamed[mock_urn]

    return [
        {
            **resource,
            "urn": rename(resource["urn"]),
            "parent": rename(resource["parent"]) if resource["parent"] else None,
            "dependencies": [rename(urn) for urn in resource["dependencies"]],
            "propertyDependencies": {
                key: [rename(urn) for urn in urns] for key, urns in resource["propertyDependencies"].items()
            },
        }
        for resource in resources
    ]


def mocked_state(
    typ: str, name: str, inputs: dict[str, Any], region: str, paths: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """The id and outputs AWS would return: inputs plus the computed attributes our program
    (and the policies) read. ``paths`` maps API Gateway resource ids to their paths."""
    region = str(inputs.get("region") or region)
    physical = _physical(inputs, name)
    prefix = f"{region}:{ACCOUNT}"
    state = dict(inputs)
    rid = physical
    if typ == "aws:lambda/function:Function":
        state["arn"] = f"arn:aws:lambda:{prefix}:function:{physical}"
        state["invokeArn"] = f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{state['arn']}/invocations"
    elif typ == "aws:lambda/layerVersion:LayerVersion":
        state["arn"] = f"arn:aws:lambda:{prefix}:layer:{physical}:1"
    elif typ == "aws:iam/role:Role":
        state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{physical}"
    elif typ == "aws:sqs/queue:Queue":
        state["arn"] = f"arn:aws:sqs:{prefix}:{physical}"
        state["url"] = rid = f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{physical}"
    elif typ == "aws:dynamodb/table:Table":
        state["arn"] = f"arn:aws:dynamodb:{prefix}:table/{physical}"
        state["streamArn"] = f"{state['arn']}/stream/2026-01-01T00:00:00.000"
    elif typ == "aws:cloudwatch/eventBus:EventBus":
        state["arn"] = f"arn:aws:events:{prefix}:event-bus/{physical}"
    elif typ == "aws:cloudwatch/eventRule:EventRule":
        state["arn"] = f"arn:aws:events:{prefix}:rule/{inputs.get('eventBusName', 'default')}/{physical}"
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        state["arn"] = f"arn:aws:logs:{prefix}:log-group:{physical}"
    elif typ == "aws:sfn/stateMachine:StateMachine":
        state["arn"] = rid = f"arn:aws:states:{prefix}:stateMachine:{physical}"
    elif typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        state["arn"] = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{str(inputs['url']).removeprefix('https://')}"
    elif typ == "aws:kms/key:Key":
        rid = state["keyId"] = hashlib.sha256(f"{region}/{name}".encode()).hexdigest()[:32]
        state["arn"] = f"arn:aws:kms:{prefix}:key/{rid}"
    elif typ == "aws:sns/topic:Topic":
        state["arn"] = f"arn:aws:sns:{prefix}:{physical}"
    elif typ == "aws:apigateway/restApi:RestApi":
        rid = hashlib.sha256(physical.encode()).hexdigest()[:10]
        state["rootResourceId"] = f"{rid}root"
        state["executionArn"] = f"arn:aws:execute-api:{prefix}:{rid}"
        paths[state["rootResourceId"]] = "/"
    elif typ == "aws:apigateway/stage:Stage":
        state["invokeUrl"] = f"https://{inputs['restApi']}.execute-api.{region}.amazonaws.com/{inputs['stageName']}"
    elif typ == "aws:apigateway/resource:Resource":
        rid = f"{name}-id"
        state["path"] = paths[rid] = f"{paths.get(inputs['parentId'], '/').rstrip('/')}/{inputs['pathPart']}"
    elif typ == "aws:apigateway/domainName:DomainName":
        rid = str(inputs["domainName"])
        digest = hashlib.sha256(f"{region}/{rid}".encode()).hexdigest()
        state["regionalDomainName"] = f"d-{digest[:10]}.execute-api.{region}.amazonaws.com"
        state["regionalZoneId"] = f"Z{digest[10:23].upper()}"  # API Gateway's zone for the region (synthetic)
    elif typ.startswith("aws:apigateway/"):
        rid = f"{name}-id"
    elif typ == "aws:route53/healthCheck:HealthCheck":
        rid = hashlib.sha256(f"{region}/{name}".encode()).hexdigest()[:36]
    else:
        state.setdefault("arn", f"arn:aws:{typ.split(':')[1].split('/')[0]}:{prefix}:{physical}")
    return rid, state


def synthesize(stack: str, root: Path = ROOT, program: Path | None = None) -> dict[str, Any]:
    """Run ``program`` (the project's ``__main__.py``) for ``stack`` under mocks in this
    process; returns the graph."""
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime.stack import wait_for_rpcs
    from pulumi.runtime.sync_await import _sync_await

    config = read_config(stack, root)
    region = config.get("aws:region", "us-east-1")
    references = _referenced_stacks(config, root, program)
    resources: list[dict[str, Any]] = []
    api_paths: dict[str, str] = {}
    lock = threading.Lock()

    class GraphMocks(pulumi_mocks.Mocks):
        def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            if args.typ == "aws:apigateway/account:Account" and args.resource_id:
                # A declared bootstrap (read, not created): offline, assume its owner set the
                # role; at `pulumi preview` the engine reads the real setting.
                return args.resource_id, {
                    "cloudwatchRoleArn": f"arn:aws:iam::{ACCOUNT}:role/apigateway-cloudwatch-{region}"
                }
            if args.typ == "pulumi:pulumi:StackReference":
                target = str(args.inputs.get("name") or args.name)
                return target, {
                    "name": target,
                    "outputs": references.get(target, {}),
                    "secretOutputNames": [],
                }
            return mocked_state(args.typ, args.name, args.inputs, region, api_paths)

        def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
            if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
                return {
                    "accountId": ACCOUNT,
                    "arn": f"arn:aws:iam::{ACCOUNT}:user/synth",
                    "userId": "synth",
                    "id": ACCOUNT,
                }
            if args.token == "aws:servicequotas/getServiceQuota:getServiceQuota":
                # The default Lambda concurrency quota; a low-quota account is tested on the
                # pure check (components.preflight).
                return {"value": LAMBDA_CONCURRENCY_QUOTA, "defaultValue": 1000.0, "adjustable": True, "id": "q"}
            if args.token == "aws:ssm/getParameter:getParameter":
                name = str(args.args.get("name"))
                return {"name": name, "value": _public_parameter(name, region), "type": "String", "id": name}
            return {}

    # MockResourceArgs carries no parent: record each resource from its request instead.
    def recording(original: Any, properties: str, read: bool) -> Any:
        def record(monitor: Any, request: Any) -> Any:
            response = original(monitor, request)
            inputs = _unwrap_secrets(pulumi.runtime.rpc.deserialize_properties(getattr(request, properties)))
            with lock:
                resources.append(
                    {
                        "urn": response.urn,
                        "type": request.type,
                        "name": request.name,
                        "parent": request.parent or None,
                        "custom": read or bool(request.custom),
                        "read": read,
                        "inputs": inputs,
                        "outputs": getattr(monitor.resources.get(response.urn), "state", {}),
                        "dependencies": list(getattr(request, "dependencies", [])),
                        "propertyDependencies": {
                            key: list(value.urns) for key, value in getattr(request, "propertyDependencies", {}).items()
                        },
                    }
                )
            return response

        return record

    monitor_class = pulumi_mocks.MockMonitor
    monitor_class.RegisterResource = recording(monitor_class.RegisterResource, "object", read=False)  # type: ignore[method-assign]
    monitor_class.ReadResource = recording(monitor_class.ReadResource, "properties", read=True)  # type: ignore[method-assign]
    pulumi.runtime.set_mocks(GraphMocks(), project=_project(root), stack=stack, preview=False)
    pulumi.runtime.set_all_config(config)
    sys.path.insert(0, str(root))
    runpy.run_path(str(program or root / "__main__.py"), run_name="__main__")
    _sync_await(wait_for_rpcs())
    stack_resource = pulumi.runtime.settings.get_root_resource()
    exports = getattr(stack_resource, "outputs", {})
    outputs = _sync_await(pulumi.Output.from_input(exports).future()) if exports else {}
    return {
        "project": _project(root),
        "stack": stack,
        "config": config,
        "resources": [
            r for r in with_engine_urns(resources, stack, _project(root)) if r["type"] != ROOT_STACK_TYPE
        ],  # the root stack is not a resource of the graph
        "outputs": outputs,
    }


LAMBDA_CONCURRENCY_QUOTA = 1000.0


def _public_parameter(name: str, region: str) -> str:
    """AWS's public parameters the program reads: Powertools' layer ARN per release. The
    layer's version number is AWS's to know: ``synth`` marks it as mocked."""
    parts = name.split("/")
    if name.startswith("/aws/service/powertools/python/") and len(parts) == 8:
        architecture, python, _release = parts[5:8]
        flavour = f"python{python.removeprefix('python').replace('.', '')}-{architecture}"
        return f"arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-{flavour}:synth"
    raise SynthError(f"the mocks know no SSM parameter {name!r}")


def _unwrap_secrets(value: Any) -> Any:
    """Secret inputs arrive wrapped (``{<sig>: <secret sig>, "value": v}``); the graph shows
    the value, as a policy pack sees it."""
    if isinstance(value, dict):
        if SECRET_SIGNATURE in value and "value" in value:
            return _unwrap_secrets(value["value"])
        return {key: _unwrap_secrets(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(inner) for inner in value]
    return value


def _project(root: Path) -> str:
    return str(yaml.safe_load((root / "Pulumi.yaml").read_text())["name"])


def _referenced_stacks(config: dict[str, str], root: Path, program: Path | None) -> dict[str, dict[str, Any]]:
    """A standby references its primary: synthesize that first, in a process of its own."""
    primary = config.get("order-saga:primaryStack")
    if not primary:
        return {}
    stack = primary.rsplit("/", 1)[-1]
    # Into a scratch file: the primary's own graph in build/ is not this synth's to rewrite.
    with tempfile.TemporaryDirectory() as scratch:
        graph = run_synth(stack, root, program, out=Path(scratch) / f"{stack}.resources.json")
    return {primary: graph.outputs}


def run_synth(stack: str, root: Path = ROOT, program: Path | None = None, out: Path | None = None) -> Graph:
    """Synthesize ``stack`` in a fresh interpreter; returns (and writes) its graph."""
    out = out or BUILD / f"{stack}.resources.json"
    command = [
        sys.executable,
        "-m",
        "synth",
        "--stack",
        stack,
        "--root",
        str(root),
        "--out",
        str(out),
    ]
    if program is not None:
        command += ["--program", str(program)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise SynthError(f"synth of {stack!r} failed:\n{result.stderr.strip()[-3000:]}")
    return Graph.load(out)


def _json_default(value: Any) -> Any:
    """Archives and assets are written as what they point at."""
    for attribute in ("path", "uri", "text"):
        if hasattr(value, attribute):
            return {type(value).__name__: getattr(value, attribute)}
    if hasattr(value, "assets"):
        return {type(value).__name__: value.assets}
    raise TypeError(f"cannot write {type(value).__name__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the stack whose Pulumi.<stack>.yaml to use")
    parser.add_argument("--out", help="where to write the graph (default: build/<stack>.resources.json)")
    parser.add_argument("--program", help="another Pulumi program to run with the stack's config")
    parser.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        graph = synthesize(args.stack, Path(args.root), Path(args.program) if args.program else None)
    except (SynthError, ValueError) as error:
        print(f"synth: {error}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else BUILD / f"{args.stack}.resources.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(graph, indent=1, sort_keys=True, default=_json_default))
    print(f"{len(graph['resources'])} resources -> {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0
