"""`archive-service inspect`: decode any artefact of the archive flow into plain data.

The library decodes its own formats (link messages, archives, hash-ratchet envelopes); each
installed backend decodes its index kind (`BackendFactory.decode_index`) and its other
artefacts (.torrent, magnet, CID, manifest) through the `archive_inspect` hook.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import pluggy

from archive_service.archives import decode_archive
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.crypto.signing import verify_archive_link
from archive_service.errors import ArchiveServiceError, InvalidInputError, SizeLimitError
from archive_service.ids import community_hex, topic_hex
from archive_service.index import metadata_from_pb
from archive_service.plugins import backend_factories
from archive_service.types import IndexEntry
from archive_service.varint import decode as decode_varint
from archive_service.wire import app_pb, enc_pb, pb
from archive_service.wire.parsing import parse_or_none
from archive_service_cli.hookspecs import with_application_hooks

MiB = 1024 * 1024


@dataclass(frozen=True)
class InspectLimits:
    """The caps a member applies to what peers send, so `inspect` of a hostile file is refused
    as quickly as a download of it would be. The byte caps are the backends' defaults
    (backend.torrent.max_index_bytes and backend.codex.max_index_size; the larger archive cap,
    backend.torrent.max_archive_bytes); an index within 16 MiB holds at most ~190,000
    entries, and 100,000 weekly windows are ~1,900 years of history."""

    max_file_bytes: int = 256 * MiB
    max_index_bytes: int = 16 * MiB
    max_index_entries: int = 100_000


MEMBER_LIMITS = InspectLimits()
NO_LIMITS_HINT = "pass --no-limits to inspect it anyway"


def check_file_size(size: int, what: str, limits: InspectLimits | None) -> None:
    """Before reading a file: refuse one larger than any artefact a member accepts."""
    if limits is not None and size > limits.max_file_bytes:
        raise SizeLimitError(
            f"{what} is {size:,} bytes, over the {limits.max_file_bytes:,}-byte cap of the "
            f"largest archive a member accepts; {NO_LIMITS_HINT}"
        )


def _looks_like_index(data: bytes) -> bool:
    """The first field is an `archives` map entry (field 1) whose key (field 1) is an archive
    ID '0x…': true of both index kinds, of no other artefact."""
    if data[:1] != b"\x0a":
        return False
    try:
        _, pos = decode_varint(data, 1, max_bits=64)
    except ValueError:
        return False
    return data[pos : pos + 4] == b"\x0a\x420x"  # a 66-character key


def _count_top_level(data: bytes, field: int, stop_after: int) -> int:
    """Occurrences of length-delimited `field` at the top level of a protobuf message,
    counted by walking the wire format (no objects allocated), stopping past `stop_after`."""
    count, pos, end = 0, 0, len(data)
    while pos < end and count <= stop_after:
        key, pos = decode_varint(data, pos, max_bits=64)
        wire_type = key & 7
        if wire_type == 2:
            length, pos = decode_varint(data, pos, max_bits=64)
            pos += length
            count += key >> 3 == field
        elif wire_type == 0:
            _, pos = decode_varint(data, pos, max_bits=64)
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        else:
            break  # groups or garbage: the decoder that follows says what is wrong
    return count


def check_index_limits(data: bytes, limits: InspectLimits | None) -> None:
    """An index over a member's caps (bytes, entries) is refused before it is decoded. Any
    message whose field 1 repeats is counted, whatever its keys look like (a forged index
    need not use archive IDs); an envelope or a link message has one field 1."""
    if limits is None or data[:1] != b"\x0a":
        return
    if _looks_like_index(data) and len(data) > limits.max_index_bytes:
        raise SizeLimitError(
            f"index of {len(data):,} bytes is over the {limits.max_index_bytes:,}-byte cap a "
            f"member applies; {NO_LIMITS_HINT}"
        )
    try:
        entries = _count_top_level(data, 1, limits.max_index_entries)
    except ValueError:
        return  # not well-formed: the decoder reports it
    if entries > limits.max_index_entries:
        raise SizeLimitError(
            f"index has over {limits.max_index_entries:,} entries, the cap of this tool; "
            f"{NO_LIMITS_HINT}"
        )
    if entries > 1 and len(data) > limits.max_index_bytes:
        raise SizeLimitError(
            f"index of {len(data):,} bytes is over the {limits.max_index_bytes:,}-byte cap a "
            f"member applies; {NO_LIMITS_HINT}"
        )


def _metadata(md: pb.WakuMessageArchiveMetadata) -> dict[str, Any]:
    meta = metadata_from_pb(md)
    return {"from": meta.from_ts, "to": meta.to_ts, "topics": [topic_hex(t) for t in meta.topics]}


def _link_message(data: bytes) -> dict[str, Any] | None:
    envelope = parse_or_none(app_pb.ApplicationMetadataMessage, data)
    if (
        envelope is None
        or envelope.type != app_pb.ApplicationMetadataMessage.COMMUNITY_MESSAGE_ARCHIVE_LINK
    ):
        return None
    try:
        link = verify_archive_link(data)
    except ArchiveServiceError as exc:
        return {"kind": "archive-link-message", "valid_signature": False, "error": str(exc)}
    return {
        "kind": "archive-link-message",
        "valid_signature": True,
        "community_id": community_hex(link.community_id),
        "clock": link.clock,
        "link": link.link,
    }


def _encrypted_envelope(data: bytes) -> dict[str, Any] | None:
    message = parse_or_none(enc_pb.ProtocolMessage, data)
    if message is None:
        return None
    for key, encrypted in message.encrypted_message.items():
        if encrypted.HasField("HR_header"):
            header = encrypted.HR_header
            return {
                "installation_id": message.installation_id,
                "recipient": key,
                "group_id": "0x" + header.group_id.hex(),
                "key_id": "0x" + header.key_id.hex(),
                "seq_no": header.seq_no,
                "ciphertext_size": len(encrypted.payload),
            }
    return None


def inspect_bytes(
    data: bytes,
    *,
    community_id: bytes | None = None,
    crypto: HashRatchet | None = None,
    text: str | None = None,
    pm: pluggy.PluginManager | None = None,
    limits: InspectLimits | None = MEMBER_LIMITS,
) -> dict[str, Any]:
    """Decode `data` (or `text`, a link or CID given on the command line) into a dict. What
    could not be decoded or decrypted carries an "error" key. `limits=None` lifts the caps."""
    check_file_size(len(data), f"input of {len(data):,} bytes", limits)
    check_index_limits(data, limits)
    if pm is not None:
        found = with_application_hooks(pm).hook.archive_inspect(data=data, text=text)
        if found is not None:
            return found
    if (found := _link_message(data)) is not None:
        return found
    envelope = _encrypted_envelope(data)
    # The envelope names its group (the community); a given community ID must match it.
    group = community_id or (bytes.fromhex(envelope["group_id"][2:]) if envelope else b"")
    if pm is not None:
        found = _index(data, envelope is not None, group, crypto, pm, limits)
        if found is not None:
            return found
    try:
        archive = decode_archive(data, group, crypto)
    except ArchiveServiceError as exc:
        if envelope is not None:
            return {
                "kind": "encrypted",
                "envelope": envelope,
                "error": str(exc),
                "hint": "pass --community and --db of a node holding the group key",
            }
        raise InvalidInputError(
            "not a recognised artefact (link message, index, archive, .torrent, magnet link or "
            f"CID): {exc}"
        ) from None
    return {
        "kind": "archive",
        "encrypted": envelope is not None,
        "metadata": _metadata(archive.metadata),
        "messages": [
            {
                "timestamp": m.timestamp,
                "topic": topic_hex(m.topic),
                "hash": m.hash.hex(),
                "payload_size": len(m.payload),
                "third_party_id": m.thirdPartyId,
            }
            for m in archive.messages
        ],
    }


def _index(
    data: bytes,
    encrypted: bool,
    group: bytes,
    crypto: HashRatchet | None,
    pm: pluggy.PluginManager,
    limits: InspectLimits | None,
) -> dict[str, Any] | None:
    """`data` decoded as the index of an installed backend (decrypted first when it is an
    envelope and the group key is at hand), or None."""
    plain = data
    if encrypted and crypto is not None:
        with contextlib.suppress(ArchiveServiceError):
            plain = crypto.decrypt(group, data)
        check_index_limits(plain, limits)
    for name, factory in backend_factories(pm).items():
        if factory.decode_index is None:
            continue
        try:
            entries = factory.decode_index(plain)
        except ArchiveServiceError:
            continue
        if entries:
            return {
                "kind": f"{name}-index",
                "encrypted": encrypted,
                "archives": {
                    entry.archive_id: _index_entry(entry)
                    for entry in sorted(entries, key=lambda e: e.metadata.from_ts)
                },
            }
    return None


def _index_entry(entry: IndexEntry) -> dict[str, Any]:
    meta = entry.metadata
    return {
        "from": meta.from_ts,
        "to": meta.to_ts,
        "topics": [topic_hex(t) for t in meta.topics],
        **entry.locator,
    }
