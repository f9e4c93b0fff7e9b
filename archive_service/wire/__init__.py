"""Generated protobuf modules (proto/, scripts/gen-proto): the wire contract with status-go."""

from archive_service.wire import application_metadata_message_pb2 as app_pb
from archive_service.wire import communities_pb2 as pb
from archive_service.wire import protocol_message_pb2 as enc_pb

__all__ = ["app_pb", "enc_pb", "pb"]
