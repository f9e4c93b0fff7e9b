"""Local Codex-compatible node: the Codex REST API of nim-codex v0.2.x on 127.0.0.1, for
development and tests where no Codex binary is available. See README.md next to this file for
what it is and is not."""

from archive_service_codex_node.profile import PerformanceProfile, ProfileError, load_profile
from archive_service_codex_node.server import LocalCodexNode

__all__ = ["LocalCodexNode", "PerformanceProfile", "ProfileError", "load_profile", "run_node_cli"]


def run_node_cli(argv: list[str] | None = None) -> int:
    from archive_service_codex_node.cli import run_node_cli as run

    return run(argv)
