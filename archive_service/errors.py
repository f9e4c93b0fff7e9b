"""Typed errors. Every message says what was wrong and what a person can do about it."""


class ArchiveServiceError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(ArchiveServiceError):
    """A configuration key is unknown or its value is invalid (the message names the key)."""


class InvalidInputError(ArchiveServiceError, ValueError):
    """Malformed input from outside: an ID, a link, an index, an archive, a backend's file."""


class InvalidCommunityIdError(InvalidInputError):
    """A community ID is not a 33-byte compressed secp256k1 public key."""


class InvalidLinkError(InvalidInputError):
    """An archive link cannot be parsed or belongs to no enabled backend."""


class MalformedIndexError(InvalidInputError):
    """An archive index cannot be decoded or has entries that break the format's rules."""


class MalformedArchiveError(InvalidInputError):
    """Archive bytes cannot be decoded as a WakuMessageArchive (after decryption, if any)."""


class SizeLimitError(InvalidInputError):
    """A size announced by a peer or a file exceeds a configured cap."""


class CryptoError(ArchiveServiceError):
    """Base of encryption and signature errors."""


class NoGroupKeyError(CryptoError):
    """No hash-ratchet key for this group (yet): callers postpone, they do not drop the archive."""


class DecryptionError(CryptoError):
    """Ciphertext is corrupt, forged, or encrypted with a key we do not hold for that key ID."""


class RatchetSeqNoTooHighError(DecryptionError):
    """The message's seq_no is more than 100,000 steps past the cached ratchet position."""


class SignatureError(CryptoError):
    """A signature is malformed or was not made by the expected key."""


class StoreError(ArchiveServiceError):
    """The SQLite store is missing, unreadable or from an unknown schema version."""


class DataDirBusyError(ArchiveServiceError):
    """Another process holds the data dir's writer lock (the message names its pid)."""


class ArchiveRangeError(InvalidInputError):
    """A requested archive range [from, to) lies outside what can hold messages: before the
    first message, or after now plus one archive interval."""


class BackendError(ArchiveServiceError):
    """A storage backend failed (its subclass says which)."""


class BackendUnavailableError(BackendError):
    """The backend's engine or node cannot be reached or started (port busy, node down)."""


class ArchiveTimeoutError(BackendError):
    """A fetch did not finish within its timeout (status-go: ErrArchiveTimedout)."""


class ArchiveNotFoundError(BackendError):
    """An archive ID (or a backend's locator of it) is not in the index or not on the node."""


class OperationCancelled(ArchiveServiceError):
    """Internal: a cancel event fired during a wait. Backends turn it into `cancelled=True`."""
