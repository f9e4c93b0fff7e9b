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
    """Every event is a frozen, keyword-only dataclass; a subclass names its status-go event in
    the class statement, `class X(ArchiveEvent, type="community.x")`, and lists its fields."""

    type: ClassVar[str] = "community.archiveEvent"
    community_id: str
    backend: str = ""

    def __init_subclass__(cls, *, type: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if type is not None:
            cls.type = type
        dataclass(frozen=True, kw_only=True)(cls)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


class WindowEvent(ArchiveEvent):
    """An event about the archive window [from_ts, to_ts) in unix seconds."""

    from_ts: int
    to_ts: int


class CreatingHistoryArchives(ArchiveEvent, type="community.creatingHistoryArchives"):
    pass


class HistoryArchivesCreated(WindowEvent, type="community.historyArchivesCreated"):
    archive_count: int = 0


class NoHistoryArchivesCreated(WindowEvent, type="community.noHistoryArchivesCreated"):
    pass


class ArchiveBuilt(WindowEvent, type="community.historyArchiveBuilt"):
    """One archive encoded (owner side); lets a CLI draw a progress bar while creating."""

    message_count: int
    size: int


class MessagesDropped(WindowEvent, type="community.historyArchiveMessagesDropped"):
    """Messages larger than the 30,000,000-byte cap were left out (never silent)."""

    count: int


class HistoryArchivesSeeding(ArchiveEvent, type="community.historyArchivesSeeding"):
    link: str = ""


class HistoryArchivesUnseeded(ArchiveEvent, type="community.historyArchivesUnseeded"):
    link: str = ""


class IndexDownloadCompleted(ArchiveEvent, type="community.historyArchiveIndexDownloadCompleted"):
    link: str
    archive_count: int


class DownloadingHistoryArchivesStarted(
    ArchiveEvent, type="community.downloadingHistoryArchivesStarted"
):
    total_archives: int = 0
    missing_archives: int = 0
    missing_bytes: int = 0


class HistoryArchiveDownloaded(WindowEvent, type="community.historyArchiveDownloaded"):
    archive_id: str = ""
    size: int = 0
    downloaded: int = 0
    total: int = 0


class HistoryArchiveDownloadFailed(ArchiveEvent, type="community.historyArchiveDownloadFailed"):
    """One archive failed this run; it stays missing and is retried on the next run."""

    archive_id: str
    reason: str


class HistoryArchivesDownloadCompleted(
    ArchiveEvent, type="community.historyArchivesDownloadCompleted"
):
    """A download run ended (member side): what it fetched, skipped and failed, or that it
    was cancelled (superseded by a newer or preferred link, or shutdown)."""

    link: str
    total_archives: int
    downloaded: int
    skipped: int
    failed: int
    cancelled: bool
    bytes_downloaded: int


class HistoryArchivesDownloadFailed(ArchiveEvent, type="community.historyArchivesDownloadFailed"):
    """A whole download run failed (index timeout after the retry, bad index, node down)."""

    link: str
    reason: str


class HistoryArchiveImportFailed(ArchiveEvent, type="community.historyArchiveImportFailed"):
    """An archive could not be imported; `postponed` when a key is missing (retried later)."""

    archive_id: str
    reason: str
    attempts: int
    postponed: bool = False
    gave_up: bool = False


class ImportingHistoryArchiveMessages(
    ArchiveEvent, type="community.importingHistoryArchiveMessages"
):
    archive_id: str = ""
    message_count: int = 0


class HistoryArchiveImported(ArchiveEvent, type="community.historyArchiveImported"):
    archive_id: str
    imported: int = 0
    remaining: int = 0


class DownloadingHistoryArchivesFinished(
    ArchiveEvent, type="community.downloadingHistoryArchivesFinished"
):
    pass


class ArchiveLinkIgnored(ArchiveEvent, type="community.historyArchiveLinkIgnored"):
    """Member side: a link was refused; `reason` names the rule (not-member, old-clock, ...)."""

    link: str = ""
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)
