"""Local Codex-compatible nodes for these tests (fixtures documented in the module), and the
conformance table printed after a run that ran the conformance suite (test_conformance.py)."""

from __future__ import annotations

from typing import Any

from archive_service_codex_node.testing import *  # noqa: F403 (pytest fixtures)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    import conformance

    if conformance.RESULTS:
        terminalreporter.section("REST conformance (paste into a bug report)")
        terminalreporter.write_line(conformance.table(conformance.RESULTS))
