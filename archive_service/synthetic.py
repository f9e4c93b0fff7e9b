"""Deterministic synthetic community histories for tests, demos and benchmarks.

A history is N messages over D days across T content topics: the community's universal
`-memberUpdate` channel plus T-1 chat channels (busier channels first, Zipf-like). Payloads
follow a lognormal of chat messages with occasional large media; signatures are 65 bytes,
message hashes the Keccak-256 of the message's content. Everything derives from `seed`.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import math
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
from typing import IO

import coincurve

from archive_service.archives import StoredMessage
from archive_service.errors import InvalidInputError
from archive_service.ids import (
    community_hex,
    keccak256,
    topic_from_chat_id,
    topic_hex,
    universal_chat_id,
)
from archive_service.store import Community, Store, WakuRow

DAY = 24 * 3600
DEFAULT_START_TS = 1_704_067_200  # 2024-01-01T00:00:00Z: fixed so a seed fixes every hash
BATCH = 50_000  # messages per transaction: bounded memory and WAL, visible progress
_FAST_BATCH = 10_000  # rows per batch inside Store.bulk_load's one transaction
# Below this, starting a generator process (~0.3 s to its first batch) costs more than it saves.
_INLINE_MAX = BATCH

# Payload sizes in bytes. Chat traffic (text, reactions, edits, membership updates: protobuf,
# signature and envelope overhead) is lognormal around a few hundred bytes; a small share are
# images, lognormal around 100 kB and capped at 1 MiB (Waku's maximum message size).
CHAT_MEDIAN, CHAT_SIGMA, CHAT_MIN, CHAT_MAX = 300, 0.7, 64, 16 * 1024
MEDIA_MEDIAN, MEDIA_SIGMA, MEDIA_MIN, MEDIA_MAX = 100_000, 0.6, 4096, 1024 * 1024
MEDIA_SHARE = 0.003
UNIVERSAL_SHARE = 0.02  # membership updates, archive links
THIRD_PARTY_SHARE = 0.002  # bridged messages (e.g. a Discord import) carry a third-party ID

_POOL_SIZE = 4 * 1024 * 1024  # payloads are slices of one random pool: encrypted-looking, cheap
_NV_MAGICCONST = 4 * math.exp(-0.5) / math.sqrt(2.0)  # random.normalvariate's constant
_FRAME = struct.Struct("<Q")  # length of a pickled batch from the generator process


def _load_oneshot() -> Callable[..., int] | None:
    """pycryptodome's native one-shot Keccak entry point, or None (then ids.keccak256 is used).

    ids.keccak256 spends ~7 µs a call setting up pycryptodome's hash object; this needs one
    ctypes call. PyDLL keeps the GIL for that ~2 µs call: releasing and retaking it was ~5%
    of it."""
    try:
        from Crypto.Hash.keccak import _raw_keccak_lib

        fn = ctypes.PyDLL(_raw_keccak_lib._name).keccak_oneshot
    except (ImportError, AttributeError, OSError):
        return None
    fn.restype = ctypes.c_int
    return fn


_ONESHOT = _load_oneshot()


def _keccak_hasher() -> Callable[[bytes], bytes]:
    """A Keccak-256 function with its own ctypes buffers: one per generator, so concurrent
    generators never share them. No argtypes: every argument is passed as a ctypes object of
    the C type, which halves ctypes' per-call overhead (it was as much as the hashing)."""
    fn = _ONESHOT
    if fn is None:
        return keccak256
    out = ctypes.create_string_buffer(32)
    size_t = ctypes.c_size_t
    length = size_t()
    # out_len 32, capacity 64 bytes, 24 rounds, padding 0x01: legacy Keccak-256
    out_len, capacity, rounds, padding = (
        size_t(32),
        size_t(64),
        ctypes.c_uint8(24),
        ctypes.c_uint8(1),
    )

    def digest(data: bytes) -> bytes:
        length.value = len(data)
        if fn(data, length, out, out_len, capacity, rounds, padding):
            return keccak256(data)
        return out.raw

    return digest


def _check_oneshot() -> None:
    global _ONESHOT
    digest = _keccak_hasher()
    probe = b"archive-service" * 20
    if digest(probe) != keccak256(probe) or digest(b"") != keccak256(b""):
        _ONESHOT = None


_check_oneshot()  # a library whose entry point differs falls back to ids.keccak256


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
    for rows, _payload_bytes in _row_batches(community, messages, days, seed, start_ts):
        for sig, ts, topic, payload, _padding, hash_hex, tpid in rows:
            yield StoredMessage(
                bytes(sig), ts, topic_of[topic], bytes(payload), b"", bytes.fromhex(hash_hex), tpid
            )


def _row_batches(
    community: SyntheticCommunity,
    messages: int,
    days: float,
    seed: int,
    start_ts: int,
    rows_per_batch: int = BATCH,
) -> Iterator[tuple[list[WakuRow], int]]:
    """The history in batches of at most rows_per_batch (<= BATCH) rows, with their payload
    bytes, already in waku_messages' encodings (what Store.save_waku_rows takes): the inserting
    process then does no per-row Python work.

    Blobs are bytearrays (slices of bytearrays): sqlite3 binds them directly, while each bytes
    value costs it an adapter lookup (~0.5 µs). The random draws are those of the first
    version, which used rng.lognormvariate and rng.randrange: both are inlined here (same
    algorithm, same draws; tests compare with that version): their call overhead was ~10% of
    the generator's time."""
    check_arguments(messages, days, len(community.topics))
    rng = random.Random(f"messages:{seed}")
    pool = bytearray(rng.randbytes(_POOL_SIZE))
    pool_max = _POOL_SIZE - MEDIA_MAX
    pool_bits = pool_max.bit_length()
    topics = [(t, topic_hex(t)) for t in community.topics]
    # Zipf-like weights over chats; the universal channel gets a fixed small share.
    chat_weights = [1.0 / (i + 1) for i in range(len(topics) - 1)]
    total = sum(chat_weights)
    weights = (
        [UNIVERSAL_SHARE] + [(1 - UNIVERSAL_SHARE) * w / total for w in chat_weights]
        if chat_weights
        else [1.0]
    )
    cum_weights = list(_accumulate(weights))
    span = int(days * DAY)
    chat = (math.log(CHAT_MEDIAN), CHAT_SIGMA, CHAT_MIN, CHAT_MAX)
    media = (math.log(MEDIA_MEDIAN), MEDIA_SIGMA, MEDIA_MIN, MEDIA_MAX)
    rand, getrandbits, log, exp = rng.random, rng.getrandbits, math.log, math.exp
    digest = _keccak_hasher()
    padding = bytearray()  # status-go leaves it empty; one shared (never mutated) value

    # BATCH is a unit of the random stream (topics and signatures are drawn per BATCH
    # messages): only the batches handed out may be smaller.
    for first in range(0, messages, BATCH):
        n = min(BATCH, messages - first)
        chosen = rng.choices(topics, cum_weights=cum_weights, k=n)
        sigs = bytearray(rng.randbytes(65 * n))
        for part in range(0, n, rows_per_batch):
            rows: list[WakuRow] = []
            append = rows.append
            payload_bytes = 0
            for j in range(part, min(part + rows_per_batch, n)):
                i = first + j
                # Evenly spread with jitter: non-decreasing, inside [start, start + span).
                ts = start_ts + int((i + rand()) * span / messages)
                mu, sigma, low, high = media if rand() < MEDIA_SHARE else chat
                while True:  # rng.lognormvariate(mu, sigma): Kinderman-Monahan normal, then exp
                    u1 = rand()
                    u2 = 1.0 - rand()
                    z = _NV_MAGICCONST * (u1 - 0.5) / u2
                    if z * z / 4.0 <= -log(u2):
                        break
                size = int(exp(mu + z * sigma))
                size = low if size < low else high if size > high else size
                off = getrandbits(pool_bits)  # rng.randrange(pool_max)
                while off >= pool_max:
                    off = getrandbits(pool_bits)
                payload = pool[off : off + size]
                payload_bytes += size
                sig = sigs[65 * j : 65 * j + 65]
                topic, topic_text = chosen[j]
                tpid = f"bridge-{seed}-{i}" if rand() < THIRD_PARTY_SHARE else ""
                h = digest(b"%b%b%d%b" % (sig, topic, ts, payload))
                append((sig, ts, topic_text, payload, padding, h.hex(), tpid))
            yield rows, payload_bytes


def _accumulate(values: list[float]) -> Iterator[float]:
    acc = 0.0
    for v in values:
        acc += v
        yield acc


def _child_main() -> None:
    """Entry point of the generator process: arguments as JSON on argv; on stdout, each batch
    pickled in a frame (8-byte length, then the pickle), then an empty frame."""
    # Rows hold no reference cycles: the collector would only walk them (~4% of this process).
    gc.disable()
    args = json.loads(sys.argv[1])
    community = SyntheticCommunity(
        bytes.fromhex(args["key"]), bytes.fromhex(args["id"]), tuple(args["chats"])
    )
    out = sys.stdout.buffer
    for batch in _row_batches(
        community,
        args["messages"],
        args["days"],
        args["seed"],
        args["start_ts"],
        args["rows_per_batch"],
    ):
        rows, payload_bytes = batch
        # Column by column: the parent zips them back into rows in C, and 7 tuples of
        # bytearray/int/str (un)pickle at 1/2 to 2/3 of the cost of one tuple per row.
        columns = tuple(zip(*rows, strict=True))
        data = pickle.dumps((columns, payload_bytes), protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_FRAME.pack(len(data)))
        out.write(data)
        del data
    out.write(_FRAME.pack(0))
    out.flush()


def _read_frames(stream: IO[bytes], frames: queue.Queue[bytes | None]) -> None:
    """Reader thread: moves the child's frames into `frames` (b"" at the end, None if the
    stream broke off). The child then never waits for this process to finish inserting a
    batch before it can hand over the next, and the copying out of the pipe happens while
    sqlite3 works with the GIL released."""
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
) -> Iterator[tuple[list[WakuRow], int]]:
    """Row batches of the history (with their payload bytes). Large histories are generated
    in a child process while this one inserts: a thread would contend for the GIL with
    sqlite3's per-row work. A plain subprocess, not multiprocessing: that would re-import the
    caller's __main__ (spawn) or fork a process that may hold other threads' locks (fork).
    Memory stays bounded: the child is at most a few batches ahead."""
    if messages <= _INLINE_MAX:
        yield from _row_batches(community, messages, days, seed, start_ts, rows_per_batch)
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
    }
    code = "from archive_service.synthetic import _child_main; _child_main()"
    with subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        frames: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
        reader = threading.Thread(
            target=_read_frames, args=(child.stdout, frames), name="history-reader", daemon=True
        )
        reader.start()
        try:
            while True:
                frame = frames.get()
                if frame is None:
                    error = child.stderr.read().decode(errors="replace").strip()
                    last = error.splitlines()[-1] if error else f"exit code {child.wait()}"
                    raise InvalidInputError(f"the history generator process failed: {last}")
                if not frame:
                    return
                columns, payload_bytes = pickle.loads(frame)
                del frame  # not kept while the batch is inserted
                yield list(zip(*columns, strict=True)), payload_bytes
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
        for rows, size in _batches(community, messages, days, seed, start_ts, rows_per_batch):
            new += store.save_waku_rows(rows)
            done += len(rows)
            payload_bytes += size
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
