"""The built-in no-op backend: the service is never absent (status-go ArchiveManagerNop).
It stores nothing, publishes no link and downloads nothing."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from archive_service.errors import ArchiveNotFoundError
from archive_service.hookspecs import hookimpl
from archive_service.interface import (
    ArchiveBackend,
    ArchiveReady,
    BackendFactory,
    DownloadTaskInfo,
    Publication,
    PublishResult,
)
from archive_service.types import BuiltArchive, IndexEntry


class _NoopPublication(Publication):
    async def add(self, archive: BuiltArchive) -> str:
        return ""

    async def commit(self) -> PublishResult:
        return PublishResult(backend=NoopBackend.name, archive_ids=[], link=None)

    async def abort(self) -> None:
        return None


class NoopBackend(ArchiveBackend):
    name: ClassVar[str] = "noop"
    _started = False

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    @property
    def is_started(self) -> bool:
        return self._started

    @classmethod
    def handles_link(cls, link: str) -> bool:
        return False

    async def open_publication(self, community_id: bytes, encrypt: bool) -> Publication:
        return _NoopPublication()

    def current_link(self, community_id: bytes) -> str | None:
        return None

    async def seed(self, community_id: bytes, link: str) -> None:
        return None

    async def unseed(self, community_id: bytes, link: str) -> None:
        return None

    async def is_seeding(self, community_id: bytes, link: str) -> bool:
        return False

    async def download_history_archives(
        self,
        community_id: bytes,
        link: str,
        cancel: asyncio.Event,
        archive_ready: ArchiveReady | None = None,
    ) -> DownloadTaskInfo:
        return DownloadTaskInfo()

    async def read_index(self, community_id: bytes, link: str | None = None) -> list[IndexEntry]:
        return []

    async def read_archive_bytes(
        self, community_id: bytes, link: str | None, archive_id: str
    ) -> bytes:
        raise ArchiveNotFoundError(f"the no-op backend holds no archive {archive_id}")


@hookimpl
def archive_backend_factories() -> list[BackendFactory]:
    return [
        BackendFactory(
            name="noop",
            description="stores nothing (status-go ArchiveManagerNop)",
            backend_class=NoopBackend,
        )
    ]
