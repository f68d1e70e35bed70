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
# # Lab 3: Activation queues and load balance
#
# **Learning objectives.** After this lab you can
#
# 1. explain how the activation queue decouples the central broadcast from each PE's work;
# 2. tell starvation (a PE waiting for work) from a queue-full stall (the broadcast waiting
#    for a PE);
# 3. compute, by hand, the cycle count of a small layer at any queue depth;
# 4. watch the queues cycle by cycle in the reference engine's line trace and predict what
#    a slower queue refill (the EIE authors' simulator) costs;
# 5. measure load efficiency against queue depth 1..256 (EIE Fig. 8) and argue why the
#    paper chose a depth of 8.
#
# **Background.** EIE's central control unit (CCU) finds the next non-zero input
# activation a_j with the leading-non-zero-detection (LNZD) tree and broadcasts (j, a_j)
# to every PE, at most one per cycle. Each PE appends it to its *activation queue* and
# works on the queue head: it reads the column's two pointers and then issues one entry
# per cycle. PE p needs c_p(k) = max(1, n_p(k)) cycles for broadcast column k, where
# n_p(k) is the number of its entries (real and filler) in that column. Different PEs have
# different n_p(k): the queue lets a PE with little work run ahead and a PE with much work
# fall behind, up to D columns. When any queue is full, the broadcast waits.
#
# The timing contract (SPEC §5) turns this into a recurrence, with L the LNZD latency:
#
# * b_1 = L, and b_k = max(b_{k-1} + 1, max_p s_p(k - D)) for k > D (else b_{k-1} + 1);
# * s_p(1) = b_1 + 1, and s_p(k) = max(b_k + 1, s_p(k-1) + c_p(k-1));
# * the block ends at max_p (s_p(K') + c_p(K')) + PIPELINE_DRAIN (the pipeline drains;
#   `eiesim.timing.PIPELINE_DRAIN` = issue 1 + SRAM read 1 + four arithmetic stages).
#
# A PE is *starved* when it finished its last column and the next broadcast has not
# reached it; the CCU *stalls* when it holds a broadcast because a queue is full.
# *Load efficiency* = busy PE-cycles / (N x cycles): 1 means no PE ever waits.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from eiesim.labs import lab3 as check
from eiesim.labs import pick
from eiesim.labs.sweeps import measured
from eiesim.engines.reference import LineTrace
from eiesim.simulation import simulate

# %% [markdown]
# ## Your parameters
#
# Write your student id below (a grader may set the environment variable
# `EIESIM_STUDENT_ID` instead). The exercises use the values drawn for your id: a
# classmate's differ. Each exercise ends with `grader.check("qN")`, which runs the public
# checks: they catch a malformed answer and hint at the method, but only the autograder's
# hidden tests tell whether the value is right.

# %%
STUDENT_ID = ""  # your student id, e.g. "s1234567"
P = check.params(STUDENT_ID)
P

# %% [markdown]
# ## 1. A two-PE layer, by hand
#
# The layer below has 12 rows and 5 columns on N = 2 PEs (PE0 owns the even rows, PE1 the
# odd rows). All five activations are non-zero, so all five columns are broadcast. PE0
# has six entries in column 0 and PE1 six in column 3; everything else is one entry.

# %%
layer, acts, config = check.two_pe_layer(queue_depth=1)
counts = layer.column_counts()[0]  # (PE, column): n_p(k) of the single row block
pd.DataFrame(counts, index=["PE0", "PE1"], columns=[f"col {j}" for j in range(5)])

# %% [markdown]
# With one PE's heavy column early and the other's late, a shallow queue forces the PEs
# into lock step: every column costs the slower PE's time. Run it at depth 1 and look at
# the counters.

# %%
result = simulate(layer, acts, config)
print("cycles", result.cycles)
print("starved PE-cycles", result.counters.starved_pe_cycles, "per PE", result.per_pe.starved)
print("queue-full stall cycles", result.counters.queue_full_stall_cycles)
print("load efficiency", round(result.metrics["load_efficiency"], 3))

# %% [raw]
# # BEGIN QUESTION
# name: q1

# %% [markdown]
# ### Exercise 1
# Using the recurrence above (L = 1 for N = 2), compute by hand the cycle count of this
# layer with queue depth **D = `P.depth`**. Write down b_k and s_p(k) for k = 1..5 before
# you add the drain. Exact answer required.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_cycles = check.two_pe_cycles(P.depth)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: a whole number; every PE works at least sum over k of max(1, n_p(k)) cycles after the first broadcast, then the pipeline drains for eiesim.timing.PIPELINE_DRAIN cycles
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
from eiesim.timing import PIPELINE_DRAIN
assert is_whole(my_cycles) and my_cycles > counts.clip(min=1).sum(axis=1).max() + PIPELINE_DRAIN

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_cycles, check.two_pe_cycles(P.depth))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2

# %% [markdown]
# ### Exercise 2
# What is the smallest queue depth D at which this layer takes at most **`P.slack`**
# cycles more than with an (effectively) unbounded queue of 256? Reason first, then test
# your guess with `check.two_pe_cycles(D)` for a few D.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_depth = check.full_speed_depth_of(P.slack)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: a queue depth is a whole number from 1 to 256; a broadcast waits for s_p(k - D), so find how far the lightly loaded PE runs ahead of the busy one
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert is_whole(my_depth) and 1 <= my_depth <= 256

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_depth, check.full_speed_depth_of(P.slack))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ### Watch the queues cycle by cycle
#
# The reference engine is built from the blocks of EIE Fig. 4, each clocked once per
# cycle, and every block describes what it did in that cycle. Give `simulate` a
# `LineTrace` and the engine composes one line per cycle: the CCU (`bcast jJ`, or
# `full, hold jJ` when a queue refused the put), then per PE its queue occupancy `qN` at
# the end of the cycle, the pop (`ptr jJ`) or `wait` (starved), the issued address
# (`iss @A`), the SRAM read (`sram @A`, `*` = a new row read), and the four arithmetic
# stages on local row R (`dec rR`, `mul rR`, `add rR`, `wr rR`). The same from a shell:
# `eiesim simulate --weights W.npy --acts a.npy --pes 2 --queue-depth 2 --engine reference --trace`.

# %%
layer2, acts2, config2 = check.two_pe_layer(queue_depth=2)
trace = LineTrace()
simulate(layer2, acts2, config2, engine="reference", observer=trace)
print("\n".join(trace.lines))

# %% [raw]
# # BEGIN QUESTION
# name: q3

# %% [markdown]
# ### Exercise 3: a slower refill
#
# In the trace above, a slot freed by a pop in cycle t takes the CCU's next broadcast in
# the same cycle t (SPEC §5: `queue_refill = "same-cycle"`). The EIE authors' own
# simulator frees it only for cycle t + 1 (`"next-cycle"`, part of its `eie-cpp` timing
# profile, SPEC §5.1). **Predict** how many cycles next-cycle refill adds to this layer at
# D = `P.refill_depth`, before you run anything: which broadcasts waited for a pop?


# %% [raw]
# # BEGIN SOLUTION

# %%
my_extra = check.refill_cost_of(P.refill_depth)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: a whole number of cycles, at least 0 (a slower refill never speeds anything up); only broadcasts that waited for a pop move, each by one cycle
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert is_whole(my_extra) and my_extra >= 0

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_extra, check.refill_cost_of(P.refill_depth))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# Now measure it: the rule is a field of the configuration (and a sweep axis,
# `--grid queue_refill=same-cycle,next-cycle`). Compare the two traces line by line: where
# does the first `full, hold` last one cycle longer? From a shell, `--timing eie-cpp`
# switches on the whole authors' profile, next-cycle refill included (with B ring slots of
# which B - 1 are usable: `--queue-depth 3` there gives two usable slots).

# %%
slow = LineTrace()
simulate(layer2, acts2, config2.replace(queue_refill="next-cycle"), engine="reference", observer=slow)
print("\n".join(slow.lines))
for depth in (2, 8):
    print(f"D = {depth}: same-cycle {check.two_pe_cycles(depth)} cycles, "
          f"next-cycle {check.two_pe_cycles(depth, 'next-cycle')} cycles")

# %% [markdown]
# ## 2. Queue depth on the benchmark layers (EIE Fig. 8)
#
# Now sweep D = 1, 2, 4, ..., 256 on the nine benchmark layers of EIE Table III at 64 PEs.
# `measured` runs an `eiesim.sweep` grid into a resumable Parquet store (re-running the
# cell computes nothing twice) and returns one row per point. The same sweep from a
# shell: `eiesim sweep --layers all --grid queue_depth=1..256:pow2 --out lab3-results`.
#
# In the quick setting used by the test suite (`EIESIM_LAB_QUICK=1`) the grid shrinks to
# two small synthetic layers (`synth:MxK:weight density:activation density`).

# %%
N_PE = pick(64, 16)
LAYERS = pick(
    ["Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM"],
    ["synth:256x1024:0.1:0.35", "synth:128x512:0.2:1"],
)
DEPTHS = pick([1, 2, 4, 8, 16, 32, 64, 128, 256], [1, 2, 4, 8, 16, 256])
STORE = "lab3_files/sweep"  # this lab's files stay in lab3_files/

df = measured(LAYERS, {"queue_depth": DEPTHS}, {"n_pe": N_PE}, STORE)
table = df.pivot(index="queue_depth", columns="layer", values="load_efficiency")
table.round(3)

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name in table.columns:
    ax.plot(table.index, table[name], marker="o", label=name)
ax.set(xscale="log", xlabel="activation queue depth D", ylabel="load efficiency",
       title=f"Load efficiency vs queue depth, {N_PE} PEs")
ax.set_xticks(DEPTHS, [str(d) for d in DEPTHS])
ax.legend(fontsize=7)
ax.grid(alpha=0.3)

# %% [markdown]
# Where do the lost cycles go? Starvation is PE-side waiting; queue-full stalls are
# CCU-side waiting. Both shrink as the queue deepens.

# %%
df["starved_fraction"] = df.starved_pe_cycles / (df.n_pe * df.cycles)
df.pivot(index="queue_depth", columns="layer", values="starved_fraction").round(4)

# %%
df.pivot(index="queue_depth", columns="layer", values="queue_full_stall_cycles")

# %% [raw]
# # BEGIN QUESTION
# name: q4

# %% [markdown]
# ### Exercise 4
# Find the smallest depth in `DEPTHS` at which **every** layer's load efficiency is within
# `P.within` (relative) of its value at the deepest queue (ratio >= 1 - `P.within`).
# Compare it with the paper's choice of 8. Hint: divide `table` by its last row.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_knee = int((table / table.iloc[-1] >= 1 - P.within).all(axis=1).idxmax())  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: choose one of the depths in DEPTHS; divide table by its last row and compare with 1 - P.within row by row
""" # END TEST CONFIG
assert my_knee in DEPTHS

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_knee, check.knee_depth_of(LAYERS, DEPTHS, N_PE, STORE, within=P.within))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 3. Why 8?
#
# A queue slot holds one broadcast (a 16-bit value and its column index), so each slot
# costs area and energy in every PE: EIE Table II gives the 8-deep queue 758 um^2 and
# 0.112 mW per PE, small next to the SRAMs. Beyond the knee you measured, extra slots buy
# almost nothing: the remaining gap to a load efficiency of 1 is not queueing but the
# *total* work per PE, which differs between PEs however deep the queue (compare
# `imbalance` below). Questions to discuss:
#
# * Which layers need the deepest queue, and what do they have in common (look at their
#   activation density and the number of broadcast columns)?
# * Why does the gain stop at a finite depth even though starvation keeps falling?

# %%
df.pivot(index="queue_depth", columns="layer", values="imbalance").round(3)
