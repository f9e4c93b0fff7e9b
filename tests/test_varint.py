"""The project's one varint codec against protobuf's own encoder and the multiformats limits."""

import pytest
from google.protobuf.internal import decoder, encoder
from hypothesis import given
from hypothesis import strategies as st

from archive_service import varint


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_encode_matches_protobuf_and_round_trips(value: int) -> None:
    expected = encoder._VarintBytes(value)
    assert varint.encode(value) == expected
    assert varint.decode(expected, max_bits=64) == (value, len(expected))
    assert decoder._DecodeVarint(expected, 0) == (value, len(expected))


@pytest.mark.parametrize("value", [0, 1, 127, 128, 16383, 16384, 1 << 35, (1 << 63) - 1])
def test_boundaries(value: int) -> None:
    data = varint.encode(value)
    assert varint.decode(b"\xff" + data, 1) == (value, 1 + len(data))


def test_negative_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        varint.encode(-1)


def test_truncated_and_overlong_are_refused() -> None:
    with pytest.raises(ValueError, match="truncated"):
        varint.decode(b"\x80\x80")
    with pytest.raises(ValueError, match="63 bits"):
        varint.decode(varint.encode(1 << 63))
    with pytest.raises(ValueError, match="63 bits"):
        varint.decode(b"\x80" * 10 + b"\x01")
