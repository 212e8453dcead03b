"""The short chaos run inside `make test`: N=500 and two faults per durable component, real
processes and private brokers. An acknowledged message that never arrives fails the test; the
full run with every fault is `make chaos`."""

from __future__ import annotations

import dataclasses

import pytest

import suite
from components import COMPONENTS, Component
from evidence import HEADER, table_row


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_no_acknowledged_message_is_lost_under_faults(component: Component, tmp_path) -> None:
    settings = dataclasses.replace(suite.SHORT, work=tmp_path)
    outcomes = suite.run_suite([(component, component.short_faults)], settings)
    table = HEADER + "".join(table_row(o) for o in outcomes)
    assert all(o.ok for o in outcomes), f"evidence and logs under {tmp_path}\n{table}"
