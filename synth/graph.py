"""The resource graph a synth writes, read back as typed objects: one parser for every reader.

The policy check, the sandbox's provisioner and API emulation, and the tests all read the
same file; they query it here (by type, by name, parents, children) instead of each
walking the JSON on its own.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class GraphError(Exception):
    """The file is not a resource graph; the message says what is wrong."""


@dataclass
class Resource:
    """One resource as the engine registered it: inputs (camelCase) and the mocked outputs."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    custom: bool = True
    """False for a component resource (no cloud object behind it)."""
    read: bool = False
    """Read (``get``), not created, by the program."""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Resource:
        return cls(
            urn=document["urn"],
            type=document["type"],
            name=document["name"],
            inputs=document["inputs"],
            outputs=document.get("outputs") or {},
            parent=document.get("parent"),
            custom=document.get("custom", True),
            read=document.get("read", False),
            dependencies=list(document.get("dependencies", [])),
            property_dependencies={k: list(v) for k, v in document.get("propertyDependencies", {}).items()},
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "parent": self.parent,
            "custom": self.custom,
            "read": self.read,
            "dependencies": self.dependencies,
            "propertyDependencies": self.property_dependencies,
        }


@dataclass
class Graph:
    """A stack's resources, its config and its stack outputs."""

    resources: list[Resource]
    stack: str = ""
    project: str = ""
    config: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Any, source: str = "graph") -> Graph:
        resources = document.get("resources") if isinstance(document, dict) else None
        if not isinstance(resources, list) or not all(
            isinstance(r, dict) and {"urn", "type", "name", "inputs"} <= set(r) for r in resources
        ):
            raise GraphError(f"{source} is not a resource graph (want resources with urn, type, name, inputs)")
        return cls(
            resources=[Resource.from_document(r) for r in resources],
            stack=str(document.get("stack", "")),
            project=str(document.get("project", "")),
            config=dict(document.get("config") or {}),
            outputs=dict(document.get("outputs") or {}),
        )

    @classmethod
    def load(cls, path: Path) -> Graph:
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError as error:
            raise GraphError(f"no such graph file: {path}") from error
        except ValueError as error:
            raise GraphError(f"{path} is not JSON: {error}") from error
        return cls.from_document(document, str(path))

    def to_document(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "config": self.config,
            "resources": [resource.to_document() for resource in self.resources],
            "outputs": self.outputs,
        }

    def beside(self, other: Graph, project: str) -> Graph:
        """This graph and ``other``'s resources, as ``project``'s stack next to this one (its URNs
        name that project, so the two never collide): two programs deployed side by side."""

        def moved(urn: str) -> str:
            head, _project, rest = urn.split("::", 2)
            return f"{head}::{project}::{rest}"

        placed = [
            dataclasses.replace(
                resource,
                urn=moved(resource.urn),
                parent=moved(resource.parent) if resource.parent and "::" in resource.parent else resource.parent,
                dependencies=[moved(urn) for urn in resource.dependencies],
                property_dependencies={k: [moved(u) for u in v] for k, v in resource.property_dependencies.items()},
            )
            for resource in other.resources
        ]
        return dataclasses.replace(self, resources=[*self.resources, *placed])

    def of_type(self, typ: str) -> list[Resource]:
        return [resource for resource in self.resources if resource.type == typ]

    def named(self, typ: str, name: str) -> Resource:
        """The one resource of ``typ`` with logical name ``name``."""
        found = [resource for resource in self.of_type(typ) if resource.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} {typ} named {name!r}")
        return found[0]

    def by_urn(self, urn: str) -> Resource | None:
        return next((resource for resource in self.resources if resource.urn == urn), None)

    def parent(self, resource: Resource) -> Resource | None:
        return self.by_urn(resource.parent) if resource.parent else None

    def children(self, parent: Resource, typ: str | None = None) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent.urn and (typ is None or r.type == typ)]

    def ancestors(self, resource: Resource) -> list[Resource]:
        """Parent, grandparent, ... up to (not including) the stack."""
        chain = []
        current = self.parent(resource)
        while current is not None:
            chain.append(current)
            current = self.parent(current)
        return chain
