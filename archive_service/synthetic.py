"""Deterministic synthetic community histories for tests, demos and benchmarks.

A history is N messages over D days across T content topics: the community's universal
`-memberUpdate` channel plus T-1 chat channels (busier channels first, Zipf-like). Payloads
follow a lognormal of chat messages with occasional large media; signatures are 65 bytes,
message hashes the Keccak-256 of the message's content. Everything derives from `seed`.
"""

from __future__ import annotations

import ctypes
import json
import math
import pickle
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import coincurve

from archive_service.archives import StoredMessage
from archive_service.errors import InvalidInputError
from archive_service.ids import community_hex, keccak256, topic_from_chat_id, universal_chat_id
from archive_service.store import Community, Store

DAY = 24 * 3600
DEFAULT_START_TS = 1_704_067_200  # 2024-01-01T00:00:00Z: fixed so a seed fixes every hash
BATCH = 50_000  # messages per transaction: bounded memory and WAL, visible progress
_INLINE_MAX = 4 * BATCH  # below this, starting a generator process costs more than it saves

# Payload sizes in bytes. Chat traffic (text, reactions, edits, membership updates: protobuf,
# signature and envelope overhead) is lognormal around a few hundred bytes; a small share are
# images, lognormal around 100 kB and capped at 1 MiB (Waku's maximum message size).
CHAT_MEDIAN, CHAT_SIGMA, CHAT_MIN, CHAT_MAX = 300, 0.7, 64, 16 * 1024
MEDIA_MEDIAN, MEDIA_SIGMA, MEDIA_MIN, MEDIA_MAX = 100_000, 0.6, 4096, 1024 * 1024
MEDIA_SHARE = 0.003
UNIVERSAL_SHARE = 0.02  # membership updates, archive links
THIRD_PARTY_SHARE = 0.002  # bridged messages (e.g. a Discord import) carry a third-party ID

_POOL_SIZE = 4 * 1024 * 1024  # payloads are slices of one random pool: encrypted-looking, cheap


def _oneshot_keccak256() -> Callable[[bytes], bytes]:
    """ids.keccak256 spends ~7 µs a call setting up pycryptodome's hash object (ctypes
    backend); the library's native one-shot entry point needs one call. Checked against
    ids.keccak256 on load, with that as the fallback."""
    try:
        from Crypto.Hash.keccak import _raw_keccak_lib

        fn = ctypes.CDLL(_raw_keccak_lib._name).keccak_oneshot
        fn.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
            ctypes.c_size_t, ctypes.c_uint8, ctypes.c_uint8,
        ]  # fmt: skip
        fn.restype = ctypes.c_int
    except (ImportError, AttributeError, OSError):
        return keccak256

    def digest(data: bytes) -> bytes:
        out = ctypes.create_string_buffer(32)
        # capacity 64 bytes, 24 rounds, padding 0x01: legacy Keccak-256
        if fn(data, len(data), out, 32, 64, 24, 1):
            return keccak256(data)
        return out.raw

    probe = b"archive-service" * 20
    return (
        digest if digest(probe) == keccak256(probe) and digest(b"") == keccak256(b"") else keccak256
    )


_keccak = _oneshot_keccak256()


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
    check_arguments(messages, days, len(community.topics))
    rng = random.Random(f"messages:{seed}")
    pool = rng.randbytes(_POOL_SIZE)
    pool_max = _POOL_SIZE - MEDIA_MAX
    topics = community.topics
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
    chat_mu, media_mu = math.log(CHAT_MEDIAN), math.log(MEDIA_MEDIAN)
    lognorm, rand, randrange = rng.lognormvariate, rng.random, rng.randrange

    for first in range(0, messages, BATCH):
        n = min(BATCH, messages - first)
        chosen = rng.choices(topics, cum_weights=cum_weights, k=n)
        sigs = rng.randbytes(65 * n)
        for j in range(n):
            i = first + j
            # Evenly spread with jitter: non-decreasing, inside [start, start + span).
            ts = start_ts + int((i + rand()) * span / messages)
            if rand() < MEDIA_SHARE:
                size = min(max(int(lognorm(media_mu, MEDIA_SIGMA)), MEDIA_MIN), MEDIA_MAX)
            else:
                size = min(max(int(lognorm(chat_mu, CHAT_SIGMA)), CHAT_MIN), CHAT_MAX)
            off = randrange(pool_max)
            payload = pool[off : off + size]
            sig = sigs[65 * j : 65 * j + 65]
            topic = chosen[j]
            tpid = f"bridge-{seed}-{i}" if rand() < THIRD_PARTY_SHARE else ""
            h = _keccak(b"%b%b%d%b" % (sig, topic, ts, payload))
            yield StoredMessage(sig, ts, topic, payload, b"", h, tpid)


def _accumulate(values: list[float]) -> Iterator[float]:
    acc = 0.0
    for v in values:
        acc += v
        yield acc


def _batch_list(
    community: SyntheticCommunity, messages: int, days: float, seed: int, start_ts: int
) -> Iterator[list[StoredMessage]]:
    batch: list[StoredMessage] = []
    for m in iter_messages(community, messages, days, seed, start_ts):
        batch.append(m)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _child_main() -> None:
    """Entry point of the generator process: arguments as JSON on argv, pickled batches on
    stdout, then None."""
    args = json.loads(sys.argv[1])
    community = SyntheticCommunity(
        bytes.fromhex(args["key"]), bytes.fromhex(args["id"]), tuple(args["chats"])
    )
    out = sys.stdout.buffer
    for batch in _batch_list(
        community, args["messages"], args["days"], args["seed"], args["start_ts"]
    ):
        pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
    pickle.dump(None, out)
    out.flush()


def _batches(
    community: SyntheticCommunity, messages: int, days: float, seed: int, start_ts: int
) -> Iterator[list[StoredMessage]]:
    """Batches of the history. Large histories are generated in a child process while this
    one inserts the previous batch: a thread would contend for the GIL with sqlite3's
    per-row work. A plain subprocess, not multiprocessing: that would re-import the caller's
    __main__ (spawn) or fork a process that may hold other threads' locks (fork)."""
    if messages <= _INLINE_MAX:
        yield from _batch_list(community, messages, days, seed, start_ts)
        return
    args = {
        "key": community.private_key.hex(),
        "id": community.community_id.hex(),
        "chats": list(community.chat_ids),
        "messages": messages,
        "days": days,
        "seed": seed,
        "start_ts": start_ts,
    }
    code = "from archive_service.synthetic import _child_main; _child_main()"
    with subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        try:
            while True:
                try:
                    batch = pickle.load(child.stdout)
                except EOFError:
                    error = child.stderr.read().decode(errors="replace").strip()
                    last = error.splitlines()[-1] if error else f"exit code {child.wait()}"
                    raise InvalidInputError(
                        f"the history generator process failed: {last}"
                    ) from None
                if batch is None:
                    return
                yield batch
        finally:
            if child.poll() is None:
                child.kill()


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
    `progress(n)` is called after each committed batch with the messages done so far.
    """
    check_arguments(messages, days, topics)
    community = synthetic_community(seed, topics - 1)
    started = time.perf_counter()
    store.save_community(
        Community(
            id=community.community_id,
            private_key=community.private_key,
            chat_ids=community.chat_ids,
        )
    )
    done = new = payload_bytes = 0
    with store.bulk_writes():
        for batch in _batches(community, messages, days, seed, start_ts):
            new += store.save_waku_messages(batch)
            done += len(batch)
            payload_bytes += sum(len(m.payload) for m in batch)
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
