"""`make quickstart`'s runner, end to end: both quickstart apps of each language under `dapr-rs run`
on the embedded broker and on the quickstart's Redis component; every order published must be
received. (`make test` builds the JavaScript and C# bindings before these run.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from sidecar_harness import ROOT, sidecar_binary

LANGUAGES = ["python", "javascript", "csharp"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_quickstart_delivers_every_order(tmp_path, language):
    env = dict(os.environ, HOME=str(tmp_path), ORDER_COUNT="5", DAPR_RS_BIN=sidecar_binary())
    out = subprocess.run(
        [str(ROOT / "scripts" / "quickstart.sh"), language], env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stdout + out.stderr
    published = re.findall(r"== APP == .*Published data: ?(\d+)", out.stdout)
    received = re.findall(r"== APP == .*Subscriber received ?: ?(\d+)", out.stdout)
    assert len(published) == 5, out.stdout
    assert sorted(set(published)) == sorted(set(received)), out.stdout
    assert "all 5 orders published and received" in out.stdout
    # The embedded broker kept its file where the component said: under $HOME/.dapr-rs/.
    assert (tmp_path / ".dapr-rs" / "pubsub.db").exists()


def _redis_stream_length(stream: str) -> int:
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "XLEN", stream], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, f"the machine's Redis on 127.0.0.1:6379 (make deps starts it): {out.stderr}"
    return int(out.stdout.strip())


@pytest.mark.parametrize("language", LANGUAGES)
def test_quickstart_runs_unchanged_on_redis(tmp_path, language):
    """The quickstart's own Redis component file (samples/components-redis), the apps unchanged:
    the orders go through the `orders` stream of the machine's Redis."""
    before = _redis_stream_length("orders")
    env = dict(os.environ, HOME=str(tmp_path), ORDER_COUNT="5", DAPR_RS_BIN=sidecar_binary())
    out = subprocess.run(
        [str(ROOT / "scripts" / "quickstart.sh"), language, str(ROOT / "samples" / "components-redis")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    published = re.findall(r"== APP == .*Published data: ?(\d+)", out.stdout)
    received = re.findall(r"== APP == .*Subscriber received ?: ?(\d+)", out.stdout)
    assert len(published) == 5, out.stdout
    assert set(published) <= set(received), out.stdout
    assert "all 5 orders published and received" in out.stdout
    assert _redis_stream_length("orders") >= before + 5, "the orders went through Redis"
    assert not (tmp_path / ".dapr-rs" / "pubsub.db").exists(), "the embedded broker was not used"


def test_python_quickstart_run_file_delivers_every_order(tmp_path):
    """`dapr-rs run -f .` in the quickstart's folder, as the Dapr docs run it: both apps from its
    `dapr.yaml`, each with its own sidecar; the run ends once the subscriber has every order."""
    # `python3` in the run file must be the interpreter that has dapr_rs installed.
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    env = dict(os.environ, HOME=str(tmp_path), PATH=path)
    out = subprocess.run(
        [sidecar_binary(), "run", "-f", "."],
        cwd=ROOT / "samples" / "pub_sub" / "python",
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = out.stdout + out.stderr  # Python's logging writes to stderr
    assert out.returncode == 0, output
    published = re.findall(r"== APP - orderprocessing == .*Published data: ?(\d+)", output)
    received = re.findall(r"== APP - checkout == .*Subscriber received ?: ?(\d+)", output)
    assert sorted(published, key=int) == [str(n) for n in range(1, 11)], output
    assert sorted(set(received), key=int) == [str(n) for n in range(1, 11)], output
    assert not (tmp_path / ".dapr-rs" / "run").exists() or not any((tmp_path / ".dapr-rs" / "run").iterdir())
