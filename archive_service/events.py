"""Signals of status-go's archive flow (reference §8), emitted through the `archive_event` hook.

`type` is the JSON event name status-go sends; `community_id` is '0x' + hex. Fields beyond
upstream (backend, progress counters, reasons) are what a UI needs to show progress and to say
why nothing was downloaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class ArchiveEvent:
    type: ClassVar[str] = "community.archiveEvent"
    community_id: str
    backend: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class CreatingHistoryArchives(ArchiveEvent):
    type: ClassVar[str] = "community.creatingHistoryArchives"


@dataclass(frozen=True, kw_only=True)
class HistoryArchivesCreated(ArchiveEvent):
    type: ClassVar[str] = "community.historyArchivesCreated"
    from_ts: int
    to_ts: int
    archive_count: int = 0


@dataclass(frozen=True, kw_only=True)
class NoHistoryArchivesCreated(ArchiveEvent):
    type: ClassVar[str] = "community.noHistoryArchivesCreated"
    from_ts: int
    to_ts: int


@dataclass(frozen=True, kw_only=True)
class ArchiveBuilt(ArchiveEvent):
    """One archive encoded (owner side); lets a CLI draw a progress bar while creating."""

    type: ClassVar[str] = "community.historyArchiveBuilt"
    from_ts: int
    to_ts: int
    message_count: int
    size: int


@dataclass(frozen=True, kw_only=True)
class MessagesDropped(ArchiveEvent):
    """Messages larger than the 30,000,000-byte cap were left out (never silent)."""

    type: ClassVar[str] = "community.historyArchiveMessagesDropped"
    from_ts: int
    to_ts: int
    count: int


@dataclass(frozen=True, kw_only=True)
class HistoryArchivesSeeding(ArchiveEvent):
    type: ClassVar[str] = "community.historyArchivesSeeding"
    link: str = ""


@dataclass(frozen=True, kw_only=True)
class HistoryArchivesUnseeded(ArchiveEvent):
    type: ClassVar[str] = "community.historyArchivesUnseeded"
    link: str = ""


@dataclass(frozen=True, kw_only=True)
class IndexDownloadCompleted(ArchiveEvent):
    type: ClassVar[str] = "community.historyArchiveIndexDownloadCompleted"
    link: str
    archive_count: int


@dataclass(frozen=True, kw_only=True)
class DownloadingHistoryArchivesStarted(ArchiveEvent):
    type: ClassVar[str] = "community.downloadingHistoryArchivesStarted"
    total_archives: int = 0
    missing_archives: int = 0
    missing_bytes: int = 0


@dataclass(frozen=True, kw_only=True)
class HistoryArchiveDownloaded(ArchiveEvent):
    type: ClassVar[str] = "community.historyArchiveDownloaded"
    from_ts: int
    to_ts: int
    archive_id: str = ""
    size: int = 0
    downloaded: int = 0
    total: int = 0


@dataclass(frozen=True, kw_only=True)
class HistoryArchiveDownloadFailed(ArchiveEvent):
    """One archive failed this run; it stays missing and is retried on the next run."""

    type: ClassVar[str] = "community.historyArchiveDownloadFailed"
    archive_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class HistoryArchivesDownloadCompleted(ArchiveEvent):
    """A download run ended (member side): what it fetched, skipped and failed, or that it
    was cancelled (superseded by a newer or preferred link, or shutdown)."""

    type: ClassVar[str] = "community.historyArchivesDownloadCompleted"
    link: str
    total_archives: int
    downloaded: int
    skipped: int
    failed: int
    cancelled: bool
    bytes_downloaded: int


@dataclass(frozen=True, kw_only=True)
class HistoryArchivesDownloadFailed(ArchiveEvent):
    """A whole download run failed (index timeout after the retry, bad index, node down)."""

    type: ClassVar[str] = "community.historyArchivesDownloadFailed"
    link: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class HistoryArchiveImportFailed(ArchiveEvent):
    """An archive could not be imported; `postponed` when a key is missing (retried later)."""

    type: ClassVar[str] = "community.historyArchiveImportFailed"
    archive_id: str
    reason: str
    attempts: int
    postponed: bool = False
    gave_up: bool = False


@dataclass(frozen=True, kw_only=True)
class ImportingHistoryArchiveMessages(ArchiveEvent):
    type: ClassVar[str] = "community.importingHistoryArchiveMessages"
    archive_id: str = ""
    message_count: int = 0


@dataclass(frozen=True, kw_only=True)
class HistoryArchiveImported(ArchiveEvent):
    type: ClassVar[str] = "community.historyArchiveImported"
    archive_id: str
    imported: int = 0
    remaining: int = 0


@dataclass(frozen=True, kw_only=True)
class DownloadingHistoryArchivesFinished(ArchiveEvent):
    type: ClassVar[str] = "community.downloadingHistoryArchivesFinished"


@dataclass(frozen=True, kw_only=True)
class ArchiveLinkIgnored(ArchiveEvent):
    """Member side: a link was refused; `reason` names the rule (not-member, old-clock, ...)."""

    type: ClassVar[str] = "community.historyArchiveLinkIgnored"
    link: str = ""
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)
