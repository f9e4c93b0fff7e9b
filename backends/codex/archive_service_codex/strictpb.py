"""Protobuf parsing as strict as nim-libp2p's minprotobuf reads the Codex node's manifests and
libp2p records: the generated classes decode, this refuses what they would silently skip.

Refused (ValueError, which callers turn into their typed errors): fields with a wire type other
than varint or length-delimited, and a known field sent with another wire type than its own.
protobuf alone keeps both as unknown fields and a known field's earlier value, where minprotobuf
takes the last occurrence of a field as it is.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from archive_service.wire.parsing import parse as wire_parse

_VARINT, _LENGTH_DELIMITED = 0, 2

M = TypeVar("M", bound=Message)


def parse(message_class: type[M], data: bytes) -> M:
    """Decode `data`; ValueError when it is not a well-formed `message_class`."""
    message = wire_parse(
        message_class, data, lambda reason: ValueError(reason or "malformed protobuf")
    )
    _check(message)
    return message


def _check(message: Message) -> None:
    known = message.DESCRIPTOR.fields_by_number
    for unknown in UnknownFieldSet(message):
        number, wire_type = unknown.field_number, unknown.wire_type
        if wire_type not in (_VARINT, _LENGTH_DELIMITED) or number in known:
            raise ValueError(f"unsupported wire type {wire_type} (field {number})")
    for field, value in message.ListFields():
        if field.message_type is not None:
            for nested in value if field.is_repeated else (value,):
                _check(nested)
