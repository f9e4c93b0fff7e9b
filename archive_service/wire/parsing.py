"""Decoding a wire message: the one place that turns protobuf's DecodeError into the caller's
typed error (or into None, where bytes of another kind are an answer, not a fault)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from google.protobuf.message import DecodeError


class Parsable(Protocol):
    def ParseFromString(self, data: bytes) -> int: ...  # protobuf spells it so


M = TypeVar("M", bound=Parsable)


def parse(message_class: type[M], data: bytes, error: Callable[[str], Exception]) -> M:
    """Decode `data` as `message_class`; raises `error(reason)`, protobuf's reason, when the
    bytes are not one."""
    message = message_class()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise error(str(exc)) from None
    return message


class _NotThisMessage(Exception):
    pass


def parse_or_none(message_class: type[M], data: bytes) -> M | None:
    """Decode `data` as `message_class`, or None when the bytes are not one."""
    try:
        return parse(message_class, data, _NotThisMessage)
    except _NotThisMessage:
        return None
