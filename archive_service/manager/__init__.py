"""The manager package: `ArchiveManager` is the public façade; each module holds one
responsibility (archive_manager: the façade; owner: interval tasks, create-and-seed and link
announcements; links: the pure link decisions; downloads: the member's download worker;
imports: the paced import; migration: republishing one backend's history with another)."""

from archive_service.manager.archive_manager import ArchiveManager
from archive_service.manager.imports import RateLimiter
from archive_service.manager.links import LinkDecision, LinkReason
from archive_service.manager.migration import MigrationReport

__all__ = ["ArchiveManager", "LinkDecision", "LinkReason", "MigrationReport", "RateLimiter"]
