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
# # Lab 5: Where the energy goes
#
# **Learning objectives.** After this lab you can
#
# 1. derive the energy of a hardware event from a table of 45 nm figures and the project's
#    derivation rules, and multiply it by the simulator's event counts;
# 2. break a layer's energy down by module (activation queue, pointer read, sparse-matrix
#    read, arithmetic, activation read/write) and compare with EIE Table II;
# 3. explain how the sparse-matrix SRAM width (EIE Fig. 9) and the arithmetic precision
#    (Fig. 10) trade off, and how a modelling rule decides the answer;
# 4. quantify what keeping the weights in SRAM instead of DRAM saves.
#
# **Background.** The event model charges count x energy for every event the simulator
# counts: an SRAM row read per `spmat_row_reads`, two pointer reads per PE and broadcast
# column, a codebook lookup, multiply, add and accumulator access per entry, a queue push
# and pop per PE and broadcast. Energies come from Horowitz's 45 nm table
# (`eiesim/energy/tables/horowitz_45nm.toml`): e.g. a 64-bit access costs 10 / 20 / 100 pJ
# in an 8 KB / 32 KB / 1 MB SRAM and 1300-2600 pJ in DRAM. The rules: SRAM energy is
# interpolated log-log in capacity between those points and scales linearly with access
# width; integer operations are interpolated log-log in bit width between 8 and 32 bits;
# register files scale the 32-bit figure by width. `eiesim energy --explain` prints every
# rule with its numbers. A second model multiplies EIE Table II's measured unit powers
# by the run time.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from eiesim import ArchConfig
from eiesim.energy import dram_counterfactual
from eiesim.functional import functional_output
from eiesim.labs import lab5 as check
from eiesim.labs import pick
from eiesim.paper.studies import precision_energy, precision_variants
from eiesim.simulation import prepare_activations, simulate

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
# ## 1. One layer, module by module
#
# The layer is AlexNet's fc7 (Alex-7 of EIE Table III: 4096 x 4096, 9 % weights kept,
# 35 % non-zero inputs) on the paper's 64-PE array; the quick setting uses a smaller
# synthetic layer of the same densities. Its weights and activations are drawn from your
# seed, `P.layer_seed`.

# %%
config = ArchConfig()
LAYER = pick("Alex-7", "synth:512x1024:0.09:0.35")
layer, acts = check.lab_layer(LAYER, config, seed=P.layer_seed)
result = simulate(layer, acts, config)
print(f"{LAYER}: {result.cycles} cycles, {result.time_us:.2f} us, {result.energy.total / 1e6:.3f} uJ")
modules = pd.DataFrame({"event model (pJ)": result.energy.per_module,
                        "Table II model (pJ)": result.energy.estimates[1].per_module}).fillna(0.0)
modules["event share"] = modules["event model (pJ)"] / modules["event model (pJ)"].sum()
modules.round(3)

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
modules[["event model (pJ)", "Table II model (pJ)"]].div(1e6).plot.barh(ax=ax)
ax.set(xlabel="energy (uJ)", title=f"{LAYER}: energy per module")

# %% [markdown]
# Every line of the event model: how many times it happened, what one costs, and the rule
# that priced it.

# %%
pd.DataFrame([{"event": ln.name, "module": ln.module, "count": ln.count, "pJ each": round(ln.pj_each, 4),
               "pJ": round(ln.pj, 1), "rule": ln.rule} for ln in result.energy.primary.lines])

# %%
print("spmat_row_reads =", result.counters.spmat_row_reads)

# %% [raw]
# # BEGIN QUESTION
# name: q1

# %% [markdown]
# ### Exercise 1
# Derive by hand the energy of one 64-bit read of the 128 KB sparse-matrix SRAM (log-log
# between 32 KB at 20 pJ and 1 MB at 100 pJ), multiply by the run's `spmat_row_reads`
# and give the module's total energy in pJ (to 0.1 %).

# %% [raw]
# # BEGIN SOLUTION

# %%
# BEGIN SOLUTION NO PROMPT
import math
per_read = 20 * (100 / 20) ** (math.log(128 / 32) / math.log(1024 / 32))
# END SOLUTION
my_spmat_pj = per_read * result.counters.spmat_row_reads  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "energy in pJ, a positive number: spmat_row_reads times one read's energy, which lies between the 32 KB (20 pJ) and 1 MB (100 pJ) points"
""" # END TEST CONFIG
from eiesim.labs.checking import is_number
assert is_number(my_spmat_pj) and 20 * result.counters.spmat_row_reads < my_spmat_pj < 100 * result.counters.spmat_row_reads

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_spmat_pj, check.spmat_energy_of(layer, acts, config), rel=1e-3)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 2. How wide should the sparse-matrix SRAM be? (EIE Fig. 9)
#
# A wider SRAM row holds more (4-bit code, 4-bit index) entries, so a PE reads a new row
# less often; but each read moves more bits. The project's rule makes one read's energy
# proportional to its width. Real SRAMs also pay a per-access cost independent of the
# width (decoders, sense amplifiers): `fixed_fraction` f gives that share of the 64-bit
# access energy, E(w) = E64 (f + (1 - f) w / 64).

# %%
WIDTHS = [16, 32, 64, 128, 256, 512]
linear = check.read_energy_by_width(layer, acts, config, WIDTHS, fixed_fraction=0.0)
overhead = check.read_energy_by_width(layer, acts, config, WIDTHS, fixed_fraction=0.5)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(linear.width_bits, linear.read_energy_pj / 1e6, marker="o", label="f = 0 (project rule)")
ax.plot(overhead.width_bits, overhead.read_energy_pj / 1e6, marker="s", label="f = 0.5")
ax.set(xscale="log", xlabel="SRAM width (bits)", ylabel="spmat read energy (uJ)")
ax.set_xticks(WIDTHS, [str(w) for w in WIDTHS])
ax.legend()
linear

# %% [raw]
# # BEGIN QUESTION
# name: q2

# %% [markdown]
# ### Exercise 2
# With the project's rule (f = 0) the narrowest SRAM always wins here. Find the fixed
# fraction f at which a **`P.wide`-bit** SRAM costs exactly as much read energy as the
# paper's **64-bit** one for this layer (to 0.1 %): above it, wider pays. (EIE, with
# CACTI's SRAM numbers, found 64 bits best.)

# %% [raw]
# # BEGIN SOLUTION

# %%
# BEGIN SOLUTION NO PROMPT
reads = check.read_energy_by_width(layer, acts, config, [64, P.wide]).set_index("width_bits").spmat_row_reads
r_n, r_w, a, b = reads[64], reads[P.wide], 1.0, P.wide / 64
# END SOLUTION
my_f = (r_w * b - r_n * a) / (r_n * (1 - a) - r_w * (1 - b))  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a fraction between 0 and 1; write the read energy at 64 and at the wide width as functions of f and set them equal, the reads come from read_energy_by_width"
""" # END TEST CONFIG
from eiesim.labs.checking import is_number
assert is_number(my_f) and 0 < my_f < 1

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_f, check.break_even_fraction_of(layer, acts, config, 64, P.wide), rel=1e-3)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 3. Precision (EIE Fig. 10)
#
# EIE computes in 16-bit fixed point. The table below gives the energy of one multiply and
# one add in each format; the layer's output error against float32 comes from the
# functional model with per-layer calibrated fraction bits.

# %%
precision_energy()[["format", "bits", "mult_pj", "add_pj", "mac_pj"]]

# %%
f32 = config.replace(precision="float32")
reference = functional_output(layer, prepare_activations(layer, acts, f32), f32)
errors = []
for label, cfg in precision_variants(layer, acts, config).items():
    out = functional_output(layer, prepare_activations(layer, acts, cfg), cfg)
    errors.append({"format": label, "relative L2 error": np.linalg.norm(out - reference) / np.linalg.norm(reference)})
pd.DataFrame(errors)

# %% [raw]
# # BEGIN QUESTION
# name: q3

# %% [markdown]
# ### Exercise 3
# Simulate the layer with `precision="float32"` and give the ratio of its total energy
# to the 16-bit fixed-point run's (to 0.1 %). Which modules change, and why not the SRAMs?

# %% [raw]
# # BEGIN SOLUTION

# %%
my_ratio = simulate(layer, acts, config.replace(precision="float32")).energy.total / result.energy.total  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a ratio above 1: float32 arithmetic costs more than 16-bit fixed point; simulate twice and divide the totals"
""" # END TEST CONFIG
from eiesim.labs.checking import is_number
assert is_number(my_ratio) and my_ratio > 1

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_ratio, check.float32_ratio_of(layer, acts, config), rel=1e-3)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 4. SRAM versus DRAM
#
# EIE's point is that a compressed layer fits on chip. If instead the weights came from
# DRAM on every inference, each 32-bit DRAM access would cost 640 pJ:

# %%
pd.DataFrame([s.to_dict() for s in dram_counterfactual(layer, config)])

# %% [raw]
# # BEGIN QUESTION
# name: q4

# %% [markdown]
# ### Exercise 4
# How many times EIE's whole simulated energy for this layer is the energy of fetching
# just its **compressed** weights from DRAM (32-bit accesses, column `pj_32bit`)? To 0.1 %.

# %% [raw]
# # BEGIN SOLUTION

# %%
# BEGIN SOLUTION NO PROMPT
streams = {s.stream: s for s in dram_counterfactual(layer, config)}
# END SOLUTION
my_dram_ratio = streams["compressed"].pj_32bit / result.energy.total  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a positive ratio: the compressed stream's pj_32bit divided by the simulated run's total energy"
""" # END TEST CONFIG
from eiesim.labs.checking import is_number
assert is_number(my_dram_ratio) and my_dram_ratio > 0

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_dram_ratio, check.dram_ratio_of(layer, acts, config), rel=1e-3)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# Questions to discuss:
#
# * Which module dominates, and which counter would you try to reduce first?
# * The event model and the Table II model disagree by module: which assumptions of each
#   could explain it (toggle rates, clock network, what "pointer read" includes)?
# * The dense float32 stream costs more than ten times the compressed one: how much of
#   that is pruning, and how much is 4-bit weight sharing?
