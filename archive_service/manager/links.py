"""Which archive links a member acts on: status-go HandleCommunityMessageArchiveLink (§7.4) with
every gate explicit, as pure functions. The caller gathers what the node holds (community,
stored link state, downloads in flight) and acts on the decision; nothing here reads a store,
a backend or a clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from archive_service.crypto.signing import LinkMessage
from archive_service.store import ArchiveLinkState, Community
from archive_service.types import DownloadedArchive, IndexEntry


class LinkReason(StrEnum):
    """Why a link was or was not acted on (the `reason` of ArchiveLinkIgnored)."""

    ACCEPTED = "accepted"
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_COMMUNITY = "unknown-community"
    OWNER = "control-node"
    NOT_MEMBER = "not-member"
    DISABLED = "archives-disabled"
    UNSUPPORTED_LINK = "no-backend-for-link"
    OLD_CLOCK = "old-clock"
    SAME_LINK = "same-link"
    # Work a killed member left for this link: the stored link again while downloaded
    # archives wait for import (its run repeats and finds its archives on disk), or the link
    # whose interrupted run the node resumed at start. Acted on: the caller waits for it.
    RESUMED = "resumed"


@dataclass(frozen=True)
class LinkDecision:
    reason: LinkReason
    community_id: bytes = b""
    backend: str = ""
    link: str = ""
    clock: int = 0
    detail: str = ""  # for a refusal: what the member saw, for the log and the event

    @property
    def accepted(self) -> bool:
        """The link is acted on: downloaded (ACCEPTED) or its pending imports resumed."""
        return self.reason in (LinkReason.ACCEPTED, LinkReason.RESUMED)


@dataclass(frozen=True)
class LinkFacts:
    """What the member holds for a verified link message, gathered by the caller."""

    community: Community | None
    backend: str | None  # the first backend in preference order that handles the link
    stored: ArchiveLinkState  # the link and clock last stored for that backend
    in_flight: bool  # the same link is already waiting or downloading through that backend
    enabled: Sequence[str]  # the node's enabled backends, named in a refusal
    pending_imports: bool = False  # downloaded archives of the community still to import
    # The link in flight is a run this node resumed by itself at start (no message asked).
    resumed_in_flight: bool = False


def decide_archive_link(message: LinkMessage, facts: LinkFacts) -> LinkDecision:
    """The gates of a signed link message, in status-go's order."""
    cid, link, clock = message.community_id, message.link, message.clock
    community = facts.community
    if community is None:
        # A link signed by any key but a known community's maps to an unknown community.
        return LinkDecision(LinkReason.UNKNOWN_COMMUNITY, cid, link=link)
    if community.is_control_node:
        return LinkDecision(LinkReason.OWNER, cid, link=link)
    if not community.joined:
        return LinkDecision(LinkReason.NOT_MEMBER, cid, link=link)
    if not community.archives_enabled:
        return LinkDecision(LinkReason.DISABLED, cid, link=link)
    backend = facts.backend
    if backend is None:
        return LinkDecision(
            LinkReason.UNSUPPORTED_LINK,
            cid,
            link=link,
            detail=f"enabled backends: {sorted(facts.enabled)}",
        )
    stored = facts.stored
    if clock < stored.clock:
        detail = f"clock {clock} < stored {stored.clock}"
        return LinkDecision(LinkReason.OLD_CLOCK, cid, backend, link, detail=detail)
    if facts.in_flight:
        if facts.resumed_in_flight:  # the message asks for what already resumed: wait for it
            return LinkDecision(LinkReason.RESUMED, cid, backend, link, clock)
        return LinkDecision(LinkReason.SAME_LINK, cid, backend, link)
    if link == stored.link:
        if facts.pending_imports:
            return LinkDecision(LinkReason.RESUMED, cid, backend, link, clock)
        return LinkDecision(LinkReason.SAME_LINK, cid, backend, link)
    return LinkDecision(LinkReason.ACCEPTED, cid, backend, link, clock)


def decide_join_link(community_id: bytes, link: str, backend: str | None) -> LinkDecision:
    """A link in an accepted request-to-join response downloads without the clock and
    last-seen gates (as upstream), but still needs a backend for it."""
    if backend is None:
        return LinkDecision(LinkReason.UNSUPPORTED_LINK, community_id, link=link)
    return LinkDecision(LinkReason.ACCEPTED, community_id, backend, link)


def refuse_unverified(detail: str) -> LinkDecision:
    """A message whose signature does not verify names no community or link to trust."""
    return LinkDecision(LinkReason.BAD_SIGNATURE, detail=detail)


def preference_order(preference: Sequence[str], enabled: Iterable[str]) -> list[str]:
    """`member.preference` restricted to the enabled backends, then the others in order."""
    names = list(enabled)
    preferred = [n for n in preference if n in names]
    return preferred + [n for n in names if n not in preferred]


def backend_for_link(
    link: str, order: Sequence[str], handles: Callable[[str, str], bool]
) -> str | None:
    """The first backend in `order` for which `handles(backend, link)` (a syntax check)."""
    for name in order:
        if handles(name, link):
            return name
    return None


def supersedes(order: Sequence[str], new: str, running: str) -> bool:
    """A new link for the running backend, or for a preferred one, cancels the running run."""
    return new == running or order.index(new) < order.index(running)


@dataclass(frozen=True)
class HeldLink:
    """A link some recorded archives came through, other than the backend's stored link, with
    the index this node holds for it."""

    link: str
    newest_to_ts: int  # the newest window recorded through it
    entries: Sequence[IndexEntry]


def links_to_resume(
    stored: str, recorded: Sequence[DownloadedArchive], backend: str
) -> list[tuple[str, int]]:
    """Links of `backend` that recorded archives came through but that were never marked
    seen (a run killed or failed part-way), each with its newest window's end."""
    newest: dict[str, int] = {}
    for row in recorded:
        if row.backend == backend and row.link and row.link != stored:
            newest[row.link] = max(newest.get(row.link, 0), row.to_ts)
    return sorted(newest.items())


def interrupted_link(held: Sequence[HeldLink], recorded: Sequence[DownloadedArchive]) -> str | None:
    """The link whose run a node start resumes: one whose held index lists an archive (or a
    window) not recorded yet. Among several, the one that recorded the newest window (runs go
    newest first, so an older link that was superseded recorded older windows)."""
    ids = {r.archive_id for r in recorded}
    windows = {(r.from_ts, r.to_ts) for r in recorded}
    unfinished = [
        h
        for h in held
        if any(
            e.archive_id not in ids and (e.metadata.from_ts, e.metadata.to_ts) not in windows
            for e in h.entries
        )
    ]
    if not unfinished:
        return None
    return max(unfinished, key=lambda h: (h.newest_to_ts, len(h.entries))).link
