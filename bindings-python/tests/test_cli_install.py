"""The wheel alone gives the `dapr-rs` command: installed into a fresh venv with no Rust toolchain
on PATH, its `dapr-rs` (the binary's own command line inside the native module) prints the
binary's version and runs the pub/sub quickstart (`dapr-rs run` for the subscriber and the
publisher, the samples unchanged), and `dapr-rs run` stops on SIGTERM and SIGINT as the binary does.

The wheel: `DAPR_RS_WHEEL` if set (`make test-python` passes the one `make python` built and
`make dist` ships), else built ONCE per test session by `pip wheel ./bindings-python` (with its cargo
target dir current that is only the packaging, seconds; otherwise a full release build, about ten
minutes). `make test-dist` (tests/dist) installs every dist/ artifact the same way."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from sidecar_harness import free_port, http_status, sidecar_binary, wait_until

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "pub_sub" / "python"
COMPONENTS = ROOT / "samples" / "components"
ORDERS = 5
# The sidecar's default grace period (5 s), the app's own stop and the exit deadline's slack.
STOP_DEADLINE_S = 20.0


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    explicit = os.environ.get("DAPR_RS_WHEEL")
    if explicit:
        return Path(explicit)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT / "bindings-python")],
        capture_output=True, text=True, timeout=1800,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("dapr_rs-*-abi3-*.whl")
    return built


def without_rust(path: str) -> str:
    """PATH without any directory that holds cargo or rustc (~/.cargo/bin)."""
    kept = [d for d in path.split(os.pathsep) if d and not any(Path(d, tool).exists() for tool in ("cargo", "rustc"))]
    return os.pathsep.join(kept)


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site-packages) with only the wheel installed, by a pip that sees
    no Rust toolchain."""
    where = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    env = user_env(tmp_path_factory.mktemp("home"))
    assert shutil.which("cargo", path=env["PATH"]) is None and shutil.which("rustc", path=env["PATH"]) is None
    done = subprocess.run(
        [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-cache-dir", str(wheel)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (where / "bin" / "dapr-rs").is_file()
    return where


def user_env(home: Path) -> Dict[str, str]:
    """A user's environment: no Rust toolchain on PATH, no venv active, and a home of its own (the
    embedded broker's file and the run registry live under ~/.dapr-rs: other tests' apps named
    `checkout` do not share them)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "RUST_LOG")}
    env["PATH"] = without_rust(os.environ.get("PATH", ""))
    env["HOME"] = str(home)
    return env


def dapr_rs(venv: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "dapr-rs"), *args], capture_output=True, text=True, env=user_env(home), timeout=60
    )


class Run:
    """A `dapr-rs run` of the venv's command, its output (app lines too) in a file."""

    def __init__(self, venv: Path, home: Path, log: Path, app_id: str, script: str, env: Dict[str, str], *flags: str) -> None:
        self.log = log
        self.app_pid: Optional[int] = None
        cmd = [
            str(venv / "bin" / "dapr-rs"), "run", "--app-id", app_id, "--app-protocol", "grpc",
            "--resources-path", str(COMPONENTS), "--metrics-port", str(free_port()), *flags,
            "--", str(venv / "bin" / "python"), script,
        ]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=SAMPLES, env={**user_env(home), **env}, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_app_started(self) -> int:
        found = wait_until(lambda: re.search(r"app started.*pid=(\d+)", self.output()), 30, "the app started")
        self.app_pid = int(found.group(1))
        return self.app_pid

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`dapr-rs run` still running after {timeout}s:\n{self.output()}")

    def reap(self) -> None:
        """Whatever happened: the launcher and its app (its own process group) are gone."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        if self.app_pid is not None and alive(self.app_pid):
            os.killpg(self.app_pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """A process that runs (not a zombie: one waiting for its parent to reap it has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def runs() -> Iterator[List[Run]]:
    started: List[Run] = []
    yield started
    for run in started:
        run.reap()


def test_the_installed_command_is_the_binary(venv: Path, tmp_path: Path) -> None:
    version = dapr_rs(venv, "--version", home=tmp_path)
    assert version.returncode == 0, version.stderr
    binary = subprocess.run([sidecar_binary(), "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout == binary.stdout and version.stdout.startswith("dapr-rs ")
    usage = dapr_rs(venv, "--help", home=tmp_path)
    assert usage.returncode == 0 and "run" in usage.stdout and "sidecar" in usage.stdout, usage.stdout + usage.stderr
    bad = dapr_rs(venv, "sidecar", "--no-such-flag", home=tmp_path)
    assert bad.returncode == 2 and "--no-such-flag" in bad.stderr, bad.stdout + bad.stderr
    # `python -m dapr_rs` is the same command.
    module = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "dapr_rs", "--version"], capture_output=True, text=True, env=user_env(tmp_path), timeout=60
    )
    assert module.returncode == 0 and module.stdout == version.stdout, module.stdout + module.stderr


def received(run: Run) -> List[int]:
    return [int(n) for n in re.findall(r"Subscriber received ?: ?(\d+)$", run.output(), re.MULTILINE)]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_quickstart_runs_on_the_installed_command(venv: Path, tmp_path: Path, runs: List[Run], stop_signal: signal.Signals) -> None:
    """scripts/quickstart.sh's Python case on the venv's `dapr-rs`; then the subscriber's
    `dapr-rs run`, stopped by `stop_signal` (SIGINT: Ctrl-C to it alone, not to its app), stops
    its app and sidecar and exits."""
    sub_http = free_port()
    sub = Run(venv, tmp_path, tmp_path / "sub.log", "checkout", "CheckoutService.py", {},
              "--app-port", str(free_port()), "--dapr-http-port", str(sub_http))
    runs.append(sub)
    app_pid = sub.wait_app_started()
    # 204 once the app's subscriptions are in: the orders published from then on reach it.
    wait_until(lambda: sub.proc.poll() is not None or http_status(f"http://127.0.0.1:{sub_http}/v1.0/healthz") == 204,
               60, "the subscriber's sidecar has its subscriptions")
    assert sub.proc.poll() is None, sub.output()

    publisher = Run(venv, tmp_path, tmp_path / "pub.log", "orderprocessing", "OrderProcessingService.py",
                    {"ORDER_COUNT": str(ORDERS), "PUBLISH_INTERVAL_MS": "50"}, "--app-port", str(free_port()))
    runs.append(publisher)
    publisher.wait_app_started()
    assert publisher.wait(120) == 0, publisher.output()
    published = [int(n) for n in re.findall(r"Published data: ?(\d+)", publisher.output())]
    assert published == list(range(1, ORDERS + 1)), publisher.output()
    wait_until(lambda: set(received(sub)) >= set(published), 30, f"every order reached the subscriber:\n{sub.output()}")

    began = time.monotonic()
    sub.proc.send_signal(stop_signal)
    code = sub.wait(STOP_DEADLINE_S)
    wait_until(lambda: not alive(app_pid), 5, "the app is gone")
    assert time.monotonic() - began < STOP_DEADLINE_S
    # The app stopped on the SIGTERM the launcher sent it (exit 0), as under the binary; no
    # KeyboardInterrupt from the Python around the command.
    assert code == 0, f"exit {code}:\n{sub.output()}"
    assert f'stopping every app and sidecar signal="{stop_signal.name}"' in sub.output(), sub.output()
    assert "Traceback" not in sub.output(), sub.output()
    assert http_status_or_none(f"http://127.0.0.1:{sub_http}/v1.0/healthz") is None, "the sidecar still answers"


def http_status_or_none(url: str) -> Optional[int]:
    try:
        return http_status(url, timeout=1.0)
    except OSError:
        return None
