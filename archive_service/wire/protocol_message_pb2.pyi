from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HRHeader(_message.Message):
    __slots__ = ("deprecated_key_id", "seq_no", "group_id", "key_id")
    DEPRECATED_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    deprecated_key_id: int
    seq_no: int
    group_id: bytes
    key_id: bytes
    def __init__(self, deprecated_key_id: _Optional[int] = ..., seq_no: _Optional[int] = ..., group_id: _Optional[bytes] = ..., key_id: _Optional[bytes] = ...) -> None: ...

class EncryptedMessageProtocol(_message.Message):
    __slots__ = ("HR_header", "payload")
    HR_HEADER_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    HR_header: HRHeader
    payload: bytes
    def __init__(self, HR_header: _Optional[_Union[HRHeader, _Mapping]] = ..., payload: _Optional[bytes] = ...) -> None: ...

class ProtocolMessage(_message.Message):
    __slots__ = ("installation_id", "encrypted_message", "public_message")
    class EncryptedMessageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: EncryptedMessageProtocol
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[EncryptedMessageProtocol, _Mapping]] = ...) -> None: ...
    INSTALLATION_ID_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    installation_id: str
    encrypted_message: _containers.MessageMap[str, EncryptedMessageProtocol]
    public_message: bytes
    def __init__(self, installation_id: _Optional[str] = ..., encrypted_message: _Optional[_Mapping[str, EncryptedMessageProtocol]] = ..., public_message: _Optional[bytes] = ...) -> None: ...
