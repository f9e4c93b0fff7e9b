"""Hash-ratchet envelope (reference §9) on real SQLite stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from Crypto.Cipher import AES

from archive_service.crypto.hashratchet import (
    KEY_BUMP_MS,
    MAX_SEQ_NO_DELTA,
    GroupKey,
    HashRatchet,
    is_hash_ratchet_message,
    ratchet_key,
)
from archive_service.errors import (
    DecryptionError,
    InvalidInputError,
    MalformedArchiveError,
    NoGroupKeyError,
    RatchetSeqNoTooHighError,
)
from archive_service.ids import keccak256
from archive_service.store import Store
from archive_service.wire import enc_pb

GROUP = bytes.fromhex("02" + "11" * 32)
OTHER_GROUP = bytes.fromhex("03" + "44" * 32)
K = bytes(range(32))
TS = 1700000000000
# k_n = Keccak256^n(K) for K = 00 01 .. 1f
K1 = bytes.fromhex("8ae1aa597fa146ebd3aa2ceddf360668dea5e526567e92b0321816a4e895bd2d")
K2 = bytes.fromhex("4bdf1d78fe264becbf519d25a451145aad6d551d4b9e24b1a34dca34a75a43e9")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "owner.db") as s:
        yield s


@pytest.fixture
def member_store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "member.db") as s:
        yield s


def fixed_key() -> GroupKey:
    return GroupKey(group_id=GROUP, key=K, timestamp_ms=TS)


def hand_built(key: GroupKey, seq_no: int, message_key: bytes, plaintext: bytes) -> bytes:
    """An envelope as status-go builds it, without our encrypt()."""
    nonce = bytes(range(100, 112))
    ciphertext, tag = AES.new(message_key, AES.MODE_GCM, nonce=nonce).encrypt_and_digest(plaintext)
    message = enc_pb.ProtocolMessage(installation_id="go-installation")
    part = message.encrypted_message["none"]
    part.HR_header.deprecated_key_id = key.timestamp_ms & 0xFFFFFFFF
    part.HR_header.seq_no = seq_no
    part.HR_header.group_id = key.group_id
    part.HR_header.key_id = key.key_id
    part.payload = ciphertext + tag + nonce
    return message.SerializeToString()


def test_key_id_is_keccak_of_group_le_timestamp_key() -> None:
    # 1700000000000 = 0x018BCFE56800 -> little-endian 00 68 e5 cf 8b 01 00 00
    expected = keccak256(GROUP + bytes.fromhex("0068e5cf8b010000") + K)
    assert fixed_key().key_id == expected


def test_message_keys_pinned() -> None:
    assert ratchet_key(K, 0) == K
    assert ratchet_key(K, 1) == K1 == keccak256(K)
    assert ratchet_key(K, 2) == K2 == keccak256(K1)


def test_decrypts_status_go_envelope_at_seq_1_and_2(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.add_group_key(fixed_key())
    assert crypto.decrypt(GROUP, hand_built(fixed_key(), 2, K2, b"second")) == b"second"
    assert crypto.decrypt(GROUP, hand_built(fixed_key(), 1, K1, b"first")) == b"first"
    # with the wrong step's key the tag does not verify
    with pytest.raises(DecryptionError):
        crypto.decrypt(GROUP, hand_built(fixed_key(), 1, K2, b"x"))


def test_encrypt_wire_format(store: Store) -> None:
    crypto = HashRatchet(store, installation_id="owner-device")
    crypto.add_group_key(fixed_key())
    for seq_no, message_key in ((1, K1), (2, K2)):
        data = crypto.encrypt(GROUP, b"hello archive")
        message = enc_pb.ProtocolMessage.FromString(data)
        assert message.installation_id == "owner-device"
        assert list(message.encrypted_message) == ["none"]
        part = message.encrypted_message["none"]
        header = part.HR_header
        assert header.seq_no == seq_no
        assert header.group_id == GROUP
        assert header.key_id == fixed_key().key_id
        assert header.deprecated_key_id == TS & 0xFFFFFFFF
        assert len(part.payload) == len(b"hello archive") + 16 + 12
        ciphertext, tag, nonce = part.payload[:-28], part.payload[-28:-12], part.payload[-12:]
        cipher = AES.new(message_key, AES.MODE_GCM, nonce=nonce)
        assert cipher.decrypt_and_verify(ciphertext, tag) == b"hello archive"


def test_round_trip_and_fresh_nonces(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.generate_group_key(GROUP)
    a, b = crypto.encrypt(GROUP, b"same"), crypto.encrypt(GROUP, b"same")
    assert a != b
    assert crypto.decrypt(GROUP, a) == b"same" == crypto.decrypt(GROUP, b)
    assert is_hash_ratchet_message(a)
    assert not is_hash_ratchet_message(b"same")


def test_encrypt_uses_the_latest_key(store: Store) -> None:
    crypto = HashRatchet(store)
    old = crypto.generate_group_key(GROUP, now_ms=TS)
    new = crypto.generate_group_key(GROUP, now_ms=TS + 1000)
    header = enc_pb.ProtocolMessage.FromString(crypto.encrypt(GROUP, b"x"))
    assert header.encrypted_message["none"].HR_header.key_id == new.key_id != old.key_id
    assert header.encrypted_message["none"].HR_header.seq_no == 1  # a new key starts at K


def test_generated_key_timestamps(store: Store) -> None:
    crypto = HashRatchet(store)
    first = crypto.generate_group_key(GROUP, now_ms=TS)
    assert first.timestamp_ms == TS + KEY_BUMP_MS
    assert len(first.key) == 32
    # previous key not below now: previous + 1
    second = crypto.generate_group_key(GROUP, now_ms=TS)
    assert second.timestamp_ms == TS + KEY_BUMP_MS + 1
    third = crypto.generate_group_key(GROUP, now_ms=TS + 5000)
    assert third.timestamp_ms == TS + 5000 + KEY_BUMP_MS
    assert [k.timestamp_ms for k in crypto.group_keys(GROUP)] == [
        first.timestamp_ms,
        second.timestamp_ms,
        third.timestamp_ms,
    ]
    assert crypto.group_keys(OTHER_GROUP) == []


def test_bad_key_rejected(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="32 bytes"):
        HashRatchet(store).add_group_key(GroupKey(GROUP, b"short", TS))


@pytest.mark.parametrize("where", ["ciphertext", "tag", "nonce"])
def test_tamper_detected(store: Store, where: str) -> None:
    crypto = HashRatchet(store)
    crypto.generate_group_key(GROUP)
    message = enc_pb.ProtocolMessage.FromString(crypto.encrypt(GROUP, b"attack at dawn"))
    part = message.encrypted_message["none"]
    payload = bytearray(part.payload)
    index = {"ciphertext": 0, "tag": len(payload) - 20, "nonce": len(payload) - 1}[where]
    payload[index] ^= 0x01
    part.payload = bytes(payload)
    with pytest.raises(DecryptionError, match="authentication failed"):
        crypto.decrypt(GROUP, message.SerializeToString())


def test_truncated_payload_is_decryption_error(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.add_group_key(fixed_key())
    message = enc_pb.ProtocolMessage.FromString(hand_built(fixed_key(), 1, K1, b""))
    message.encrypted_message["none"].payload = b"\x00" * 27
    with pytest.raises(DecryptionError, match="shorter"):
        crypto.decrypt(GROUP, message.SerializeToString())


def test_unknown_key_and_missing_key(store: Store, member_store: Store) -> None:
    owner = HashRatchet(store)
    with pytest.raises(NoGroupKeyError):
        owner.encrypt(GROUP, b"x")  # no key generated yet
    owner.generate_group_key(GROUP)
    data = owner.encrypt(GROUP, b"x")
    member = HashRatchet(member_store)
    with pytest.raises(NoGroupKeyError) as info:
        member.decrypt(GROUP, data)
    assert not isinstance(info.value, DecryptionError)  # callers postpone, not drop
    # the member gets the key later and can then read it
    for key in owner.group_keys(GROUP):
        member.add_group_key(key)
    assert member.decrypt(GROUP, data) == b"x"


def test_other_group_rejected(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.generate_group_key(GROUP)
    crypto.generate_group_key(OTHER_GROUP)
    data = crypto.encrypt(OTHER_GROUP, b"x")
    with pytest.raises(DecryptionError, match="another community"):
        crypto.decrypt(GROUP, data)


def test_seq_no_zero_rejected(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.add_group_key(fixed_key())
    with pytest.raises(DecryptionError, match="seq_no 0"):
        crypto.decrypt(GROUP, hand_built(fixed_key(), 0, K, b"x"))


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff",
        enc_pb.ProtocolMessage(installation_id="x").SerializeToString(),
        enc_pb.ProtocolMessage(
            encrypted_message={"none": enc_pb.EncryptedMessageProtocol(payload=b"abc")}
        ).SerializeToString(),
    ],
)
def test_not_an_envelope(store: Store, data: bytes) -> None:
    with pytest.raises(MalformedArchiveError):
        HashRatchet(store).decrypt(GROUP, data)


def test_installation_entry_preferred_over_none(store: Store) -> None:
    crypto = HashRatchet(store, installation_id="me")
    crypto.add_group_key(fixed_key())
    message = enc_pb.ProtocolMessage.FromString(hand_built(fixed_key(), 1, K1, b"for none"))
    mine = enc_pb.ProtocolMessage.FromString(hand_built(fixed_key(), 2, K2, b"for me"))
    message.encrypted_message["me"].CopyFrom(mine.encrypted_message["none"])
    assert crypto.decrypt(GROUP, message.SerializeToString()) == b"for me"


def test_seq_delta_bound(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.add_group_key(fixed_key())
    # no cached step: from K (seq 0)
    with pytest.raises(RatchetSeqNoTooHighError):
        crypto.decrypt(GROUP, hand_built(fixed_key(), MAX_SEQ_NO_DELTA + 1, K, b"x"))
    # after seq 10 is cached the bound moves with it
    assert crypto.decrypt(GROUP, hand_built(fixed_key(), 10, ratchet_key(K, 10), b"ten")) == b"ten"
    with pytest.raises(RatchetSeqNoTooHighError):
        crypto.decrypt(GROUP, hand_built(fixed_key(), 10 + MAX_SEQ_NO_DELTA + 1, K, b"x"))


def test_seq_delta_bound_is_inclusive(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.add_group_key(fixed_key())
    n = MAX_SEQ_NO_DELTA
    k_n = ratchet_key(K, n)
    assert crypto.decrypt(GROUP, hand_built(fixed_key(), n, k_n, b"far")) == b"far"
    assert store.latest_ratchet_step(fixed_key().key_id) == (n, k_n)


def test_forged_message_does_not_advance_the_ratchet(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.add_group_key(fixed_key())
    forged = hand_built(fixed_key(), 500, b"\x00" * 32, b"x")  # right header, wrong key
    with pytest.raises(DecryptionError):
        crypto.decrypt(GROUP, forged)
    assert store.latest_ratchet_step(fixed_key().key_id) is None
    header = enc_pb.ProtocolMessage.FromString(crypto.encrypt(GROUP, b"y"))
    assert header.encrypted_message["none"].HR_header.seq_no == 1


def test_out_of_order_decrypts_cache_every_step(store: Store, member_store: Store) -> None:
    owner = HashRatchet(store)
    owner.add_group_key(fixed_key())
    messages = [owner.encrypt(GROUP, f"m{i}".encode()) for i in range(1, 8)]
    member = HashRatchet(member_store)
    member.add_group_key(fixed_key())
    key_id = fixed_key().key_id
    assert member.decrypt(GROUP, messages[4]) == b"m5"
    # every step up to 5 is cached
    for n in range(1, 6):
        assert member_store.ratchet_step_at_or_below(key_id, n) == (n, ratchet_key(K, n))
    for i in (6, 1, 3, 2, 0, 5):
        assert member.decrypt(GROUP, messages[i]) == f"m{i + 1}".encode()
    assert member_store.latest_ratchet_step(key_id) == (7, ratchet_key(K, 7))
    # decrypting the same message twice works (the step is cached)
    assert member.decrypt(GROUP, messages[0]) == b"m1"


def test_owner_and_member_interoperate_both_ways(store: Store, member_store: Store) -> None:
    owner = HashRatchet(store, installation_id="owner")
    key = owner.generate_group_key(GROUP)
    member = HashRatchet(member_store, installation_id="member")
    member.add_group_key(key)
    assert member.decrypt(GROUP, owner.encrypt(GROUP, b"archive 1")) == b"archive 1"
    assert member.decrypt(GROUP, owner.encrypt(GROUP, b"index 1")) == b"index 1"
    # a member's ratchet continues after the steps it has seen, the owner can read it
    reply = member.encrypt(GROUP, b"from member")
    assert enc_pb.ProtocolMessage.FromString(reply).encrypted_message["none"].HR_header.seq_no == 3
    assert owner.decrypt(GROUP, reply) == b"from member"


def test_ratchet_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = Store(path)
    crypto = HashRatchet(store)
    key = crypto.generate_group_key(GROUP)
    first = crypto.encrypt(GROUP, b"one")
    crypto.encrypt(GROUP, b"two")
    store.close()

    reopened = Store(path)
    try:
        again = HashRatchet(reopened)
        assert again.group_keys(GROUP) == [key]
        third = enc_pb.ProtocolMessage.FromString(again.encrypt(GROUP, b"three"))
        assert third.encrypted_message["none"].HR_header.seq_no == 3  # never reuses a step
        assert again.decrypt(GROUP, first) == b"one"
    finally:
        reopened.close()
