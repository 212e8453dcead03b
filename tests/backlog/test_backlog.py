"""A subscriber that comes back after downtime drains its backlog once and in bounded memory: 20,000
messages on 1,000 topics, published while the subscriber app and its sidecar were away, must all
arrive, none twice (nothing failed, so nothing may be redelivered), with the subscriber sidecar's
peak RSS under 64 MiB; for a subscriber app in each language, on each broker.

BACKLOG_MESSAGES and BACKLOG_TOPICS change the size for experiments. `pytest -s` prints a line per
case; bench/backlog/backlog_bench.py measures the same drain over more sizes and brokers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backlog_drain import BROKERS, LANGUAGES, MIB, Backlog, drain_backlog, subscriber_command

BACKLOG = Backlog(
    messages=int(os.environ.get("BACKLOG_MESSAGES", "20000")),
    topics=int(os.environ.get("BACKLOG_TOPICS", "1000")),
)
PEAK_RSS_LIMIT = 64 * MIB


@pytest.fixture(scope="session")
def subscriber_build(tmp_path_factory) -> Path:
    """Where the C# subscriber is compiled, once per session."""
    return tmp_path_factory.mktemp("backlog-subscriber")


# Publishing, the drain deadline and the stops, with room to spare: past it pytest-timeout dumps
# the stacks instead of the counts.
@pytest.mark.timeout(BACKLOG.drain_timeout_s + 180)
@pytest.mark.parametrize("broker", ["sqlite", "redis"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_backlog_drains_once_in_bounded_memory(language, broker, tmp_path, subscriber_build, record_property):
    result = drain_backlog(language, BROKERS[broker], subscriber_command(language, subscriber_build), BACKLOG, tmp_path)
    print(result.summary())
    record_property("backlog", result.summary())
    problems = []
    if result.arrived < result.messages:
        problems.append(f"{result.messages - result.arrived} of {result.messages} ids never arrived")
    if result.duplicates:
        problems.append(f"{result.duplicates} duplicate deliveries")
    if result.unexpected:
        problems.append(f"{result.unexpected} deliveries of ids never published on their topic")
    if result.peak_rss >= PEAK_RSS_LIMIT:
        problems.append(f"the subscriber sidecar's peak RSS {result.peak_rss / MIB:.0f} MiB is over {PEAK_RSS_LIMIT // MIB} MiB")
    assert not problems, f"{'; '.join(problems)}\n{result.summary()}\nlogs and deliveries under {tmp_path}"
