"""The package's ``dapr-rs`` command (``[project.scripts]``) and ``python -m dapr_rs``: the
``dapr-rs`` binary's own command line, compiled into the native module, so installing the wheel
puts the same program on PATH (``dapr-rs run``, ``sidecar``, ``publish``, ...) with no Rust
toolchain."""

from __future__ import annotations

import signal
import sys
from typing import NoReturn

from . import _native


def main() -> NoReturn:
    """Runs ``dapr-rs`` with this process's arguments and exits with its code."""
    # As the binary starts: SIGINT not turned into KeyboardInterrupt. The command's own handlers
    # (SIGINT, SIGTERM: stop the apps and sidecars within the grace period) chain to whatever was
    # installed before them, and Python's would raise once the command has returned.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(_native.run_cli(["dapr-rs", *sys.argv[1:]]))
