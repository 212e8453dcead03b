"""`make test-dist`'s report: the artifacts' sizes and the install-to-first-order times the tests
measured (dist_report.py), printed at the end of the run whatever passed."""

from __future__ import annotations

import pytest

from dist_report import SIZES, TIMINGS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SIZES and not TIMINGS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("dist: artifact sizes, and seconds from the start of each install")
    for name, size in SIZES:
        write(f"{name:<56} {size / 1048576:7.1f} MB")
    for language, times in TIMINGS.items():
        write(f"{language:<12} " + ", ".join(f"{key[:-2].replace('_', ' ')} {value:5.1f} s" for key, value in times.items()))
