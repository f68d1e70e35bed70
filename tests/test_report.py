"""Storage report: exact bit counts on a hand-checked layer, totals, JSON and table."""

import json

import numpy as np

from compressor.csc import compress_layer, interleave
from compressor.report import layer_storage, storage_report
from eiesim.config import ArchConfig
from eiesim.modelfile import CompressedModel

CONFIG = ArchConfig(n_pe=1)


def filler_layer():
    # EIE §III-B: column [0, 0, 1, 2, (18 zeros), 3] -> v = [1, 2, 0, 3], z = [2, 0, 15, 2].
    return interleave(np.array([2, 3, 22]), np.zeros(3, int), np.array([1, 2, 3]), (23, 1),
                      np.arange(16.0), CONFIG, name="filler")


def test_hand_checked_layer():
    s = layer_storage(filler_layer(), ptr_bits=16, value_bits=16)
    assert (s.real, s.fillers, s.shape, s.weights) == (3, 1, (23, 1), 23)
    assert s.weights_bits == 4 * 4 and s.indices_bits == 4 * 4
    assert s.pointers_bits == 1 * 1 * 2 * 16  # T = 1 block, N = 1 PE, K + 1 = 2 pointers
    assert s.codebook_bits == 16 * 16
    assert s.dense_bits == 23 * 32
    assert s.total_bits == 16 + 16 + 32 + 256
    assert s.ratio == 736 / 320
    # Codes 1, 2, 0, 3 once each: 2 bits apiece; indices 2, 0, 15, 2: lengths 1, 2, 2, 1.
    assert s.weights_huffman_bits == 8 and s.indices_huffman_bits == 6
    assert s.huffman_table_bits == 16 * 2 + 16 * 2  # 16 length fields of 2 bits, per stream
    assert s.total_huffman_bits == 8 + 6 + 64 + 32 + 256
    assert s.density == 3 / 23


def test_totals_sum_the_layers_and_json_round_trips():
    rng = np.random.default_rng(0)
    config = ArchConfig(n_pe=4, accumulators_per_pe=4)
    layers = [compress_layer(rng.normal(size=(20, 9)) * (rng.random((20, 9)) < 0.2), config, name="a"),
              compress_layer(rng.normal(size=(5, 40)) * (rng.random((5, 40)) < 0.5), config, name="b")]
    report = storage_report(CompressedModel(layers, config))
    total = report.total
    for field in ("real", "fillers", "weights_bits", "pointers_bits", "total_bits", "total_huffman_bits"):
        assert getattr(total, field) == sum(getattr(s, field) for s in report.layers)
    assert total.density == (layers[0].n_real + layers[1].n_real) / (180 + 200)
    assert total.ratio == (180 + 200) * 32 / total.total_bits
    data = json.loads(json.dumps(report.to_dict()))
    assert [d["name"] for d in data["layers"]] == ["a", "b"] and data["total"]["shape"] is None
    assert data["layers"][0]["pointers_bits"] == 2 * 4 * 10 * 16  # 20 rows / (4 x 4) -> 2 blocks
    assert data["ptr_bits"] == 16 and data["index_bits"] == 4


def test_table_lists_every_layer_and_the_total():
    table = storage_report(CompressedModel([filler_layer()], CONFIG)).format_table()
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["layer", "M"]
    assert lines[2].split()[:4] == ["filler", "23", "x", "1"]
    assert lines[4].startswith("total") and "2.3x" in lines[4]
    assert "4 + 4 bits" in lines[-1]


def test_codebook_is_priced_at_the_datapath_width():
    # The codebook holds values in the arithmetic unit's format: 16 x value_bits in fixed
    # point, 16 x 32 bits in float32 (whatever value_bits says).
    fixed = storage_report(CompressedModel([filler_layer()], CONFIG.replace(value_bits=12, act_frac_bits=4,
                                                                         weight_frac_bits=6)))
    floating = storage_report(CompressedModel([filler_layer()], CONFIG.replace(precision="float32")))
    assert fixed.layers[0].codebook_bits == 16 * 12 and fixed.to_dict()["codebook_value_bits"] == 12
    assert floating.layers[0].codebook_bits == 16 * 32 and floating.to_dict()["codebook_value_bits"] == 32
    assert floating.layers[0].total_bits == 16 + 16 + 32 + 16 * 32
