"""The fast engine equals the SimPy reference engine exactly on random layers.

Cycles, per-block cycles, every counter, the per-PE arrays and the outputs. Half of the
cases are broad (up to 300 x 300, 256 PEs, 256 queue slots, small sizes drawn half of
the time per dimension: the reference engine steps every cycle and is slow), half are
congested (shallow queues, uneven columns, 2-bit indices: stalls, starvation, fillers).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eiesim.engines import get_engine, reference
from eiesim.simulation import prepare_activations
from test_fast_engine import CONGESTED, layer_cases, record_events


BROAD = dict(rows=(1, 30, 300), cols=(1, 30, 300), pes=(1, 9, 256), depth=(1, 5, 256), accumulators=(1, 8, 64),
             index_bits=(2, 2, 3, 4, 5, 6, 7, 8))


@given(st.one_of(layer_cases(**BROAD), layer_cases(**CONGESTED)))
@settings(max_examples=150)
def test_fast_equals_reference(case):
    layer, acts, config = case
    converted = prepare_activations(layer, acts, config)
    fast = get_engine("fast").run(layer, converted, config)
    ref = reference.run(layer, converted, config)
    record_events(fast, layer)
    assert (fast.cycles, fast.block_cycles) == (ref.cycles, ref.block_cycles)
    assert fast.counters == ref.counters
    for name in ("busy", "starved", "real"):
        assert getattr(fast.per_pe, name).tolist() == getattr(ref.per_pe, name).tolist(), name
    assert np.array_equal(fast.output, ref.output)
