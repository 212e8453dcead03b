"""`make quickstart`'s runner, end to end: both quickstart apps under `dapr-rs run` on the embedded
broker; every order published must be received."""

from __future__ import annotations

import os
import re
import subprocess

from sidecar_harness import ROOT, sidecar_binary


def test_python_quickstart_delivers_every_order(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), ORDER_COUNT="5", DAPR_RS_BIN=sidecar_binary())
    out = subprocess.run(
        [str(ROOT / "scripts" / "quickstart.sh"), "python"], env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stdout + out.stderr
    published = re.findall(r"== APP == .*Published data: ?(\d+)", out.stdout)
    received = re.findall(r"== APP == .*Subscriber received ?: ?(\d+)", out.stdout)
    assert len(published) == 5, out.stdout
    assert sorted(set(published)) == sorted(set(received)), out.stdout
    assert "all 5 orders published and received" in out.stdout
    # The embedded broker kept its file where the component said: under $HOME/.dapr-rs/.
    assert (tmp_path / ".dapr-rs" / "pubsub.db").exists()
