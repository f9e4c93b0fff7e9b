"""Host-side plugins of the embedded default: what a Status client would do with a link to
publish and with messages to import, done in-process for the CLI, demo and tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from archive_service.hookspecs import hookimpl
from archive_service.store import Store
from archive_service.types import StoredMessage
from archive_service.wire import pb


class StoreImporter:
    """The embedded importer: an archive's messages go into the member's own waku_messages,
    deduplicated by message hash, so a member store never holds a message twice whatever
    backend delivered it. `trylast`: a host's own importer (firstresult) wins whatever the
    registration order, and then the manager hands the host batches instead of archives."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @hookimpl(trylast=True)
    def archive_import_archive(
        self, community_id: bytes, archive_id: str, messages: list[pb.WakuMessage]
    ) -> int:
        """The whole archive and its imported mark in one transaction: after a crash either
        both are stored or neither."""
        return self.store.import_archive(
            community_id, archive_id, map(StoredMessage.from_pb, messages)
        )

    @hookimpl(trylast=True)
    def archive_messages_import(self, community_id: bytes, messages: list[pb.WakuMessage]) -> int:
        return self.store.save_waku_messages(map(StoredMessage.from_pb, messages))


LinkHandler = Callable[[bytes], Awaitable[object]]


class PublishedLink(NamedTuple):
    community_id: bytes
    backend: str
    link: str
    message: bytes  # the signed ApplicationMetadataMessage carrying `link`


class InProcessBus:
    """Stands in for the community's Waku channel: an owner's signed link message reaches every
    subscribed member, as `archive_link_publish` would hand it to the transport. Every
    in-process host uses it as its `archive_link_publish`; `listeners` add what a host does
    with a link besides delivering it (e.g. writing it to a file)."""

    def __init__(self, *, auto_deliver: bool = True) -> None:
        # auto_deliver=False keeps messages in `sent` for a caller to deliver by hand.
        self.auto_deliver = auto_deliver
        self._members: list[LinkHandler] = []
        self.sent: list[PublishedLink] = []
        # Called synchronously with each link as it is published.
        self.listeners: list[Callable[[PublishedLink], None]] = []
        self._deliveries: set[asyncio.Task[object]] = set()

    def subscribe(self, handler: LinkHandler) -> None:
        self._members.append(handler)

    def unsubscribe(self, handler: LinkHandler) -> None:
        self._members.remove(handler)

    @hookimpl
    def archive_link_publish(
        self, community_id: bytes, backend: str, link: str, message: bytes
    ) -> bool:
        published = PublishedLink(community_id, backend, link, message)
        self.sent.append(published)
        for listener in self.listeners:
            listener(published)
        if not self.auto_deliver:
            return True
        for handler in self._members:
            task = asyncio.get_running_loop().create_task(handler(message))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
        return True

    async def drain(self) -> None:
        """Wait until every message sent so far has been handled by every member."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)
