"""Read a function's configuration from its environment, once, with a clear error if missing."""

import os


class MissingSetting(RuntimeError):
    """An environment variable the function needs is not set: a deployment error."""


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise MissingSetting(f"environment variable {name} is not set")
    return value
