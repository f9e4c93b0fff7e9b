"""pluggy hook specifications: how backends, hosts and tools plug into the archive service."""

from __future__ import annotations

from typing import Any

import pluggy

from archive_service.events import ArchiveEvent
from archive_service.interface import BackendFactory
from archive_service.wire import pb

PROJECT = "archive_service"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def archive_backend_factories() -> list[BackendFactory]:
    """Return the backend factories this plugin provides (name, link kind, settings model)."""


@hookspec
def archive_event(event: ArchiveEvent) -> None:
    """Observe a signal of the archive flow (status-go's Publisher)."""


@hookspec(firstresult=True)
def archive_link_publish(community_id: bytes, backend: str, link: str, message: bytes) -> bool:
    """Owner side: send `message` (a signed ApplicationMetadataMessage of type 43 carrying
    `link`) on the community's universal channel. Return True once handed to the transport."""


@hookspec(firstresult=True)
def archive_messages_import(community_id: bytes, messages: list[pb.WakuMessage]) -> int:
    """Member side: handle messages from an archive (status-go handleArchiveMessages).
    Return how many were new. The embedded default writes them to the member's store."""


# --- application hooks ----------------------------------------------------------------------
# Specified here only until the application distribution (archive_service_cli/hookspecs.py)
# specifies them; typed without the application's types, which the core must not import.


@hookspec(firstresult=True)
def archive_inspect(data: bytes, text: str | None) -> dict[str, object] | None:
    """Decode a backend-specific artefact (a .torrent, a magnet link, a CID, a manifest) for
    `archive-service inspect`; `text` is the argument when it was given as a string. Return
    None when it is not this backend's format."""


@hookspec
def archive_loopback_providers() -> list[Any]:
    """Return providers that configure this plugin's backends for a run where every node is on
    127.0.0.1 (demo, compare, end-to-end tests): see `archive_service.lab`."""


@hookspec
def archive_cli_commands(app: Any) -> None:
    """Add this plugin's commands to the `archive-service` CLI (e.g. `codex-node`)."""
