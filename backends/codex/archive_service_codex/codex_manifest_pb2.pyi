from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class CodexManifest(_message.Message):
    __slots__ = ("header",)
    HEADER_FIELD_NUMBER: _ClassVar[int]
    header: bytes
    def __init__(self, header: _Optional[bytes] = ...) -> None: ...

class ManifestHeader(_message.Message):
    __slots__ = ("tree_cid", "block_size", "dataset_size", "codec", "hcodec", "version", "erasure", "filename", "mimetype", "uploaded_at")
    TREE_CID_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    DATASET_SIZE_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    HCODEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ERASURE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    MIMETYPE_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_AT_FIELD_NUMBER: _ClassVar[int]
    tree_cid: bytes
    block_size: int
    dataset_size: int
    codec: int
    hcodec: int
    version: int
    erasure: bytes
    filename: bytes
    mimetype: bytes
    uploaded_at: int
    def __init__(self, tree_cid: _Optional[bytes] = ..., block_size: _Optional[int] = ..., dataset_size: _Optional[int] = ..., codec: _Optional[int] = ..., hcodec: _Optional[int] = ..., version: _Optional[int] = ..., erasure: _Optional[bytes] = ..., filename: _Optional[bytes] = ..., mimetype: _Optional[bytes] = ..., uploaded_at: _Optional[int] = ...) -> None: ...

class InterimManifestHeader(_message.Message):
    __slots__ = ("tree_cid", "block_size", "dataset_size", "codec", "hcodec", "version", "filename", "mimetype")
    TREE_CID_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    DATASET_SIZE_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    HCODEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    MIMETYPE_FIELD_NUMBER: _ClassVar[int]
    tree_cid: bytes
    block_size: int
    dataset_size: int
    codec: int
    hcodec: int
    version: int
    filename: bytes
    mimetype: bytes
    def __init__(self, tree_cid: _Optional[bytes] = ..., block_size: _Optional[int] = ..., dataset_size: _Optional[int] = ..., codec: _Optional[int] = ..., hcodec: _Optional[int] = ..., version: _Optional[int] = ..., filename: _Optional[bytes] = ..., mimetype: _Optional[bytes] = ...) -> None: ...

class StorageManifestEnvelope(_message.Message):
    __slots__ = ("manifest",)
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    manifest: bytes
    def __init__(self, manifest: _Optional[bytes] = ...) -> None: ...

class StorageManifest(_message.Message):
    __slots__ = ("manifest_version", "tree_cid", "block_size", "dataset_size", "codec", "hcodec", "version", "filename", "mimetype")
    MANIFEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    TREE_CID_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    DATASET_SIZE_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    HCODEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    MIMETYPE_FIELD_NUMBER: _ClassVar[int]
    manifest_version: int
    tree_cid: bytes
    block_size: int
    dataset_size: int
    codec: int
    hcodec: int
    version: int
    filename: bytes
    mimetype: bytes
    def __init__(self, manifest_version: _Optional[int] = ..., tree_cid: _Optional[bytes] = ..., block_size: _Optional[int] = ..., dataset_size: _Optional[int] = ..., codec: _Optional[int] = ..., hcodec: _Optional[int] = ..., version: _Optional[int] = ..., filename: _Optional[bytes] = ..., mimetype: _Optional[bytes] = ...) -> None: ...
