# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 2: The PE array cycle by cycle
#
# **Learning objectives.** After this lab you can
#
# 1. encode a small sparse matrix in EIE's interleaved CSC by hand (virtual weights v,
#    relative row indices z, column pointers) for each PE;
# 2. follow one layer through the PE array cycle by cycle in a line trace and on a
#    Perfetto timeline;
# 3. predict the cycle count and the starvation of a layer with the timing contract,
#    then check the prediction against both simulation engines.
#
# **Background.** EIE computes b = ReLU(W a) with W stored sparse. Rows are interleaved
# over the N PEs: row i belongs to PE i mod N, at local row i div N. Each PE stores, for
# each column j, its non-zeros of that column as entries (v, z): v is a 4-bit index into
# a 16-entry codebook of shared weights and z the number of the PE's zero rows since the
# previous entry of the column. Pointers p_j give where column j starts in the PE's entry
# list (p_{j+1} - p_j entries).
#
# The central control unit scans a for non-zeros (the LNZD tree, latency L = 1 for up to
# 4 PEs) and broadcasts them one per cycle into every PE's activation queue. A PE pops a
# column, reads its two pointers (one cycle), then issues one entry per cycle: the
# sparse-matrix SRAM delivers (v, z), the arithmetic unit decodes v, multiplies by a_j and
# accumulates into local row "previous + z + 1". The pointer read of the next column
# overlaps the last entry of the current one. With c_p(k) = max(1, n_p(k)) cycles for
# PE p on broadcast column k:
#
# * b_1 = L, b_k = max(b_{k-1} + 1, max_p s_p(k - D)) (the second term only for k > D);
# * s_p(1) = b_1 + 1, s_p(k) = max(b_k + 1, s_p(k-1) + c_p(k-1));
# * the block ends at max_p (s_p(K') + c_p(K')) + PIPELINE_DRAIN: issue 1 + SRAM read 1
#   + four arithmetic stages (`eiesim.timing`, where every timing rule is named once).
#
# The example is EIE Figs. 2-3: W is 16 x 8 on 4 PEs, and only a2, a4, a5, a7 are
# non-zero. PE0's non-zeros are the paper's; the other PEs' are made up for this lab.

# %%
import json
from pathlib import Path

import numpy as np
import pandas as pd

from eiesim.engines import ScheduleRecorder
from eiesim.labs import lab2 as check
from eiesim.simulation import simulate
from eiesim.trace import line_trace, perfetto_trace

# %% [markdown]
# ## Your parameters
#
# Write your student id below (a grader may set the environment variable
# `EIESIM_STUDENT_ID` instead). The exercises use the PE and the queue depths drawn for
# your id: a classmate's differ. Each exercise ends with `grader.check("qN")`, which runs
# the public checks: they catch a malformed answer and hint at the method, but only the
# autograder's hidden tests tell whether the value is right.

# %%
STUDENT_ID = ""  # your student id, e.g. "s1234567"
P = check.params(STUDENT_ID)
P

# %% [markdown]
# ## 1. The matrix and its interleaved CSC

# %%
W = check.golden_matrix()
a = check.golden_activations()
pd.DataFrame(np.where(W != 0, "x", "."), index=[f"row {i} (PE{i % 4})" for i in range(16)])

# %% [markdown]
# `compress_layer` quantizes the non-zeros to a 4-bit codebook (15 shared values plus
# the reserved 0) and interleaves them. Here are PE1's codes v, relative indices z and
# its column pointers:

# %%
layer, acts, config = check.golden_layer(queue_depth=8)
v, z, ptr = check.pe_list(layer, pe=1)
print("v  ", v.tolist())
print("z  ", z.tolist())
print("ptr", ptr.tolist())
print("local rows", layer.entry_local_rows()[layer.start[1]:layer.start[2]].tolist())

# %% [raw]
# # BEGIN QUESTION
# name: q1

# %% [markdown]
# ### Exercise 1
# Write down the relative row indices z of **PE `P.z_pe`** (rows p, p + 4, p + 8, p + 12),
# column by column, in storage order. (PE0's list is EIE Fig. 3's.)

# %% [raw]
# # BEGIN SOLUTION

# %%
my_z = [int(v) for v in check.pe_list(layer, P.z_pe)[1]]  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: give a list of whole numbers, one per non-zero of the PE's rows (count the x in its rows above)
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert isinstance(my_z, list) and all(is_whole(v) for v in my_z) and len(my_z) == int((W[P.z_pe::4] != 0).sum())

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: z counts the PE's zero rows since the previous non-zero of the same column, so it lies between 0 and 3 for 4 local rows
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert isinstance(my_z, list) and all(is_whole(v) and 0 <= v <= 3 for v in my_z)

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import same_sequence
assert same_sequence(my_z, check.relative_indices_of(P.z_pe))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 2. Predict the cycle count
#
# Only columns 2, 4, 5 and 7 are broadcast (marked *). The table gives n_p(j), the entries
# of each PE in each column. A PE with n = 0 still spends one cycle reading pointers.

# %%
n_pk = pd.DataFrame(layer.column_counts()[0], index=[f"PE{p}" for p in range(4)],
                    columns=[f"j={j}{'*' if j in check.ACTIVE else ''}" for j in range(8)])
n_pk

# %% [raw]
# # BEGIN QUESTION
# name: q2

# %% [markdown]
# ### Exercise 2
# Suppose activation **a_`P.extra_column`** were non-zero too, so that five columns are
# broadcast in column order. With the paper's queue depth D = 8 (deeper than the five
# broadcasts, so the broadcast never waits), compute b_k and s_p(k) and the cycle count by
# hand. Exact answer required.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_cycles_deep = check.cycles_of(8, extra_column=P.extra_column)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "list n_p(k) for the five broadcast columns and each PE, set c = max(1, n), run b_k and s_p(k) of the timing contract (L = 1 for 4 PEs) and add the 6-cycle drain; the count is a whole number above the busiest PE's work plus the drain"
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert is_whole(my_cycles_deep) and my_cycles_deep > n_pk.iloc[:, sorted({*check.ACTIVE, P.extra_column})].clip(lower=1).sum(axis=1).max() + 6

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_cycles_deep, check.cycles_of(8, extra_column=P.extra_column))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3

# %% [markdown]
# ### Exercise 3
# Now the queue holds **D = `P.shallow_depth`** column(s): broadcast k can happen only once
# every PE has popped column k - D. Compute the cycle count again. Exact answer required.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_cycles_shallow = check.cycles_of(P.shallow_depth)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a whole number above the busiest PE's work plus the drain (a shallow queue only delays broadcasts); redo b_k with the term max_p s_p(k - D) for k > D"
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert is_whole(my_cycles_shallow) and my_cycles_shallow > n_pk.iloc[:, list(check.ACTIVE)].clip(lower=1).sum(axis=1).max() + 6

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_cycles_shallow, check.cycles_of(P.shallow_depth))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 3. Watch it: the line trace
#
# The reference engine is a SimPy model of the PE blocks (LNZD/CCU, activation queue,
# pointer read, sparse-matrix read, arithmetic unit, activation read/write). Give
# `simulate` a `ScheduleRecorder` and the engine reports every broadcast, every column a
# PE pops and every entry it issues. Each line below is
# one cycle: the broadcast of that cycle, then per PE its queue occupancy `qN` and what it
# does (`ptr jJ` pops column J and reads its pointers, `jJ:rR` issues the entry of column
# J for local row R, `wait` is starvation, `-` is idle).

# %%
layer1, acts1, config1 = check.golden_layer(queue_depth=P.shallow_depth)
recorder = ScheduleRecorder()
run = simulate(layer1, acts1, config1, engine="reference", observer=recorder)
print("\n".join(line_trace(recorder, layer1, config1)))

# %% [raw]
# # BEGIN QUESTION
# name: q4

# %% [markdown]
# ### Exercise 4
# Count, from your hand schedule for D = `P.shallow_depth` (or from the `wait` cells
# above), the starved PE-cycles summed over all PEs. Exact answer required.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_starved = check.starved_of(P.shallow_depth)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: a PE is starved in the cycles between finishing column k-1 (s_p(k-1) + c_p(k-1)) and popping column k (s_p(k)); sum over PEs and k >= 2, a whole number of at least 0
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert is_whole(my_starved) and my_starved >= 0

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_starved, check.starved_of(P.shallow_depth))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 4. The Perfetto timeline
#
# The same recording as a Chrome trace-event file: open https://ui.perfetto.dev and drag
# the file in. One track is the CCU (broadcasts, the row block), one track per PE shows
# its columns and its starved intervals; one trace microsecond stands for one clock cycle
# (1.25 ns at 800 MHz), so every event sits on a whole-number timestamp.

# %%
files = Path("lab2_files")  # this lab's files stay in this folder, beside the notebook
files.mkdir(exist_ok=True)
path = files / "fig2.perfetto.json"
path.write_text(json.dumps(perfetto_trace(recorder, config1, f"EIE Fig. 2, D = {P.shallow_depth}")))
print("wrote", path.resolve())

# %% [markdown]
# The command line does the same from weight and activation files:
#
#     eiesim simulate --weights W.npy --acts a.npy --pes 4 --queue-depth 1 --trace --perfetto out.json
#
# which is these library calls: encode W for the configuration, then simulate.

# %%
from compressor.csc import compress_layer
from eiesim import ArchConfig

np.save(files / "W.npy", W)
np.save(files / "a.npy", a)
cfg = ArchConfig.make(n_pe=4, queue_depth=1)
run = simulate(compress_layer(np.load(files / "W.npy"), cfg), np.load(files / "a.npy"), cfg, engine="reference")
print(run.counters.to_dict())

# %% [markdown]
# ## 5. Two engines, one meaning
#
# The fast engine (numba) does not step cycles: it evaluates the recurrence column by
# column. Both engines must agree on every cycle, counter and output bit.

# %%
rows = []
for depth in (1, 8):
    lay, act, cfg = check.golden_layer(queue_depth=depth)
    for engine in ("reference", "fast"):
        res = simulate(lay, act, cfg, engine=engine)
        rows.append({"D": depth, "engine": engine, "cycles": res.cycles,
                     **{k: v for k, v in res.counters.to_dict().items()
                        if k in ("real_entries", "empty_columns", "starved_pe_cycles", "queue_full_stall_cycles")}})
pd.DataFrame(rows)

# %% [markdown]
# Questions to discuss:
#
# * Which PE finishes last at D = 1, and which column made it late?
# * PE0's pointer read of the next column overlaps its last entry: find a cycle in the
#   trace where a PE issues an entry and reads pointers at once.
# * Why does the layer end PIPELINE_DRAIN cycles after the last entry is issued, and why is the result
#   not affected by the order in which the PEs finish?
