"""The Codex ArchiveBackend: one CID per archive plus an index CID (status-go §6).

Owner: every archive is uploaded as `archive-data.bin` / `application/octet-stream` (so CIDs
match status-go's), the cumulative CodexWakuMessageArchiveIndex is kept locally (localstore)
and uploaded — encrypted when the community is — and its CID is the link. History is never
dropped: the index is extended from the local copy, not from whatever the node still holds.

Member: the index and each missing archive are fetched through the node from the network,
checked against their CID (verify.py) before they are parsed or saved, and saved locally; the
archive ID is recorded as each one completes, failures are reported per archive and retried on
the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from archive_service.asyncutil import wait_cancellable
from archive_service.errors import (
    ArchiveNotFoundError,
    ArchiveServiceError,
    ArchiveTimeoutError,
    BackendUnavailableError,
    InvalidInputError,
    InvalidLinkError,
    MalformedIndexError,
    OperationCancelled,
)
from archive_service.events import (
    DownloadingHistoryArchivesStarted,
    HistoryArchiveDownloaded,
    HistoryArchiveDownloadFailed,
    IndexDownloadCompleted,
)
from archive_service.fsutil import AtomicFile, remove_stale_tmp
from archive_service.ids import community_hex
from archive_service.index import archive_id, encode_index, metadata_from_pb, metadata_to_pb
from archive_service.interface import (
    ArchiveBackend,
    ArchiveReady,
    BackendContext,
    DownloadTaskInfo,
    Publication,
    PublishResult,
)
from archive_service.plan import plan_downloads
from archive_service.types import BuiltArchive, IndexEntry
from archive_service.wire import pb
from archive_service_codex.cid import InvalidCidError, ManifestCoder, parse_cid
from archive_service_codex.client import (
    CodexClient,
    CodexError,
    CodexNotSupported,
    CodexUnavailable,
)
from archive_service_codex.index import codex_entries, decode_codex_index
from archive_service_codex.localstore import LocalStore, OwnerState, check_archive_id
from archive_service_codex.managed import ManagedNode
from archive_service_codex.settings import CodexSettings
from archive_service_codex.verify import (
    CidVerifier,
    CodexIntegrityError,
    ExpectedUpload,
    check_upload,
    expected_upload,
    upload_cid,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

log = logging.getLogger(__name__)

SEED_CHECK_CONCURRENCY = 8


local_cid = upload_cid  # the CID a node gives bytes uploaded as status-go uploads them


def parse_link(link: str) -> str:
    """A Codex link is a manifest CID; returns its canonical `z…` text."""
    try:
        cid = parse_cid(link)
    except InvalidCidError as exc:
        raise InvalidLinkError(f"{link!r} is not a Codex CID: {exc}") from None
    if not cid.is_manifest:
        raise InvalidLinkError(
            f"{link!r} is a CID but not a Codex manifest CID (codec 0x{cid.codec:x}); "
            "a Codex archive link is the index's manifest CID (z…)"
        )
    return cid.text


def _index_of(
    entries: Iterable[tuple[str, pb.CodexWakuMessageArchiveIndexMetadata]],
) -> pb.CodexWakuMessageArchiveIndex:
    index = pb.CodexWakuMessageArchiveIndex()
    for key, entry in entries:
        index.archives[key].CopyFrom(entry)
    return index


class CodexPublication(Publication):
    """One create run: archives are written locally and uploaded in the background (bounded);
    `commit` waits for them, uploads the cumulative index and commits the local state."""

    def __init__(
        self, backend: CodexBackend, community_id: bytes, encrypt: bool, base: OwnerState | None
    ) -> None:
        self.backend = backend
        self.community_id = community_id
        self.encrypt = encrypt
        self.base = base
        self.base_entries = dict(backend._entries_of(base))
        self.new: dict[str, pb.CodexWakuMessageArchiveIndexMetadata] = {}
        self._written: list[str] = []  # local copies this publication created
        self._uploaded: set[str] = set()  # CIDs this publication stored on the node
        self._tasks: list[asyncio.Task[None]] = []
        self._slots = asyncio.Semaphore(backend.config.upload_concurrency)
        self._committed: OwnerState | None = None
        self._closed = False

    def _check_failed(self) -> None:
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def add(self, archive: BuiltArchive) -> str:
        if self._closed:
            raise InvalidInputError("this Codex publication is already committed or aborted")
        self._check_failed()
        if not archive.data:
            raise InvalidInputError("an archive cannot be empty (Codex stores no empty file)")
        data = archive.data
        expected = await asyncio.to_thread(expected_upload, data)
        coder = self.backend.coder
        if coder is None:
            # The node's manifest coder is not known yet (or its CIDs are not predictable):
            # upload now and take the CID it gives, once its manifest checks out.
            cid = await self._upload_checked(data, expected, f"archive of {archive.metadata}")
        else:
            cid = expected.cids[coder]
        entry = pb.CodexWakuMessageArchiveIndexMetadata(
            metadata=metadata_to_pb(archive.metadata), cid=cid
        )
        aid = archive_id(entry)
        if aid in self.base_entries or aid in self.new:
            return aid  # same window, same bytes: already published
        held = self._held_window(archive.metadata.from_ts, archive.metadata.to_ts)
        if held is not None:
            # The window is published already (with other bytes, e.g. encrypted anew after a
            # crash before the store recorded the end date): never publish it twice.
            return held
        self.new[aid] = entry
        if coder is None:
            files = self.backend.files
            if not files.has_archive(self.community_id, aid):
                self._written.append(aid)
                await asyncio.to_thread(files.write_archive, self.community_id, aid, data)
            return aid
        # The slot is taken here, so `add` blocks while `upload_concurrency` archives are in
        # flight: memory holds at most that many archives.
        await self._slots.acquire()
        self._tasks.append(asyncio.create_task(self._store(aid, cid, data)))
        return aid

    def _held_window(self, from_ts: int, to_ts: int) -> str | None:
        """The ID of a held or added archive whose window overlaps [from_ts, to_ts)."""
        for aid, entry in (*self.base_entries.items(), *self.new.items()):
            held = metadata_from_pb(entry.metadata)
            if from_ts < held.to_ts and held.from_ts < to_ts:
                if (held.from_ts, held.to_ts) != (from_ts, to_ts):
                    log.warning(
                        "window [%d, %d) overlaps archive %s [%d, %d) and is skipped; start a "
                        "run where the last one ended to archive all of it",
                        from_ts,
                        to_ts,
                        aid,
                        held.from_ts,
                        held.to_ts,
                    )
                return aid
        return None

    async def _store(self, aid: str, cid: str, data: bytes) -> None:
        """Upload and write the local copy at once (both are I/O; neither needs the other)."""
        try:
            files = self.backend.files
            write = None
            if not files.has_archive(self.community_id, aid):
                self._written.append(aid)
                write = asyncio.ensure_future(
                    asyncio.to_thread(files.write_archive, self.community_id, aid, data)
                )
            try:
                got = await self.backend.client.upload(data)
            finally:
                if write is not None:
                    # A thread cannot be interrupted: the copy lands before any clean-up.
                    await write
            self._uploaded.add(got)
            if got != cid:
                raise CodexIntegrityError(
                    f"the node stored archive {aid} as {got}, not {cid} as its manifest coder "
                    f"({self.backend.coder}) gave before; nothing is published"
                )
        finally:
            self._slots.release()

    async def _upload_checked(
        self, data: bytes, expected: ExpectedUpload, what: str, predicted: str | None = None
    ) -> str:
        """Upload `data`; the CID the node gives is accepted when it is `predicted`, or when
        the manifest the node serves for it carries the expected fields and hashes to it
        (verify.check_upload). The coder that did is remembered when it predicts CIDs."""
        client = self.backend.client
        got = await client.upload(data)
        self._uploaded.add(got)
        if got == predicted:
            return got
        item = await client.manifest(got)
        coder = check_upload(got, item.manifest, expected)
        if item.manifest.uploaded_at is None and expected.cids.get(coder) == got:
            self.backend.coder = coder
        else:
            log.info("the node's manifest CIDs carry the upload time: %s uploads one by one", what)
        return got

    async def _join_uploads(self) -> None:
        if self._tasks:
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def commit(self) -> PublishResult:
        if self._closed:
            raise InvalidInputError("this Codex publication is already committed or aborted")
        await self._join_uploads()
        backend, community_id = self.backend, self.community_id
        async with backend._commit_lock(community_id):
            # Re-read: another publication may have committed since this one opened.
            current = await asyncio.to_thread(backend.files.read_owner_state, community_id)
            entries = dict(backend._entries_of(current))
            added = [aid for aid in self.new if aid not in entries]
            if not added:
                self._closed = True
                return PublishResult(
                    backend=backend.name,
                    archive_ids=[],
                    link=current.link if current is not None else None,
                    index_size=len(entries),
                    bytes_stored=await backend._bytes_stored(community_id, current),
                )
            entries.update((aid, self.new[aid]) for aid in added)
            index = _index_of(sorted(entries.items()))
            plain = encode_index(index, community_id, None)
            crypto = backend.context.crypto if self.encrypt else None
            published = (
                await asyncio.to_thread(encode_index, index, community_id, crypto)
                if crypto is not None
                else plain
            )
            expected = await asyncio.to_thread(expected_upload, published)
            predicted = expected.cids[backend.coder] if backend.coder is not None else None
            link = await self._upload_checked(published, expected, "index", predicted)
            state = OwnerState(link=link, encrypted=self.encrypt, published=published, plain=plain)
            await asyncio.to_thread(backend.files.write_owner_state, community_id, state)
            self._committed = state
            self._closed = True
            self.base = current
        if current is not None and current.link != link:
            # Only now: the new index is on the node and committed locally.
            await backend._remove_quietly(current.link, "previous index")
        return PublishResult(
            backend=backend.name,
            archive_ids=added,
            link=link,
            index_size=len(entries),
            bytes_stored=await backend._bytes_stored(community_id, state),
        )

    async def abort(self) -> None:
        """Undo this publication: pending uploads are cancelled, archives and the index it
        stored are removed, and a committed state is rolled back to the previous one."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        backend, community_id = self.backend, self.community_id
        # CIDs a committed index still lists stay on the node, whoever uploaded them.
        keep_cids = {e.cid for e in self.base_entries.values()}
        keep_cids.update(e.cid for _, e in backend._entries_of(self.base))
        if self._committed is not None:
            async with backend._commit_lock(community_id):
                current = await asyncio.to_thread(backend.files.read_owner_state, community_id)
                if current is not None and current.link == self._committed.link:
                    await asyncio.to_thread(self._restore, self.base)
            if self.base is not None:
                keep_cids.add(self.base.link)
                with contextlib.suppress(CodexError):
                    await backend.client.upload(self.base.published)  # if commit removed it
        for cid in self._uploaded - keep_cids:
            await backend._remove_quietly(cid, "aborted upload")
        for aid in self._written:
            await asyncio.to_thread(backend.files.remove_archive, community_id, aid)

    def _restore(self, previous: OwnerState | None) -> None:
        files = self.backend.files
        if previous is None:
            files.remove_owner_state(self.community_id)
        else:
            files.write_owner_state(self.community_id, previous)


class CodexBackend(ArchiveBackend):
    name: ClassVar[str] = "logos-storage"

    def __init__(self, context: BackendContext, settings: BaseModel | None = None) -> None:
        if settings is None:
            settings = CodexSettings()
        if not isinstance(settings, CodexSettings):
            raise TypeError(f"CodexBackend needs CodexSettings, not {type(settings).__name__}")
        super().__init__(context, settings)
        self.config: CodexSettings = settings
        self.files = LocalStore(context.data_dir)
        self._client: CodexClient | None = None
        self._node: ManagedNode | None = None
        self._locks: dict[bytes, asyncio.Lock] = {}
        # The node's manifest coder, learnt from the first checked upload; None until then and
        # for nodes whose manifest CIDs cannot be predicted (upload time in the manifest).
        self.coder: ManifestCoder | None = None

    # lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._client is not None:
            return
        for path in await asyncio.to_thread(remove_stale_tmp, self.files.root):
            log.info("removed %s (left by a process that died while writing it)", path)
        api_url = self.config.api_url
        node = None
        if self.config.managed_node.enabled:
            m = self.config.managed_node
            node = ManagedNode(
                self.context.data_dir / "node",
                api_port=m.api_port,
                storage_quota=m.storage_quota,
                block_retries=m.block_retries,
                retry_interval=m.retry_interval,
                bootstrap=tuple(m.bootstrap),
                # The managed node answers in the configured generation (Codex's for auto).
                api=self.config.api if self.config.api != "auto" else "codex-v1",
            )
            await node.start()
            api_url = node.api_url
        client = CodexClient(
            api_url,
            api=self.config.api,
            timeouts=self.config.timeouts.to_client(),
            retry=self.config.retry.to_client(),
        )
        try:
            await client.debug_info()
        except CodexError as exc:
            await client.aclose()
            if node is not None:
                await node.stop()
            raise CodexUnavailable(
                f"the Logos Storage backend cannot use the node at {api_url}: {exc}. Start a "
                "node (a real one, or `archive-service codex-node`), set "
                "backend.logos-storage.api_url or its managed_node.enabled = true"
            ) from exc
        self._client, self._node = client, node

    async def stop(self) -> None:
        client, node = self._client, self._node
        self._client = self._node = None
        if client is not None:
            await client.aclose()
        if node is not None:
            await node.stop()

    @property
    def is_started(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> CodexClient:
        if self._client is None:
            raise BackendUnavailableError("the Codex backend is not started; call start() first")
        return self._client

    @property
    def node(self) -> ManagedNode | None:
        """The managed local node, when `managed_node.enabled`."""
        return self._node

    @classmethod
    def handles_link(cls, link: str) -> bool:
        if not isinstance(link, str) or not link.startswith("z"):
            return False
        try:
            return parse_cid(link).is_manifest
        except InvalidCidError:
            return False

    # helpers ----------------------------------------------------------------------------
    def _commit_lock(self, community_id: bytes) -> asyncio.Lock:
        return self._locks.setdefault(community_id, asyncio.Lock())

    @staticmethod
    def _entries_of(
        state: OwnerState | None,
    ) -> Iterable[tuple[str, pb.CodexWakuMessageArchiveIndexMetadata]]:
        if state is None:
            return []
        index = pb.CodexWakuMessageArchiveIndex.FromString(state.plain)
        return list(index.archives.items())

    async def _bytes_stored(self, community_id: bytes, state: OwnerState | None) -> int:
        """Local bytes of the committed publication: its archives plus its index."""
        if state is None:
            return 0

        def total() -> int:
            size = len(state.published)
            for aid, _ in self._entries_of(state):
                with contextlib.suppress(OSError):
                    size += self.files.archive_path(community_id, aid).stat().st_size
            return size

        return await asyncio.to_thread(total)

    async def _remove_quietly(self, cid: str, what: str) -> None:
        try:
            await self.client.delete(cid)
        except CodexNotSupported:
            # A build without DELETE /data/{cid} (404, empty body): nothing to do about it.
            log.info("the node cannot delete %s %s (no DELETE route); it keeps it", what, cid)
        except CodexError as exc:
            # The node keeps a stale copy; the next unseed of it removes it.
            log.warning("could not remove %s %s from the Codex node: %s", what, cid, exc)

    async def _look_up(self, cid: str, max_size: int) -> CidVerifier:
        """The manifest the node serves for `cid` (from peers if need be), checked against the
        CID before any byte of the dataset is fetched."""
        item = await self.client.manifest(cid)
        return CidVerifier(cid, item.manifest, max_size)

    async def _transfer(self, verifier: CidVerifier, sink: Callable[[bytes], object]) -> None:
        """Fetch the dataset `verifier` checks through the node from the network into `sink`,
        hashed as it streams (CodexIntegrityError when it is not the CID; `sink` then holds
        unverified bytes)."""

        def checked(chunk: bytes) -> None:
            verifier.update(chunk)
            sink(chunk)

        cid = verifier.cid.text
        await self.client.download_to(
            cid, checked, network=True, max_size=verifier.manifest.dataset_size
        )
        verifier.check()

    async def _fetch_verified(
        self, cid: str, max_size: int, sink: Callable[[bytes], object]
    ) -> None:
        """Fetch `cid` through the node from the network into `sink`, checked against the CID
        (CodexIntegrityError when it does not match; `sink` then holds unverified bytes)."""
        await self._transfer(await self._look_up(cid, max_size), sink)

    # owner ------------------------------------------------------------------------------
    async def open_publication(self, community_id: bytes, encrypt: bool) -> Publication:
        _ = self.client  # fail now, not after archives were built
        base = await asyncio.to_thread(self.files.read_owner_state, community_id)
        if base is not None or not self.files.has_member_indexes(community_id):
            # What an interrupted publication left (a member's downloads are never touched).
            keep = {aid for aid, _ in self._entries_of(base)}
            await asyncio.to_thread(self.files.remove_unpublished_archives, community_id, keep)
        return CodexPublication(self, community_id, encrypt, base)

    def current_link(self, community_id: bytes) -> str | None:
        state = self.files.read_owner_state(community_id)
        return state.link if state is not None else None

    def committed_end(self, community_id: bytes) -> int:
        entries = self._entries_of(self.files.read_owner_state(community_id))
        return max((entry.metadata.to for _, entry in entries), default=0)

    async def _held(self, community_id: bytes, link: str) -> tuple[bytes | None, list[IndexEntry]]:
        """(index bytes, entries) this node holds locally for `link`."""
        state = await asyncio.to_thread(self.files.read_owner_state, community_id)
        if state is not None and state.link == link:
            index = pb.CodexWakuMessageArchiveIndex.FromString(state.plain)
            return state.published, codex_entries(index)
        data = await asyncio.to_thread(self.files.read_index, community_id, link)
        if data is None:
            return None, []
        index = await asyncio.to_thread(decode_codex_index, data, community_id, self.context.crypto)
        return data, codex_entries(index)

    async def seed(self, community_id: bytes, link: str) -> None:
        """Make the node hold the index and every archive of `link`: what it lost is
        re-uploaded from the local copies (same bytes, same CID), or fetched from the network
        when there is no local copy. Raises CodexError listing what could not be restored."""
        link = parse_link(link)
        index_bytes, entries = await self._held(community_id, link)
        targets: list[tuple[str, bytes | Path | None]] = [(link, index_bytes)]
        for entry in entries:
            path = self.files.archive_path(community_id, entry.archive_id)
            targets.append((entry.locator["cid"], path if path.is_file() else None))
        slots = asyncio.Semaphore(SEED_CHECK_CONCURRENCY)
        problems: list[str] = []

        async def ensure(cid: str, local: bytes | Path | None) -> None:
            async with slots:
                try:
                    if await self.client.exists(cid):
                        return
                    if local is not None:
                        data = local if isinstance(local, bytes) else None
                        if data is None:
                            data = await asyncio.to_thread(Path(local).read_bytes)
                        expected = await asyncio.to_thread(expected_upload, data)
                        if cid in expected.cids.values():
                            await self.client.upload(data)
                            return
                    await self.client.fetch(cid)  # the node fetches it in the background
                except CodexError as exc:
                    problems.append(f"{cid}: {exc}")

        await asyncio.gather(*(ensure(cid, local) for cid, local in targets))
        if problems:
            raise CodexError(
                f"the Codex node does not hold {len(problems)} of {len(targets)} CIDs of "
                f"index {link} and they could not be restored: " + "; ".join(problems[:5])
            )

    async def is_seeding(self, community_id: bytes, link: str) -> bool:
        """True when the node has the index and every archive (their manifest blocks: the
        node's /exists proves no more than that)."""
        link = parse_link(link)
        _, entries = await self._held(community_id, link)
        for cid in [link, *(e.locator["cid"] for e in entries)]:
            if not await self.client.exists(cid):
                return False
        return True

    async def unseed(self, community_id: bytes, link: str) -> None:
        """Remove the index from the node (archives stay: later indexes list them too).
        Errors are logged, as upstream: a stale copy is harmless."""
        await self._remove_quietly(parse_link(link), "index")

    # member -----------------------------------------------------------------------------
    async def download_history_archives(
        self,
        community_id: bytes,
        link: str,
        cancel: asyncio.Event,
        archive_ready: ArchiveReady | None = None,
    ) -> DownloadTaskInfo:
        link = parse_link(link)
        loop = asyncio.get_running_loop()
        started = loop.time()
        timeouts = self.context.timeouts
        hex_id = community_hex(community_id)
        buf = bytearray()
        try:
            await wait_cancellable(
                self._fetch_verified(link, self.config.max_index_size, buf.extend),
                cancel,
                timeout=timeouts.index,
                what=f"download of the Codex index {link}",
            )
        except OperationCancelled:
            return DownloadTaskInfo(cancelled=True)
        data = bytes(buf)
        index = await asyncio.to_thread(decode_codex_index, data, community_id, self.context.crypto)
        entries = codex_entries(index)
        for entry in entries:
            try:
                parse_link(entry.locator["cid"])
            except InvalidLinkError as exc:
                raise MalformedIndexError(
                    f"index {link} lists archive {entry.archive_id} with a bad CID: {exc}"
                ) from None
        await asyncio.to_thread(self.files.write_index, community_id, link, data)
        self.context.emit(
            IndexDownloadCompleted(
                community_id=hex_id, backend=self.name, link=link, archive_count=len(entries)
            )
        )
        plan = await asyncio.to_thread(
            plan_downloads, self.context.store, community_id, self.name, entries
        )
        info = DownloadTaskInfo(
            total_archives=len(entries),
            total_downloaded=plan.already,
            skipped_archive_ids=[e.archive_id for e in plan.skipped],
        )
        self.context.emit(
            DownloadingHistoryArchivesStarted(
                community_id=hex_id,
                backend=self.name,
                total_archives=len(entries),
                missing_archives=len(plan.missing),
                missing_bytes=sum(e.size for e in plan.missing),
            )
        )
        if not plan.missing:
            return info

        width = self.context.max_download_concurrency
        done: set[str] = set()
        failed: dict[str, str] = {}

        def fail(entry: IndexEntry, reason: str) -> None:
            failed[entry.archive_id] = reason
            self.context.emit(
                HistoryArchiveDownloadFailed(
                    community_id=hex_id,
                    backend=self.name,
                    archive_id=entry.archive_id,
                    reason=reason,
                )
            )

        def failed_by(entry: IndexEntry, exc: BaseException) -> None:
            if isinstance(exc, TimeoutError):
                fail(entry, f"timed out after {timeouts.archive:g} s (per-archive timeout)")
            else:
                fail(entry, f"{type(exc).__name__}: {exc}")

        async def look_up(entry: IndexEntry) -> CidVerifier | Exception:
            """The checked manifest, or why there is none (a failed task would end the
            task group: the failure is the archive's, reported when its turn comes)."""
            try:
                async with asyncio.timeout(timeouts.archive):
                    cid = entry.locator["cid"]
                    return await self._look_up(cid, self.config.max_archive_size)
            except (TimeoutError, ArchiveServiceError, OSError) as exc:
                return exc

        # After the newest archive, manifests are looked up ahead of the transfers, in plan
        # order, at most `width` waiting: a transfer slot that frees starts its next archive at
        # once instead of waiting for a REST round trip and the node's fetch of the manifest.
        looked_up: asyncio.Queue[tuple[IndexEntry, asyncio.Task[CidVerifier | Exception]] | None]
        looked_up = asyncio.Queue(width)
        # Transferred, not yet committed: removed when a cancel or a timeout ends the run first.
        staged_files: set[AtomicFile] = set()
        last_record: asyncio.Task[None] | None = None
        newest_recorded = asyncio.Event()  # or failed

        async def look_up_in_order(group: asyncio.TaskGroup) -> None:
            newest, *rest = plan.missing
            await looked_up.put((newest, group.create_task(look_up(newest))))
            await newest_recorded.wait()
            for entry in rest:
                await looked_up.put((entry, group.create_task(look_up(entry))))
            for _ in range(width):
                await looked_up.put(None)  # the transfer slots stop

        async def transfer_next(group: asyncio.TaskGroup) -> bool:
            """Transfer the next archive into a temporary file; its commit and record run
            after the slot is free (a disk flush needs no transfer slot). False at the end."""
            nonlocal last_record
            item = await looked_up.get()
            if item is None:
                return False
            entry, lookup = item
            path = self.files.archive_path(community_id, entry.archive_id)
            verifier = await lookup
            if isinstance(verifier, Exception):
                failed_by(entry, verifier)
                return True
            try:
                async with asyncio.timeout(timeouts.archive) as budget:
                    staged = AtomicFile(path)
                    try:
                        await self._transfer(verifier, staged.write)
                    except BaseException:
                        staged.discard()
                        raise
            except (TimeoutError, ArchiveServiceError, OSError) as exc:
                failed_by(entry, exc)
                return True
            staged_files.add(staged)
            last_record = group.create_task(
                commit_and_record(entry, staged, verifier.size, budget.when(), last_record)
            )
            return True

        async def commit_and_record(
            entry: IndexEntry,
            staged: AtomicFile,
            size: int,
            deadline: float | None,
            after: asyncio.Task[None] | None,
        ) -> None:
            """Commit the file, then record the archive once `after` (the archive transferred
            before it) is recorded: archives are recorded in the order their bytes arrived."""
            try:
                with staged:  # only verified bytes get the archive's name
                    async with asyncio.timeout_at(deadline):
                        await asyncio.to_thread(staged.commit)
            except (TimeoutError, ArchiveServiceError, OSError) as exc:
                failed_by(entry, exc)
                return
            finally:
                staged_files.discard(staged)
            if after is not None:
                await asyncio.wait([after])
            meta = entry.metadata
            await asyncio.to_thread(
                self.context.store.save_archive_id,
                community_id,
                entry.archive_id,
                backend=self.name,
                from_ts=meta.from_ts,
                to_ts=meta.to_ts,
                link=link,
            )
            done.add(entry.archive_id)
            info.total_downloaded += 1
            info.bytes_downloaded += size
            self.context.emit(
                HistoryArchiveDownloaded(
                    community_id=hex_id,
                    backend=self.name,
                    from_ts=meta.from_ts,
                    to_ts=meta.to_ts,
                    archive_id=entry.archive_id,
                    size=size,
                    downloaded=info.total_downloaded,
                    total=info.total_archives,
                )
            )
            if archive_ready is not None:
                archive_ready(entry.archive_id)

        async def slot(group: asyncio.TaskGroup) -> None:
            while await transfer_next(group):
                pass

        async def newest_alone_then_the_rest() -> None:
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(look_up_in_order(group))
                    # The newest archive is fetched and recorded alone (the whole bandwidth,
                    # nothing else asked of the nodes), so it is imported (and readable) as
                    # soon as possible; the others then share the bandwidth.
                    await transfer_next(group)
                    if last_record is not None:
                        await asyncio.wait([last_record])
                    newest_recorded.set()
                    for _ in range(width):
                        group.create_task(slot(group))
            except BaseExceptionGroup as group_error:
                # What no archive's failure covers (e.g. the store): raised as itself.
                raise group_error.exceptions[0] from None
            finally:
                for staged in staged_files:
                    staged.discard()  # its commit never started

        remaining = max(0.0, timeouts.download - (loop.time() - started))
        try:
            await wait_cancellable(
                newest_alone_then_the_rest(),
                cancel,
                timeout=remaining,
                what="Codex archive downloads",
            )
        except OperationCancelled:
            info.cancelled = True
        except ArchiveTimeoutError:
            for entry in plan.missing:
                if entry.archive_id not in done and entry.archive_id not in failed:
                    fail(entry, f"the whole download exceeded {timeouts.download:g} s")
        info.failed_archive_ids = [e.archive_id for e in plan.missing if e.archive_id in failed]
        return info

    async def _download_archive(self, community_id: bytes, entry: IndexEntry) -> int:
        """Fetch, verify and save one archive (atomically: only verified bytes get its name);
        returns its size."""
        path = self.files.archive_path(community_id, entry.archive_id)
        size = 0

        def write(chunk: bytes) -> None:
            nonlocal size
            size += out.write(chunk)

        with AtomicFile(path) as out:
            await self._fetch_verified(entry.locator["cid"], self.config.max_archive_size, write)
            await asyncio.to_thread(out.commit)
        return size

    # both sides -------------------------------------------------------------------------
    async def read_index(self, community_id: bytes, link: str | None = None) -> list[IndexEntry]:
        """The owner's committed index (link None or its link), else the downloaded index of
        `link` (link None on a member: the last link recorded in the store)."""
        state = await asyncio.to_thread(self.files.read_owner_state, community_id)
        if state is not None and (link is None or parse_link(link) == state.link):
            return codex_entries(pb.CodexWakuMessageArchiveIndex.FromString(state.plain))
        if link is None:
            link = self.context.store.get_archive_link(community_id, self.name).link
            if not link:
                return []
        link = parse_link(link)
        held, entries = await self._held(community_id, link)
        if held is None:
            raise ArchiveNotFoundError(
                f"the Codex index {link} of community {community_hex(community_id)} was never "
                "downloaded on this node; download the community's history first"
            )
        return entries

    async def read_archive_bytes(
        self, community_id: bytes, link: str | None, archive_id: str
    ) -> bytes:
        """The archive as published: the local copy, else fetched through the node (verified
        against its CID) and kept."""
        check_archive_id(archive_id)
        if self.files.has_archive(community_id, archive_id):
            return await asyncio.to_thread(self.files.read_archive, community_id, archive_id)
        entries = await self.read_index(community_id, link)
        entry = next((e for e in entries if e.archive_id == archive_id), None)
        if entry is None:
            raise ArchiveNotFoundError(
                f"archive {archive_id} missing from the Codex index {link or '(current)'} of "
                f"community {community_hex(community_id)}"
            )
        await self._download_archive(community_id, entry)
        return await asyncio.to_thread(self.files.read_archive, community_id, archive_id)
