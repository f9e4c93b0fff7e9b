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
    Return how many were new. A host implementing this receives an archive's messages in
    batches of `import.chunk_size` at the paced rate, and the manager marks the archive
    imported after its last batch was handled (a crash in between imports it again; the host
    deduplicates, as status-go does by message hash)."""


@hookspec(firstresult=True)
def archive_import_archive(
    community_id: bytes, archive_id: str, messages: list[pb.WakuMessage]
) -> int | None:
    """Member side, the embedded importer only: store ALL of one archive's messages and mark
    the archive imported in one transaction; return how many were new. The manager calls it
    (from a worker thread, so downloads go on meanwhile) only when every
    `archive_messages_import` implementation comes from a plugin that also implements this
    hook, i.e. when no host handles messages itself; otherwise the host's batches are used."""
