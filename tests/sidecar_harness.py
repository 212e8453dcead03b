"""Test support for the cross-language and interop tests: real `dapr-rs` sidecar processes on free
loopback ports, and component files written per test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent


def sidecar_binary() -> str:
    explicit = os.environ.get("DAPR_RS_BIN")
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    path = explicit or str(Path(target) / "release" / "dapr-rs")
    if not Path(path).is_file():
        pytest.fail(f"the dapr-rs sidecar binary is missing at {path}: run `make sidecar` (or set DAPR_RS_BIN)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_component(directory: Path, name: str, type_: str, metadata: Optional[dict] = None, scopes=None) -> Path:
    lines = [
        "apiVersion: dapr.io/v1alpha1",
        "kind: Component",
        "metadata:",
        f"  name: {name}",
        "spec:",
        f"  type: {type_}",
        "  version: v1",
        "  metadata:",
    ]
    for key, value in (metadata or {}).items():
        lines += [f"  - name: {key}", f'    value: "{value}"']
    if scopes:
        lines.append("scopes:")
        lines += [f"  - {s}" for s in scopes]
    path = directory / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_until(predicate, timeout: float, what: str):
    """Polls `predicate` until it returns something truthy, and returns that; fails naming `what`
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting until {what}"
        time.sleep(0.05)


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


class Sidecar:
    """A `dapr-rs sidecar` process."""

    def __init__(
        self,
        app_id: str,
        resources: Path,
        app_port: Optional[int] = None,
        protocol: str = "grpc",
        env=None,
        args=(),
        log: Optional[Path] = None,
    ):
        self.app_id = app_id
        self._log = log  # where its stderr goes (appended across restarts); the test's stderr when None
        self.http_port = free_port()
        self.grpc_port = free_port()
        # Its own metrics port: several sidecars run at once, and the default 9090 may be taken.
        self.metrics_port = free_port()
        cmd = [
            sidecar_binary(), "sidecar", "--app-id", app_id, "--app-protocol", protocol,
            "--resources-path", str(resources),
            "--dapr-http-port", str(self.http_port), "--dapr-grpc-port", str(self.grpc_port),
            "--metrics-port", str(self.metrics_port),
        ]
        if app_port:
            cmd += ["--app-port", str(app_port)]
        cmd += list(args)  # further daprd flags, e.g. ["--app-max-concurrency", "1"]
        full_env = {k: v for k, v in os.environ.items() if k not in ("DAPR_API_TOKEN", "APP_API_TOKEN")}
        full_env.update(env or {})
        self._cmd, self._env = cmd, full_env
        self._spawn()

    def _spawn(self) -> None:
        if self._log is None:
            self.proc = subprocess.Popen(self._cmd, env=self._env, stdout=subprocess.DEVNULL, stderr=sys.stderr)
        else:
            with open(self._log, "ab") as log:
                self.proc = subprocess.Popen(self._cmd, env=self._env, stdout=subprocess.DEVNULL, stderr=log)
        self.wait_http("/v1.0/healthz/outbound", 204)

    def start(self) -> None:
        """Starts it again on the same ports after `kill` or `stop`."""
        self._spawn()

    def kill(self) -> None:
        """SIGKILL, as a crash would (no shutdown runs); reaped before returning."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def restart(self) -> None:
        """Stops the sidecar and starts it again on the same ports, as a crash and restart would."""
        self.stop()
        self._spawn()

    @property
    def env(self) -> dict:
        """What `dapr run` exports to the app."""
        return {"DAPR_HTTP_PORT": str(self.http_port), "DAPR_GRPC_PORT": str(self.grpc_port), "APP_ID": self.app_id}

    def run_python(self, code: str, *args: str, timeout: float = 60) -> str:
        """Runs `code` (e.g. an official-SDK client) in a fresh interpreter with this sidecar's
        environment, as `dapr run` would start it; returns its output once it exited 0."""
        env = dict(os.environ, **self.env, DAPR_HEALTH_TIMEOUT="20")
        out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def wait_http(self, path: str, status: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"sidecar {self.app_id} exited with {self.proc.returncode} while waiting for {path}")
            try:
                if http_status(f"http://127.0.0.1:{self.http_port}{path}") == status:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} of sidecar {self.app_id} did not answer {status} within {timeout}s")
            time.sleep(0.02)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
