"""Small weekly histories and their publication through one backend: what the backend tests
of both plugins (tests/torrent, tests/codex) build their archives from."""

from __future__ import annotations

from typing import Protocol

from archive_service.archives import messages_from_list
from archive_service.creation import create_history_archives
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import ArchiveEvent
from archive_service.ids import keccak256
from archive_service.interface import ArchiveBackend, PublishResult
from archive_service.types import StoredMessage

COMMUNITY = bytes.fromhex("03" + "5a" * 32)
TOPICS = (b"\x01\x02\x03\x04", b"\xaa\xbb\xcc\xdd")
WEEK = 7 * 24 * 3600
T0 = 1_700_000_000 - 1_700_000_000 % WEEK  # a week boundary


class PublishingSide(Protocol):
    backend: ArchiveBackend
    crypto: HashRatchet
    events: list[ArchiveEvent]


def week_messages(week: int, count: int, size: int) -> list[StoredMessage]:
    """`count` messages spread over week `week`; payloads differ per message."""
    start = T0 + week * WEEK
    out = []
    for i in range(count):
        n = week * 100_000 + i
        out.append(
            StoredMessage(
                sig=b"\x01" * 65,
                timestamp=start + i * (WEEK // count),
                topic=TOPICS[i % 2],
                payload=keccak256(n.to_bytes(8, "big")) * (size // 32),
                padding=b"",
                hash=keccak256(b"msg" + n.to_bytes(8, "big")),
            )
        )
    return out


async def publish(
    side: PublishingSide,
    messages: list[StoredMessage],
    start: int,
    end: int,
    *,
    encrypt: bool = False,
    community: bytes = COMMUNITY,
) -> PublishResult:
    """Create the archives of [start, end) weekly with the side's one backend."""
    encryptor = (lambda data: side.crypto.encrypt(community, data)) if encrypt else None
    results = await create_history_archives(
        [side.backend],
        messages_from_list(messages),
        community,
        TOPICS,
        start,
        end,
        WEEK,
        encrypt=encryptor,
        emit=side.events.append,
    )
    (result,) = results.values()
    return result
