"""pluggy hook specifications of the library: how backends and hosts plug into the archive
service. The application adds its own (loopback setup, CLI commands, inspect) to the same
project in `archive_service_cli.hookspecs`."""

from __future__ import annotations

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
