"""`archive-service inspect`: decode any artefact of the archive flow into plain data.

The library decodes its own formats (link messages, archives, hash-ratchet envelopes); each
installed backend decodes its index kind (`BackendFactory.decode_index`) and its other
artefacts (.torrent, magnet, CID, manifest) through the `archive_inspect` hook.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pluggy
from google.protobuf.message import DecodeError

from archive_service.archives import decode_archive
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.crypto.signing import verify_archive_link
from archive_service.errors import ArchiveServiceError, InvalidInputError
from archive_service.ids import community_hex, topic_hex
from archive_service.index import metadata_from_pb
from archive_service.plugins import backend_factories
from archive_service.types import IndexEntry
from archive_service.wire import app_pb, enc_pb, pb
from archive_service_cli.hookspecs import with_application_hooks


def _metadata(md: pb.WakuMessageArchiveMetadata) -> dict[str, Any]:
    meta = metadata_from_pb(md)
    return {"from": meta.from_ts, "to": meta.to_ts, "topics": [topic_hex(t) for t in meta.topics]}


def _link_message(data: bytes) -> dict[str, Any] | None:
    envelope = app_pb.ApplicationMetadataMessage()
    try:
        envelope.ParseFromString(data)
    except DecodeError:
        return None
    if envelope.type != app_pb.ApplicationMetadataMessage.COMMUNITY_MESSAGE_ARCHIVE_LINK:
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
    message = enc_pb.ProtocolMessage()
    try:
        message.ParseFromString(data)
    except DecodeError:
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
) -> dict[str, Any]:
    """Decode `data` (or `text`, a link or CID given on the command line) into a dict."""
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
        found = _index(data, envelope is not None, group, crypto, pm)
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
) -> dict[str, Any] | None:
    """`data` decoded as the index of an installed backend (decrypted first when it is an
    envelope and the group key is at hand), or None."""
    plain = data
    if encrypted and crypto is not None:
        with contextlib.suppress(ArchiveServiceError):
            plain = crypto.decrypt(group, data)
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
