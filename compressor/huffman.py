"""Canonical Huffman coding of small integer alphabets (Deep Compression §4, SPEC §3).

Deep Compression Huffman-codes the weight codes and the relative indices of each layer;
EIE's hardware reads the fixed-width entries instead, so here the code serves storage
statistics (exact bit counts) and a round trip that shows the counts are achievable.

The code is canonical: a decoder needs only each symbol's code length. Symbols are sorted
by (length, symbol) and given consecutive codes, so the table is ``alphabet`` length fields
of ``bit_length(longest length)`` bits each (:attr:`HuffmanCode.table_bits`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from bitarray import bitarray
from bitarray.util import canonical_decode, huffman_code, int2ba

from eiecore.errors import EieError


@dataclass(frozen=True, eq=False)
class HuffmanCode:
    """A canonical Huffman code over the symbols 0 .. alphabet - 1, built from counts."""

    counts: np.ndarray  # int64 (alphabet,): occurrences the code was built from
    lengths: np.ndarray  # int64 (alphabet,): code length per symbol, 0 if it never occurs

    @classmethod
    def from_counts(cls, counts) -> "HuffmanCode":
        counts = np.asarray(counts)
        if counts.ndim != 1 or counts.size == 0 or not np.issubdtype(counts.dtype, np.integer):
            raise EieError("Huffman counts must be a non-empty vector of integers")
        if np.any(counts < 0):
            raise EieError("Huffman counts must not be negative")
        counts = counts.astype(np.int64)
        lengths = np.zeros(counts.size, np.int64)
        used = {int(s): int(counts[s]) for s in np.flatnonzero(counts)}
        if used:
            # A lone symbol still needs one bit per occurrence (bitarray gives it '0').
            for symbol, code in huffman_code(used).items():
                lengths[symbol] = len(code)
        return cls(counts, lengths)

    @classmethod
    def from_symbols(cls, symbols, alphabet: int) -> "HuffmanCode":
        """The code of ``symbols`` (integers in 0 .. alphabet - 1)."""
        return cls.from_counts(np.bincount(_checked(symbols, alphabet), minlength=alphabet))

    @property
    def alphabet(self) -> int:
        return int(self.counts.size)

    @property
    def encoded_bits(self) -> int:
        """Bits of the data the code was built from, Huffman-coded."""
        return int(self.counts @ self.lengths)

    @property
    def table_bits(self) -> int:
        """Bits of the canonical table: one length field per symbol of the alphabet."""
        longest = int(self.lengths.max())
        return self.alphabet * longest.bit_length() if longest else 0

    @property
    def fixed_bits(self) -> int:
        """Bits of the same data at a fixed ceil(log2(alphabet)) bits per symbol."""
        return int(self.counts.sum()) * max(1, (self.alphabet - 1).bit_length())

    def codebook(self) -> dict[int, bitarray]:
        """Symbol -> code word, assigned in (length, symbol) order."""
        words: dict[int, bitarray] = {}
        value, previous = 0, 0
        for symbol in self._canonical_order():
            length = int(self.lengths[symbol])
            value <<= length - previous
            words[int(symbol)] = int2ba(value, length)
            value, previous = value + 1, length
        return words

    def encode(self, symbols) -> bitarray:
        symbols = _checked(symbols, self.alphabet)
        if np.any(self.lengths[symbols] == 0):
            raise EieError("a symbol to encode has no code (it never occurred when the code was built)")
        out = bitarray()
        if symbols.size:
            out.encode(self.codebook(), symbols.tolist())
        return out

    def decode(self, bits: bitarray) -> np.ndarray:
        order = self._canonical_order()
        if order.size == 0:
            if len(bits):
                raise EieError("cannot decode bits with an empty Huffman code")
            return np.zeros(0, np.int64)
        per_length = np.bincount(self.lengths[order], minlength=int(self.lengths.max()) + 1)
        try:
            decoded = list(canonical_decode(bits, per_length.tolist(), order.tolist()))
        except ValueError as exc:
            raise EieError(f"bits are not a sequence of Huffman code words: {exc}") from None
        return np.array(decoded, np.int64)

    def _canonical_order(self) -> np.ndarray:
        used = np.flatnonzero(self.lengths)
        return used[np.lexsort((used, self.lengths[used]))]


def _checked(symbols, alphabet: int) -> np.ndarray:
    symbols = np.asarray(symbols).ravel()
    if alphabet < 1:
        raise EieError(f"a Huffman alphabet needs at least one symbol, got {alphabet}")
    if symbols.size and not np.issubdtype(symbols.dtype, np.integer):
        raise EieError(f"Huffman symbols must be integers, got dtype {symbols.dtype}")
    symbols = symbols.astype(np.int64)
    if symbols.size and (symbols.min() < 0 or symbols.max() >= alphabet):
        raise EieError(f"Huffman symbols must lie in 0..{alphabet - 1}")
    return symbols
