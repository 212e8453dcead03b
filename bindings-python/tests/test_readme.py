"""Every Python example of bindings-python/README.md, run as a program against a real sidecar (as
`dapr run` would start it), so the docs cannot drift from the package."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest

from sidecar_harness import Sidecar

README = Path(__file__).resolve().parents[1] / "README.md"


def examples() -> List[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_an_example_of_every_feature() -> None:
    text = "\n".join(examples())
    for feature in ["dapr_rs.aio", "publish_events", "protocol=\"http\"", "rule=Rule", "dead_letter_topic", "rawPayload",
                    "subscribe_with_handler", "async for", "model(", "PubsubNotFoundError", "async def"]:
        assert feature in text, feature


@pytest.mark.parametrize("index", range(len(examples())))
def test_readme_example_runs(sidecar: Sidecar, index: int) -> None:
    sidecar.run_python(examples()[index], timeout=60)
