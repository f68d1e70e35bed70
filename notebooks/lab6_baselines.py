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
# # Lab 6: EIE against CPU and GPU
#
# **Learning objectives.** After this lab you can
#
# 1. measure a dense and a sparse (CSR) fully connected layer with PyTorch properly:
#    warm-up, repeats, median and spread, threads and device recorded;
# 2. compare measured CPU/GPU time per frame with EIE's simulated latency at batch 1 and
#    batch 64 (EIE Figs. 6-7);
# 3. explain when a sparse accelerator wins and when batching lets a dense processor
#    catch up.
#
# **Background.** A fully connected layer at batch 1 is a matrix-vector product: every
# weight is read once and used once, so a CPU or GPU is limited by memory bandwidth, and
# EIE's compressed, on-chip weights shine. At batch B the weights are reused B times
# (matrix-matrix product) and the dense processor becomes compute-bound; per frame it can
# overtake EIE, at the price of waiting for B inputs (latency). EIE's paper compares at
# batch 1 and 64 with a Core i7-5930K, a Titan X and a Tegra K1; here we measure this
# machine (and its GPU when PyTorch sees one). Energy comes from RAPL/NVML counters only
# where they are readable; otherwise the report says why.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from eiesim.labs import lab6 as check
from eiesim.labs import pick
from workloads.baselines import run_baselines

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
# ## 1. Measure
#
# `run_baselines` times `W @ a` with W dense and with W in CSR, per layer, device and
# batch, and simulates each layer on a 64-PE EIE. The same from a shell:
# `eiesim baseline --benchmark all --batch 1 --batch 64 --json baseline.json`.
# The quick setting measures one layer with few repeats and a batch of 8.

# %%
LAYERS = pick(None, ["NT-We"])  # None: all nine layers of EIE Table III
BATCH = pick(64, 8)
report = run_baselines(LAYERS, batches=(1, BATCH), repeats=pick(10, 3), warmup=pick(3, 1),
                       energy_seconds=pick(0.5, 0.05))
print(report.to_markdown())

# %%
times = pd.DataFrame([{"layer": layer, **{c: s * 1e6 for c, s in check.seconds_per_frame(report, layer).items()}}
                      for layer in report.layers()]).set_index("layer")
times.round(2)  # microseconds per frame

# %%
fig, ax = plt.subplots(figsize=(8, 3.8))
times.plot.bar(ax=ax, logy=True)
ax.set(ylabel="us per frame (log)", title="Time per frame: measured CPU/GPU, simulated EIE")
ax.legend(fontsize=7)

# %% [markdown]
# The spread matters: a median is only as good as the quartiles around it.

# %%
pd.DataFrame([{"layer": m.layer, "column": m.label, "median us": m.call.median * 1e6,
               "q1 us": m.call.q1 * 1e6, "q3 us": m.call.q3 * 1e6, "repeats": m.call.repeats,
               "energy": m.energy_note or "measured"} for m in report.measurements]).round(2)

# %% [markdown]
# The autograder runs your notebook again and so measures again: compute each answer
# from `report` (or `times`) in code, never type a number you read off a table.

# %%
LAYER = report.layers()[0]

# %% [raw]
# # BEGIN QUESTION
# name: q1

# %% [markdown]
# ### Exercise 1
# For the first layer, how many times faster per frame is simulated EIE (64 PEs) than
# this machine's CPU running **`P.b1_over`** (batch 1)? To 0.1 %, computed from `report`.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_speedup_b1 = times.loc[LAYER, P.b1_over] / times.loc[LAYER, "eie-64pe"]  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a positive number: the time per frame of the slower column divided by that of the faster; compute it from times or check.seconds_per_frame(report, LAYER)"
""" # END TEST CONFIG
from eiesim.labs.checking import is_number
assert is_number(my_speedup_b1) and my_speedup_b1 > 0

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_speedup_b1, check.speedup_of(report, LAYER, column="eie-64pe", over=P.b1_over), rel=1e-3)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2

# %% [markdown]
# ### Exercise 2
# Same layer, against the **`P.batched_kind`** CPU layer at the **large batch**
# (`cpu-{P.batched_kind}-b{BATCH}`), per frame. How much of EIE's advantage survives
# batching? To 0.1 %, computed from `report`.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_speedup_batched = times.loc[LAYER, f"cpu-{P.batched_kind}-b{BATCH}"] / times.loc[LAYER, "eie-64pe"]  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a positive number; batch timings are per call, so divide them by the batch (seconds_per_frame does)"
""" # END TEST CONFIG
from eiesim.labs.checking import is_number
assert is_number(my_speedup_batched) and my_speedup_batched > 0

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_speedup_batched, check.speedup_of(report, LAYER, column="eie-64pe", over=f"cpu-{P.batched_kind}-b{BATCH}"), rel=1e-3)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3

# %% [markdown]
# ### Exercise 3
# Which column is fastest per frame for this layer? Give its label, e.g.
# `"cpu-sparse-b1"`, computed from `report`.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_fastest = times.loc[LAYER].idxmin()  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "one of the column labels of times (or of check.seconds_per_frame(report, LAYER))"
""" # END TEST CONFIG
assert isinstance(my_fastest, str) and my_fastest in check.seconds_per_frame(report, LAYER)

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
from eiesim.labs.checking import same_choice
assert same_choice(my_fastest, check.fastest_of(report, LAYER))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# Questions to discuss:
#
# * CSR beats dense on the CPU at batch 1 for some layers but not others: relate it to the
#   layer's weight density and size.
# * EIE's time is simulated at 800 MHz in 45 nm, the CPU's measured on today's silicon:
#   what would a fair comparison normalise (technology, clock, memory)?
# * Which would you deploy for a latency-critical batch-1 service, and which for offline
#   batch inference?
