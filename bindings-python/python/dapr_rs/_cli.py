"""The package's ``dapr-rs`` command (``[project.scripts]``) and ``python -m dapr_rs``: the
``dapr-rs`` binary's own command line, compiled into the native module, so installing the wheel
puts the same program on PATH (``dapr-rs run``, ``sidecar``, ``publish``, ...) with no Rust
toolchain."""

from __future__ import annotations

import sys
from typing import NoReturn

from . import _native


def main() -> NoReturn:
    """Runs ``dapr-rs`` with this process's arguments and exits with its code (the command takes
    SIGINT and SIGTERM back from Python, as a freshly started binary has them)."""
    sys.exit(_native.run_cli(["dapr-rs", *sys.argv[1:]]))
