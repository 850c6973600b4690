"""The chaos suite's summary: how many seeded trials each scenario ran (they travel in each
test report's user_properties, so the count is printed under xdist too)."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for key, value in getattr(report, "user_properties", ()):
                if key == "chaos":
                    lines.append(f"{report.nodeid}: {value}")
    if lines:
        terminalreporter.section("chaos trials")
        for line in sorted(lines):
            terminalreporter.write_line(line)
