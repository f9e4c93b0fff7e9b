"""Generated protobuf modules (proto/, scripts/gen-proto): the wire contract with status-go."""

from archive_service.wire import application_metadata_message_pb2 as app_pb
from archive_service.wire import communities_pb2 as pb
from archive_service.wire import protocol_message_pb2 as enc_pb

# status-go's V3 names of the Codex index messages (Codex was renamed Logos Storage): the same
# field numbers, so the same classes; code written against either name works and their bytes
# are identical.
pb.LogosStorageWakuMessageArchiveIndex = pb.CodexWakuMessageArchiveIndex  # type: ignore[attr-defined]
pb.LogosStorageWakuMessageArchiveIndexMetadata = pb.CodexWakuMessageArchiveIndexMetadata  # type: ignore[attr-defined]

__all__ = ["app_pb", "enc_pb", "pb"]
