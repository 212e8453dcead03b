"""Fixtures shared by the cross-language and interop tests (helpers live in sidecar_harness.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from sidecar_harness import write_component


@pytest.fixture
def sidecars() -> Iterator[list]:
    """Sidecars a test started (`sidecars.append(Sidecar(...))`); all are stopped when it ends."""
    started: list = []
    yield started
    for s in started:
        s.stop()


@pytest.fixture
def sqlite_resources(tmp_path: Path) -> Path:
    """A resources dir with the quickstart's component on the embedded broker, in a fresh file."""
    resources = tmp_path / "components"
    resources.mkdir()
    write_component(resources, "order_pub_sub", "pubsub.sqlite", {"path": str(tmp_path / "pubsub.db")})
    return resources


@pytest.fixture
def memory_resources(tmp_path: Path) -> Path:
    """A resources dir with one `pubsub.in-memory` component named `ps`."""
    resources = tmp_path / "components"
    resources.mkdir()
    write_component(resources, "ps", "pubsub.in-memory")
    return resources
