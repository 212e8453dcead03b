"""Issue 12: no value of an environment variable the client reads may panic. A bad
DAPR_API_TIMEOUT_SECONDS is ignored (with a warning in core's log), as the official SDKs share it;
constructing a client must neither raise pyo3's PanicException nor kill the interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dapr_rs import DaprClient

BAD_TIMEOUTS = ["inf", "-inf", "NaN", "1e30", "-1", "0", "soon"]


@pytest.mark.parametrize("value", BAD_TIMEOUTS)
def test_a_bad_api_timeout_does_not_panic(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DAPR_API_TIMEOUT_SECONDS", value)
    client = DaprClient("127.0.0.1:1")
    assert client.endpoint == "http://127.0.0.1:1"


@pytest.mark.parametrize("value", ["inf", "NaN", "1e30", "-1"])
def test_a_bad_api_timeout_does_not_kill_a_fresh_interpreter(value: str) -> None:
    # A fresh process, so a panic on the first client (and an abort) is seen as its exit status.
    code = "import dapr_rs; dapr_rs.DaprClient('127.0.0.1:1'); print('made')"
    env = {**os.environ, "DAPR_API_TIMEOUT_SECONDS": value}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"DAPR_API_TIMEOUT_SECONDS={value}: exit {done.returncode}\n{done.stderr}"
    assert "made" in done.stdout
    assert "PanicException" not in done.stderr and "panicked" not in done.stderr, done.stderr
