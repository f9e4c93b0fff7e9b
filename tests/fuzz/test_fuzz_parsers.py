"""CI budget of the fuzz suite: every parser a member or `inspect` runs (tests/fuzz/targets.py)
gets mutated real encodings and raw bytes; each either parses or raises one of its typed errors,
and its traced allocations stay proportional to the input (a claimed size is never allocated).

Deterministic (derandomized, no example database); the longer campaign is
benchmarks/fuzz_campaign.py.
"""

from __future__ import annotations

import random
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.mutations import mutate
from fuzz.targets import TARGETS, Target

EXAMPLES_PER_TARGET = 120
# Traced bytes a call may allocate beyond a fixed allowance per input byte: decoders copy
# the input a few times (protobuf objects, decrypted plaintext, JSON-able results). The fixed
# part covers the one bounded claim: a hash-ratchet header up to 100,000 steps ahead of the
# cache makes the member compute (and hold) those steps, ~16 MiB.
BASE_ALLOWANCE = 24 << 20
PER_INPUT_BYTE = 64

CI_SETTINGS = settings(
    max_examples=EXAMPLES_PER_TARGET,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def inputs(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    mutated = st.builds(
        lambda seed, rounds, rng_seed: mutate(seed, seeds, random.Random(rng_seed), rounds),
        st.sampled_from(seeds),
        st.integers(1, 6),
        st.integers(0, 2**32 - 1),
    )
    return st.one_of(mutated, mutated, mutated, st.binary(max_size=300))


def check_one(target: Target, data: bytes) -> None:
    """Run one input with traced memory; fail on an untyped error or an outsized allocation."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        target.run(data)
    except target.typed:
        pass
    peak = tracemalloc.get_traced_memory()[1] - before
    allowed = BASE_ALLOWANCE + PER_INPUT_BYTE * len(data)
    assert peak <= allowed, (
        f"{target.name}: {len(data)} input bytes made {peak} traced bytes (allowed {allowed}); "
        f"input {data[:200]!r}"
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parser_raises_only_typed_errors(name: str) -> None:
    target = TARGETS[name]
    seeds = target.seeds()
    for seed in seeds:
        target.run(seed)  # the corpus is valid: a seed that fails is a broken target
    tracemalloc.start()
    try:

        @CI_SETTINGS
        @given(inputs(seeds))
        def fuzz(data: bytes) -> None:
            check_one(target, data)

        fuzz()
    finally:
        tracemalloc.stop()
