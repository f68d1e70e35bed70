"""Canonical Huffman: optimal bit counts, canonical code words, round trips, table size."""

import heapq

import numpy as np
import pytest
from bitarray import bitarray
from hypothesis import given
from hypothesis import strategies as st

from compressor.huffman import HuffmanCode
from eiecore.errors import EieError


def optimal_bits(counts) -> int:
    """Huffman's cost by the textbook merge: the sum of all merged weights."""
    heap = [int(c) for c in counts if c > 0]
    if len(heap) == 1:
        return heap[0]
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        total += merged
        heapq.heappush(heap, merged)
    return total


symbols_strategy = st.integers(1, 64).flatmap(
    lambda alphabet: st.tuples(st.just(alphabet), st.lists(st.integers(0, alphabet - 1), max_size=300))
)


@given(symbols_strategy)
def test_round_trip_and_exact_optimal_size(case):
    alphabet, symbols = case
    code = HuffmanCode.from_symbols(symbols, alphabet)
    bits = code.encode(symbols)
    assert len(bits) == code.encoded_bits
    assert code.decode(bits).tolist() == symbols
    if symbols:
        assert code.encoded_bits == optimal_bits(code.counts)


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=40))
def test_code_words_are_canonical_and_prefix_free(counts):
    code = HuffmanCode.from_counts(np.array(counts))
    words = code.codebook()
    used = [s for s, c in enumerate(counts) if c > 0]
    assert sorted(words) == used
    assert all(len(words[s]) == code.lengths[s] for s in used)
    # Canonical: in (length, symbol) order the words count up.
    ordered = sorted(used, key=lambda s: (len(words[s]), s))
    values = [int(words[s].to01(), 2) << (64 - len(words[s])) for s in ordered]
    assert values == sorted(values) and len(set(values)) == len(values)
    for a in used:
        for b in used:
            if a != b:
                assert words[b][: len(words[a])] != words[a]
    if len(used) > 1:  # a complete code: Kraft's sum is exactly 1
        assert sum(2.0 ** -len(w) for w in words.values()) == 1.0


def test_known_code_and_table_size():
    # Counts 5, 3, 1 for symbols 1, 2, 3 of a 16-symbol alphabet: lengths 1, 2, 2.
    code = HuffmanCode.from_symbols([1] * 5 + [2] * 3 + [3], alphabet=16)
    assert code.lengths[1:4].tolist() == [1, 2, 2]
    assert {s: w.to01() for s, w in code.codebook().items()} == {1: "0", 2: "10", 3: "11"}
    assert code.encoded_bits == 5 + 6 + 2
    assert code.fixed_bits == 9 * 4
    assert code.table_bits == 16 * 2  # 16 length fields, 2 bits each (longest length 2)


def test_a_lone_symbol_costs_one_bit_each_and_empty_costs_nothing():
    code = HuffmanCode.from_symbols([7, 7, 7], alphabet=8)
    assert code.encoded_bits == 3 and code.table_bits == 8
    assert code.decode(code.encode([7, 7])).tolist() == [7, 7]
    empty = HuffmanCode.from_symbols([], alphabet=8)
    assert empty.encoded_bits == 0 and empty.table_bits == 0
    assert len(empty.encode([])) == 0 and empty.decode(bitarray()).size == 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: HuffmanCode.from_symbols([0, 16], 16), r"0\.\.15"),
        (lambda: HuffmanCode.from_symbols([-1], 16), r"0\.\.15"),
        (lambda: HuffmanCode.from_symbols([0.5], 16), "integers"),
        (lambda: HuffmanCode.from_symbols([0], 0), "at least one symbol"),
        (lambda: HuffmanCode.from_counts([1, -1]), "negative"),
        (lambda: HuffmanCode.from_counts([]), "non-empty"),
        (lambda: HuffmanCode.from_symbols([1, 1, 2], 4).encode([3]), "no code"),
        (lambda: HuffmanCode.from_symbols([], 4).decode(bitarray("1")), "empty Huffman code"),
    ],
)
def test_bad_input_raises_eie_error(call, message):
    with pytest.raises(EieError, match=message):
        call()
