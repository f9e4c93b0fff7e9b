"""`archive-service inspect`: decode any artefact of the archive flow into plain data.

The core decodes its own formats (link messages, both index kinds, archives, each possibly
hash-ratchet encrypted); backends decode theirs through the `archive_inspect` hook.
"""

from __future__ import annotations

from typing import Any

import pluggy
from archive_service_codex.index import decode_codex_index
from archive_service_torrent.index import decode_torrent_index
from google.protobuf.message import DecodeError

from archive_service.archives import decode_archive
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.crypto.signing import verify_archive_link
from archive_service.errors import ArchiveServiceError, InvalidInputError
from archive_service.ids import community_hex, topic_hex
from archive_service.index import metadata_from_pb
from archive_service.wire import app_pb, enc_pb, pb


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
        found = pm.hook.archive_inspect(data=data, text=text)
        if found is not None:
            return found
    if (found := _link_message(data)) is not None:
        return found
    envelope = _encrypted_envelope(data)
    # The envelope names its group (the community); a given community ID must match it.
    group = community_id or (bytes.fromhex(envelope["group_id"][2:]) if envelope else b"")
    for kind, decode in (
        ("torrent-index", decode_torrent_index),
        ("codex-index", decode_codex_index),
    ):
        try:
            index = decode(data, group, crypto)
        except ArchiveServiceError:
            continue
        if len(index.archives):
            return {
                "kind": kind,
                "encrypted": envelope is not None,
                "archives": {
                    aid: _index_entry(entry)
                    for aid, entry in sorted(
                        index.archives.items(),
                        key=lambda kv: getattr(
                            kv[1].metadata, "from"
                        ),  # `from` is a Python keyword
                    )
                },
            }
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


def _index_entry(
    entry: pb.WakuMessageArchiveIndexMetadata | pb.CodexWakuMessageArchiveIndexMetadata,
) -> dict[str, Any]:
    out = _metadata(entry.metadata)
    if isinstance(entry, pb.WakuMessageArchiveIndexMetadata):
        out.update(offset=entry.offset, size=entry.size, padding=entry.padding)
    else:
        out["cid"] = entry.cid
    return out
