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
# ### Exercise 1
# For the first layer, how many times faster per frame is simulated EIE (64 PEs) than
# this machine's CPU running the dense layer at **batch 1** (`cpu-dense-b1`)?

# %%
LAYER = report.layers()[0]
my_speedup_b1 = None  # your answer
check.speedup(my_speedup_b1, report, LAYER, column="eie-64pe", over="cpu-dense-b1")

# %% [markdown]
# ### Exercise 2
# Same layer, against the dense CPU at the **large batch** (`cpu-dense-b{BATCH}`), per
# frame. How much of EIE's advantage survives batching?

# %%
my_speedup_batched = None  # your answer
check.speedup(my_speedup_batched, report, LAYER, column="eie-64pe", over=f"cpu-dense-b{BATCH}")

# %% [markdown]
# ### Exercise 3
# Which column is fastest per frame for this layer? Give its label, e.g.
# `"cpu-sparse-b1"`.

# %%
my_fastest = None  # your answer
check.fastest(my_fastest, report, LAYER)

# %% [markdown]
# Questions to discuss:
#
# * CSR beats dense on the CPU at batch 1 for some layers but not others: relate it to the
#   layer's weight density and size.
# * EIE's time is simulated at 800 MHz in 45 nm, the CPU's measured on today's silicon:
#   what would a fair comparison normalise (technology, clock, memory)?
# * Which would you deploy for a latency-critical batch-1 service, and which for offline
#   batch inference?
