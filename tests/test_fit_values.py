"""The SRAM-fit report (SPEC §4, ``eiesim/fit.py``): every field derived by hand.

Usage is that of the fullest PE: its entry lists, one per row block, each padded to whole
SRAM rows; K + 1 pointers per block; its share of inputs and outputs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compressor.csc import interleave
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.fit import KB_BITS, check_fit
from eiesim.simulation import simulate

CODEBOOK = np.linspace(-1.0, 1.0, 16)
CODEBOOK[0] = 0.0


def layer_of(nonzeros, shape, config):
    rows, cols = zip(*nonzeros)
    return interleave(np.array(rows), np.array(cols), np.full(len(rows), 9), shape, CODEBOOK, config)


def test_fit_fields_of_the_spec_example():
    # SPEC §5's layer (N = 2, M = 4, K = 3): PE0 holds 3 entries, PE1 2 entries.
    # 16-bit SRAM rows hold 16 // (4 + 4) = 2 entries: PE0 needs ceil(3/2) = 2 rows = 32 bits,
    # PE1 ceil(2/2) = 1 row = 16 bits; the fullest PE counts -> 32.
    # Pointers: 1 block x (K + 1 = 4) x 16 bits = 64. Activations: (ceil(3/2) + ceil(4/2)) x 16 = 64.
    config = ArchConfig(n_pe=2, spmat_width_bits=16, spmat_sram_kb=1, ptr_sram_kb=2, act_sram_kb=0.5)
    report = check_fit(layer_of([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config), config)
    assert report.to_dict() == {
        "fits": True,
        "spmat_bits": 2 * 16, "spmat_capacity_bits": 1 * 8192,
        "ptr_bits": 1 * (3 + 1) * 16, "ptr_capacity_bits": 2 * 8192,
        "act_bits": (2 + 2) * 16, "act_capacity_bits": 4096, "weights": "on-chip",
    }
    assert report.problems() == []


def test_fit_sums_the_blocks_of_the_fullest_pe_and_pads_each_list():
    # N = 2, R = 1: M = 3 rows in 2 blocks. Non-zeros (0,0), (0,1), (2,0), (1,1).
    # Block 0: PE0 (row 0) has 2 entries, PE1 (row 1) 1 entry. Block 1: PE0 (row 2) 1 entry.
    # 64-bit rows hold 8 entries, so each non-empty list takes 1 row:
    # PE0: 1 + 1 = 2 rows = 128 bits; PE1: 1 row = 64 bits -> 128 (the emptiest would give 64).
    # Pointers: 2 blocks x (2 + 1) x 16 = 96. Activations: (ceil(2/2) + ceil(3/2)) x 16 = 48.
    config = ArchConfig(n_pe=2, accumulators_per_pe=1)
    report = check_fit(layer_of([(0, 0), (0, 1), (2, 0), (1, 1)], (3, 2), config), config)
    assert (report.spmat_bits, report.ptr_bits, report.act_bits) == (2 * 64, 2 * 3 * 16, (1 + 2) * 16)
    assert report.fits


def test_fit_counts_fillers_and_uses_the_configured_widths():
    # N = 1, M = 40, K = 1, rows 0, 17, 39: gaps 0, 16, 21. With x = 3 index bits a filler
    # advances 2^3 = 8 rows: floor(16/8) + floor(21/8) = 2 + 2 = 4 fillers, 3 + 4 = 7 entries.
    # 12-bit rows of 3-bit codes + 3-bit indices hold 12 // 6 = 2 entries: ceil(7/2) = 4 rows = 48.
    config = ArchConfig(n_pe=1, spmat_width_bits=12, weight_bits=3, index_bits=3, ptr_bits=10, value_bits=12,
                        act_frac_bits=4, weight_frac_bits=6)
    layer = interleave(np.array([0, 17, 39]), np.array([0, 0, 0]), np.array([1, 2, 3]), (40, 1),
                       np.linspace(0, 1, 8), config)
    assert (layer.n_real, layer.n_fillers) == (3, 4)
    report = check_fit(layer, config)
    # Pointers 1 x (1 + 1) x 10 = 20; activations (1 + 40) x 12 = 492.
    assert (report.spmat_bits, report.ptr_bits, report.act_bits) == (4 * 12, 2 * 10, 41 * 12)


def test_a_layer_that_does_not_fit_is_reported_and_strict_mode_refuses_it():
    # 24 pointer bits of room (0.0029296875 KB x 8192 = 24) for 64 needed; 8192 bits of act SRAM
    # for (ceil(3/2) + ceil(4/2)) x 16 = 64 needed: only the pointer SRAM overflows.
    config = ArchConfig(n_pe=2, ptr_sram_kb=24 / 8192, act_sram_kb=1)
    layer = layer_of([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    report = check_fit(layer, config)
    assert (report.ptr_bits, report.ptr_capacity_bits, report.fits) == (64, 24, False)
    assert report.problems() == [f"ptr SRAM needs {64 / KB_BITS:.1f} KB per PE, has {24 / KB_BITS:.1f} KB"]
    assert simulate(layer, np.ones(3), config).fit.to_dict() == report.to_dict()
    strict = config.replace(strict_fit=True)
    with pytest.raises(EieError, match=r"^the layer does not fit: ptr SRAM needs 0\.0 KB per PE, has 0\.0 KB$"):
        check_fit(layer, strict)
    with pytest.raises(EieError, match="^the layer does not fit"):
        simulate(layer, np.ones(3), strict)
    named = dataclasses.replace(layer, name="fc")
    with pytest.raises(EieError, match="^layer fc does not fit: ptr SRAM"):
        check_fit(named, strict)


def test_every_overflow_is_named_in_one_line():
    # Pointer and activation SRAMs both one bit short of the 64 bits each needs.
    config = ArchConfig(n_pe=2, ptr_sram_kb=63 / 8192, act_sram_kb=63 / 8192, strict_fit=True)
    layer = layer_of([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    with pytest.raises(EieError) as info:
        check_fit(layer, config)
    assert str(info.value) == ("the layer does not fit: ptr SRAM needs 0.0 KB per PE, has 0.0 KB; "
                               "act SRAM needs 0.0 KB per PE, has 0.0 KB")


@pytest.mark.parametrize("which", ["spmat", "ptr", "act"])
def test_each_sram_overflow_alone_breaks_the_fit(which):
    # At exactly the needed capacity a memory fits; one bit less (rounded to whole bits) does not.
    config = ArchConfig(n_pe=2)
    layer = layer_of([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    need = getattr(check_fit(layer, config), f"{which}_bits")  # 64, 64, 64 by the first test's arithmetic
    assert need == 64
    exact = config.replace(**{f"{which}_sram_kb": need / KB_BITS})
    short = config.replace(**{f"{which}_sram_kb": (need - 1) / KB_BITS})
    assert check_fit(layer, exact).fits and check_fit(layer, exact).problems() == []
    assert not check_fit(layer, short).fits
    assert [p.split()[0] for p in check_fit(layer, short).problems()] == [which]
