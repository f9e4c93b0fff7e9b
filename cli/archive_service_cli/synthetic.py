"""Deterministic synthetic community histories for tests, demos and benchmarks.

A history is N messages over D days across T content topics: the community's universal
`-memberUpdate` channel plus T-1 chat channels (busier channels first, Zipf-like). Payloads
follow a lognormal of chat messages with occasional large media; signatures are 65 bytes;
message hashes are Waku's deterministic message hash (14/WAKU2-MESSAGE), the envelope hash
status-go stores. Everything derives from `seed`.

The random draws are made with NumPy, a whole batch of BATCH messages at a time, each batch from
its own stream (seeded by `seed` and the batch number): only the per-message slicing and hashing
is Python. That is what lets `generate` keep up with SQLite.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import os
import pickle
import queue
import random
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import coincurve

from archive_service.errors import InvalidInputError
from archive_service.ids import (
    DEFAULT_PUBSUB_TOPIC,
    community_hex,
    content_topic,
    topic_from_chat_id,
    topic_hex,
    universal_chat_id,
)
from archive_service.store import Community, Store
from archive_service.types import StoredMessage

if TYPE_CHECKING:
    import numpy as np

DAY = 24 * 3600
DEFAULT_START_TS = 1_704_067_200  # 2024-01-01T00:00:00Z: fixed so a seed fixes every hash
BATCH = 50_000  # messages per random stream and per transaction: bounded memory, progress
_FAST_BATCH = 10_000  # rows per batch inside Store.bulk_load's one transaction
# The writer draws this many rows itself: all of a history up to this size (a generator process
# would cost more than it saves), and the head of a larger one while the generator process
# starts (~0.3 s from its launch to its first batch: interpreter, NumPy, this module), which it
# then continues from the next row. Drawing these in the writer costs ~0.1 s (NumPy's import
# and the draws); waiting for the process instead left the writer idle for the whole start.
_INLINE_MAX = BATCH

# Payload sizes in bytes. Chat traffic (text, reactions, edits, membership updates: protobuf,
# signature and envelope overhead) is lognormal around a few hundred bytes; a small share are
# images, lognormal around 100 kB and capped at 1 MiB (Waku's maximum message size).
CHAT_MEDIAN, CHAT_SIGMA, CHAT_MIN, CHAT_MAX = 300, 0.7, 64, 16 * 1024
MEDIA_MEDIAN, MEDIA_SIGMA, MEDIA_MIN, MEDIA_MAX = 100_000, 0.6, 4096, 1024 * 1024
MEDIA_SHARE = 0.003
UNIVERSAL_SHARE = 0.02  # membership updates, archive links
THIRD_PARTY_SHARE = 0.002  # bridged messages (e.g. a Discord import) carry a third-party ID
PUBSUB_TOPIC = DEFAULT_PUBSUB_TOPIC  # of every message's envelope (part of its hash)

_POOL_SIZE = 4 * 1024 * 1024  # payloads are slices of one random pool: encrypted-looking, cheap
_FRAME = struct.Struct("<Q")  # length of a pickled batch from the generator process

# One batch as waku_messages' columns, in Store.save_waku_rows' encodings:
# (sig, timestamp, topic, payload, padding, hash, third_party_id).
Columns = tuple[list[Any], ...]


@dataclass(frozen=True)
class SyntheticCommunity:
    private_key: bytes  # 32 bytes: the owner (control node) key
    community_id: bytes  # its compressed public key
    chat_ids: tuple[str, ...]  # chat channels (the universal channel is implied)

    @property
    def topics(self) -> tuple[bytes, ...]:
        """Every content topic of the community: the universal channel first."""
        universal = topic_from_chat_id(universal_chat_id(self.community_id))
        return (universal, *(topic_from_chat_id(c) for c in self.chat_ids))


@dataclass(frozen=True)
class GenerateSummary:
    community_id: bytes
    topics: tuple[bytes, ...]
    messages: int  # generated
    new_messages: int  # not already in the store
    payload_bytes: int
    start_ts: int
    end_ts: int  # exclusive
    seconds: float

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("inf")


def synthetic_community(seed: int, chats: int) -> SyntheticCommunity:
    """The owner key and `chats` chat channels, derived from `seed` alone."""
    rng = random.Random(f"community:{seed}")
    while True:
        secret = rng.randbytes(32)
        try:
            key = coincurve.PrivateKey(secret)
        except ValueError:  # zero or >= the curve order: astronomically rare, draw again
            continue
        break
    community_id = key.public_key.format(compressed=True)
    # status-go chat IDs are the community ID followed by a UUID.
    chat_ids = tuple(community_hex(community_id) + str(_uuid4(rng)) for _ in range(max(chats, 0)))
    return SyntheticCommunity(secret, community_id, chat_ids)


def _uuid4(rng: random.Random) -> str:
    b = bytearray(rng.randbytes(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def check_arguments(messages: int, days: float, topics: int) -> None:
    """InvalidInputError naming the first bad argument (as its CLI flag)."""
    if messages < 0:
        raise InvalidInputError(f"--messages must be >= 0 (got {messages})")
    if not days > 0:
        raise InvalidInputError(f"--days must be > 0 (got {days})")
    if topics < 1:
        raise InvalidInputError(
            f"--topics must be >= 1 (got {topics}): the universal channel is always one"
        )


def iter_messages(
    community: SyntheticCommunity,
    messages: int,
    days: float,
    seed: int,
    start_ts: int = DEFAULT_START_TS,
) -> Iterator[StoredMessage]:
    """The history in timestamp order; messages i spread evenly over [start, start+days)."""
    topic_of = {topic_hex(t): t for t in community.topics}
    for columns in _column_batches(community, messages, days, seed, start_ts):
        for sig, ts, topic, payload, _padding, hash_hex, tpid in zip(*columns, strict=True):
            yield StoredMessage(
                bytes(sig), ts, topic_of[topic], bytes(payload), b"", bytes.fromhex(hash_hex), tpid
            )


def _stream(*labels: object) -> np.random.Generator:
    """An independent random stream named by labels (any seed, negative ones included)."""
    import numpy as np  # only once a history is drawn: `archive-service` starts without it

    name = ":".join(str(label) for label in labels).encode()
    return np.random.Generator(np.random.PCG64(int.from_bytes(hashlib.sha256(name).digest())))


def _column_batches(
    community: SyntheticCommunity,
    messages: int,
    days: float,
    seed: int,
    start_ts: int,
    rows_per_batch: int = BATCH,
    first_row: int = 0,
    end_row: int | None = None,
) -> Iterator[Columns]:
    """The history in batches of at most rows_per_batch (<= BATCH) rows, as columns already in
    waku_messages' encodings: the inserting process then does no per-row Python work.
    Only rows first_row..end_row (default: all): the same rows as the whole history's there
    (a random stream is drawn whole; only the rows outside are not sliced or hashed).

    Blobs are bytearray slices of one random pool: no copy into bytes objects, and the store's
    driver (apsw) binds any buffer."""
    import numpy as np

    check_arguments(messages, days, len(community.topics))
    end_row = messages if end_row is None else end_row
    if not 0 <= first_row <= end_row <= messages:
        raise ValueError(f"rows {first_row}..{end_row} outside 0..{messages}")
    pool = bytearray(_stream("pool", seed).bytes(_POOL_SIZE))
    pool_max = _POOL_SIZE - MEDIA_MAX
    topic_texts = [topic_hex(t) for t in community.topics]
    # Zipf-like weights over chats; the universal channel gets a fixed small share.
    chat_weights = [1.0 / (i + 1) for i in range(len(topic_texts) - 1)]
    total = sum(chat_weights)
    weights = (
        [UNIVERSAL_SHARE] + [(1 - UNIVERSAL_SHARE) * w / total for w in chat_weights]
        if chat_weights
        else [1.0]
    )
    cum_weights = np.cumsum(weights)
    # Each message's hash input ends with its content topic and 8-byte timestamp: all topics'
    # names have the same length, so these tails are rows of one byte matrix.
    topic_names = np.frombuffer(
        b"".join(content_topic(t).encode() for t in community.topics), dtype=np.uint8
    ).reshape(len(topic_texts), -1)
    hash_prefix = hashlib.sha256(PUBSUB_TOPIC.encode())  # meta is empty
    span = int(days * DAY)
    padding = bytearray()  # status-go leaves it empty; one shared (never mutated) value

    for first in range(first_row - first_row % BATCH, end_row, BATCH):
        n = min(BATCH, messages - first)
        rng = _stream("messages", seed, first // BATCH)
        u = rng.random((7, n))
        sigs = bytearray(rng.bytes(65 * n))
        # Evenly spread with jitter: non-decreasing, inside [start, start + span).
        offsets = np.floor((np.arange(first, first + n) + u[0]) * (span / messages))
        ts = start_ts + np.minimum(offsets, max(span - 1, 0)).astype(np.int64)
        media = u[1] < MEDIA_SHARE
        normal = np.sqrt(-2.0 * np.log1p(-u[2])) * np.cos(2.0 * math.pi * u[3])  # Box-Muller
        sizes = np.exp(
            np.where(media, math.log(MEDIA_MEDIAN), math.log(CHAT_MEDIAN))
            + np.where(media, MEDIA_SIGMA, CHAT_SIGMA) * normal
        )
        sizes = np.clip(
            sizes, np.where(media, MEDIA_MIN, CHAT_MIN), np.where(media, MEDIA_MAX, CHAT_MAX)
        ).astype(np.int64)
        starts = (u[4] * pool_max).astype(np.int64)
        topics = np.minimum(
            np.searchsorted(cum_weights, u[5] * cum_weights[-1], side="right"),
            len(topic_texts) - 1,
        )
        bridged = np.flatnonzero(u[6] < THIRD_PARTY_SHARE)
        ts_ns = (ts * 1_000_000_000).astype(">u8").view(np.uint8).reshape(n, 8)
        tails = np.hstack((topic_names[topics], ts_ns)).tobytes()
        tail_len = topic_names.shape[1] + 8

        for part in range(max(first_row - first, 0), min(end_row - first, n), rows_per_batch):
            end = min(part + rows_per_batch, n, end_row - first)
            payloads = [
                pool[a : a + size]
                for a, size in zip(starts[part:end].tolist(), sizes[part:end].tolist(), strict=True)
            ]
            hashes = []
            for j, payload in enumerate(payloads, part):
                h = hash_prefix.copy()
                h.update(payload)
                h.update(tails[tail_len * j : tail_len * (j + 1)])
                hashes.append(h.hexdigest())
            third_party = [""] * (end - part)
            for j in bridged[(bridged >= part) & (bridged < end)].tolist():
                third_party[j - part] = f"bridge-{seed}-{first + j}"
            yield (
                [sigs[k : k + 65] for k in range(65 * part, 65 * end, 65)],
                ts[part:end].tolist(),
                list(map(topic_texts.__getitem__, topics[part:end].tolist())),
                payloads,
                [padding] * (end - part),
                hashes,
                third_party,
            )


def _child_main() -> None:
    """Entry point of the generator process: arguments as JSON on argv; on stdout, each batch's
    columns pickled in a frame (8-byte length, then the pickle), then an empty frame."""
    # Batches hold no reference cycles: the collector would only walk them.
    gc.disable()
    args = json.loads(sys.argv[1])
    community = SyntheticCommunity(
        bytes.fromhex(args["key"]), bytes.fromhex(args["id"]), tuple(args["chats"])
    )
    out = sys.stdout.buffer
    for columns in _column_batches(
        community,
        args["messages"],
        args["days"],
        args["seed"],
        args["start_ts"],
        args["rows_per_batch"],
        args["first_row"],
    ):
        data = pickle.dumps(columns, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_FRAME.pack(len(data)))
        out.write(data)
        del data
    out.write(_FRAME.pack(0))
    out.flush()


def _read_frames(stream: IO[bytes], frames: queue.Queue[bytes | None]) -> None:
    """Reader thread: moves the child's frames into `frames` (b"" at the end, None if the
    stream broke off). The child then never waits for this process to finish inserting a
    batch before it can hand over the next, and the copying out of the pipe happens while
    SQLite works with the GIL released."""
    while True:
        head = stream.read(_FRAME.size)
        if len(head) < _FRAME.size:
            break
        (size,) = _FRAME.unpack(head)
        data = stream.read(size) if size else b""
        if len(data) < size:
            break
        frames.put(data)
        if not size:
            return
    frames.put(None)


def _batches(
    community: SyntheticCommunity,
    messages: int,
    days: float,
    seed: int,
    start_ts: int,
    rows_per_batch: int,
) -> Iterator[Columns]:
    """Column batches of the history (see _column_batches). Large histories are generated
    in a child process while this one inserts: a thread would contend for the GIL with
    the driver's per-row work. A plain subprocess, not multiprocessing: that would re-import the
    caller's __main__ (spawn) or fork a process that may hold other threads' locks (fork).
    The first _INLINE_MAX rows are drawn here while the child starts (it begins after them).
    Memory stays bounded: the child is at most a few batches ahead."""
    if messages <= _INLINE_MAX:
        yield from _column_batches(community, messages, days, seed, start_ts, rows_per_batch)
        return
    args = {
        "key": community.private_key.hex(),
        "id": community.community_id.hex(),
        "chats": list(community.chat_ids),
        "messages": messages,
        "days": days,
        "seed": seed,
        "start_ts": start_ts,
        "rows_per_batch": rows_per_batch,
        "first_row": _INLINE_MAX,
    }
    code = "from archive_service_cli.synthetic import _child_main; _child_main()"
    # NumPy's BLAS threads would only compete with this process for the second core.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        frames: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
        reader = threading.Thread(
            target=_read_frames, args=(child.stdout, frames), name="history-reader", daemon=True
        )
        reader.start()
        try:
            yield from _column_batches(
                community, messages, days, seed, start_ts, rows_per_batch, end_row=_INLINE_MAX
            )
            while True:
                frame = frames.get()
                if frame is None:
                    error = child.stderr.read().decode(errors="replace").strip()
                    last = error.splitlines()[-1] if error else f"exit code {child.wait()}"
                    raise InvalidInputError(f"the history generator process failed: {last}")
                if not frame:
                    return
                columns = pickle.loads(frame)
                del frame  # not kept while the batch is inserted
                yield columns
        finally:
            if child.poll() is None:
                child.kill()
            while reader.is_alive():  # it may be blocked on a full queue
                with contextlib.suppress(queue.Empty):
                    frames.get(timeout=0.1)


def generate_history(
    store: Store,
    *,
    messages: int,
    days: float,
    topics: int,
    seed: int,
    start_ts: int = DEFAULT_START_TS,
    progress: Callable[[int], None] | None = None,
) -> GenerateSummary:
    """Create the community (as its control node) and fill `store` with its history.

    Runs again with the same arguments add nothing new (messages dedupe by hash).
    `progress(n)` is called after each batch with the messages done so far. A new and empty
    store (created by this Store object) is filled in one transaction (Store.bulk_load's fast
    path: all or nothing); any other store commits batch by batch.
    """
    check_arguments(messages, days, topics)
    community = synthetic_community(seed, topics - 1)
    started = time.perf_counter()
    done = new = payload_bytes = 0
    with store.bulk_load(messages) as fast:
        store.save_community(
            Community(
                id=community.community_id,
                private_key=community.private_key,
                chat_ids=community.chat_ids,
            )
        )
        # Batches are transactions only on the safe path; on the fast path smaller ones fill
        # and drain the generator pipeline sooner.
        rows_per_batch = _FAST_BATCH if fast else BATCH
        for columns in _batches(community, messages, days, seed, start_ts, rows_per_batch):
            # Rows are zipped as the driver takes them: zip reuses its tuple, nothing piles up.
            new += store.save_waku_rows(zip(*columns, strict=True))
            done += len(columns[0])
            payload_bytes += sum(map(len, columns[3]))
            if progress:
                progress(done)
    return GenerateSummary(
        community_id=community.community_id,
        topics=community.topics,
        messages=done,
        new_messages=new,
        payload_bytes=payload_bytes,
        start_ts=start_ts,
        end_ts=start_ts + int(days * DAY),
        seconds=time.perf_counter() - started,
    )
