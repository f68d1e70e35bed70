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
# # Lab 7: Structured versus unstructured pruning
#
# **Learning objectives.** After this lab you can
#
# 1. prune a layer four ways (single weights by magnitude, the same number of weights on
#    every PE as in ESE's load-balance-aware pruning, whole rows, 4 x 4 blocks) to the same
#    accuracy, and see how much each scheme may remove;
# 2. count the storage of a sparse layer in four formats: EIE's 4-bit relative indices
#    with fillers, CSR with absolute indices, dense codes, and the compacted dense form
#    that structured pruning allows;
# 3. measure on the simulator what each scheme buys on EIE in cycles and energy;
# 4. measure EIE's pruning-to-performance ratio (PPR) and compare it with the value the
#    ADMM-NN-S study assumes for accelerators of unstructured sparsity, as a curve over the
#    pruning rate for every scheme.
#
# **Background.** Unstructured pruning removes individual weights and reaches the highest
# pruning rates at a given accuracy, but the survivors sit at irregular places: each needs
# an index, and the hardware must cope with irregular work. Structured pruning removes
# whole rows, columns or blocks: less can go at the same accuracy, but what remains is a
# smaller dense matrix that needs almost no index and runs regularly on any hardware. The
# ADMM-NN-S study ("Non-structured DNN weight pruning: is it beneficial in any platform?")
# compares the two at equal accuracy and charges unstructured sparsity with a
# pruning-to-performance ratio, PPR = pruning rate / speedup: a PPR of 2.7 means that a
# layer pruned 10x runs only 10 / 2.7 = 3.7x faster. EIE was built for unstructured
# sparsity; here you measure its PPR. The model is LeNet-300-100 on the digits (as in
# Lab 1); fc1 (300 x 64) and fc2 (100 x 300) are pruned, fc3 stays dense.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from eiesim import ArchConfig
from eiesim.labs import lab7 as check
from eiesim.labs import pick
from eiesim.labs.lab1 import accuracy, model_layers
from workloads.digits import load_digits_split
from workloads.lenet import build_mlp, train

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
# ## 1. Train the dense model

# %%
torch.manual_seed(0)
torch.set_num_threads(1)  # a tiny model: threads cost more than they give
data = load_digits_split(seed=0)
dense = build_mlp(data.n_inputs, (300, 100))
train(torch, dense, dense.parameters(), data, pick(40, 6), 1e-3, 64, torch.Generator().manual_seed(0))
dense_layers = model_layers(dense)
dense_acc = accuracy(dense_layers, data.x_test, data.y_test)
print(f"dense accuracy {dense_acc:.3f}")

# %% [markdown]
# ## 2. Four ways to keep 10 % of fc1
#
# `balanced` keeps the largest weights *within each PE's rows* (row i sits on PE i mod 64),
# the same number on every PE, so no PE holds the others back (ESE, FPGA 2017).

# %%
w1 = dense_layers[0][0]
fig, axes = plt.subplots(1, 4, figsize=(14, 4))
for ax, scheme in zip(axes, check.SCHEMES):
    ax.imshow(check.mask(w1, scheme, 0.1), aspect="auto", cmap="Greys", interpolation="nearest")
    ax.set(title=scheme, xlabel="input (column)", ylabel="output (row)")

# %% [markdown]
# ## 3. Accuracy against density
#
# Each point prunes fc1 and fc2 of a copy of the dense model to the density and retrains
# it with the masks held. "Equal accuracy" is the dense accuracy minus one point; each
# scheme gets the lowest density in the grid that reaches it.

# %%
DENSITIES = pick([0.03, 0.05, 0.08, 0.12, 0.2, 0.3, 0.5], [0.1, 0.3])
RETRAIN = pick(15, 3)
target = dense_acc - 0.01
models, rows = {}, []
for scheme in check.SCHEMES:
    for density in DENSITIES:
        model = check.pruned_copy(dense, data, scheme, density, epochs=RETRAIN)
        models[scheme, density] = model
        rows.append({"scheme": scheme, "density": density,
                     "accuracy": accuracy(model_layers(model), data.x_test, data.y_test)})
acc = pd.DataFrame(rows).pivot(index="density", columns="scheme", values="accuracy")
acc.round(3)

# %%
chosen = {}
for scheme in check.SCHEMES:
    reached = acc.index[acc[scheme] >= target]
    chosen[scheme] = float(reached.min()) if len(reached) else float(acc[scheme].idxmax())
    note = "" if len(reached) else f" (none reaches {target:.3f}: the most accurate density instead)"
    print(f"{scheme}: density {chosen[scheme]}{note}")
fig, ax = plt.subplots(figsize=(6, 3.5))
acc.plot(ax=ax, marker="o", logx=True)
ax.axhline(target, color="k", ls="--", lw=1, label="target")
ax.set(xlabel="density of fc1 and fc2", ylabel="test accuracy")

# %% [markdown]
# ## 4. Storage at equal accuracy
#
# For each scheme at its chosen density: fc1 and fc2 weight-shared to 4 bits and stored
# in the four formats (bits, fc1 + fc2). `eie` is EIE's format on 64 PEs; see the
# docstring of `eiesim.labs.lab7` for the exact rules of each.

# %%
config = ArchConfig()
IMAGES = pick(20, 4)
matrices, inputs = {}, {}
for scheme, density in chosen.items():
    layers = model_layers(models[scheme, density])
    matrices[scheme] = [layers[0][0], layers[1][0]]
    x = data.x_test[:IMAGES]
    h1 = np.maximum(x @ layers[0][0].T + layers[0][1], 0.0)  # fc2's inputs on this model
    inputs[scheme] = [x, h1]
table = pd.DataFrame({scheme: {fmt: sum(check.storage(w, scheme, config)[fmt] for w in ws)
                               for fmt in ("eie", "csr", "dense", "compact")}
                      for scheme, ws in matrices.items()}).T
table.insert(0, "density", pd.Series(chosen))
table

# %%
w1_unstructured = matrices["unstructured"][0]
print("kept weights:", np.count_nonzero(w1_unstructured))

# %% [raw]
# # BEGIN QUESTION
# name: q1

# %% [markdown]
# ### Exercise 1
# Compute by hand (with numpy) the absolute-index CSR bits of the **unstructured** fc1
# with **b = `P.csr_code_bits`-bit** codes: per kept weight a b-bit code and a
# ceil(log2 64)-bit column index, 301 row pointers of ceil(log2(nnz + 1)) bits, and a
# 2^b x 16-bit codebook. Exact answer required.

# %% [raw]
# # BEGIN SOLUTION

# %%
# BEGIN SOLUTION NO PROMPT
nnz = int(np.count_nonzero(w1_unstructured))
b = P.csr_code_bits
# END SOLUTION
my_csr_bits = nnz * (b + 6) + 301 * int(np.ceil(np.log2(nnz + 1))) + 2**b * 16  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a whole number of bits, more than b bits per kept weight"
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert is_whole(my_csr_bits) and my_csr_bits > P.csr_code_bits * np.count_nonzero(w1_unstructured)

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_csr_bits, check.csr_bits(w1_unstructured, P.csr_code_bits))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q2

# %% [markdown]
# ### Exercise 2
# At equal accuracy, which scheme needs the fewest bits in the **`P.storage_format`**
# format (a column of the table above)? Is it the same in the other formats?

# %% [raw]
# # BEGIN SOLUTION

# %%
my_scheme = table[P.storage_format].idxmin()  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "answer with one of the schemes: unstructured, balanced, row, block; compare the table's column for your format"
""" # END TEST CONFIG
assert isinstance(my_scheme, str) and my_scheme.strip().lower() in check.SCHEMES

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import same_choice
assert same_choice(my_scheme, check.least_storage_of(matrices, config, fmt=P.storage_format))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 5. Cycles, energy and the pruning-to-performance ratio on EIE
#
# Each pruned matrix runs on the 64-PE array with its own model's activations, and so does
# the dense matrix (every weight kept) with the same activations: the speedup is what the
# pruning alone buys.

# %%
rows = []
for scheme, ws in matrices.items():
    dense_ws = [dense_layers[0][0], dense_layers[1][0]]
    pruned = [check.eie_run(w, a, config) for w, a in zip(ws, inputs[scheme])]
    full = [check.eie_run(w, a, config) for w, a in zip(dense_ws, inputs[scheme])]
    rate = sum(w.size for w in ws) / sum(np.count_nonzero(w) for w in ws)
    speedup = sum(r["cycles"] for r in full) / sum(r["cycles"] for r in pruned)
    rows.append({"scheme": scheme, "density": chosen[scheme], "pruning rate": rate,
                 "cycles": sum(r["cycles"] for r in pruned), "dense cycles": sum(r["cycles"] for r in full),
                 "speedup": speedup, "PPR": rate / speedup,
                 "energy nJ": sum(r["energy_pj"] for r in pruned) / 1e3})
results = pd.DataFrame(rows).set_index("scheme")
results.round(3)

# %% [raw]
# # BEGIN QUESTION
# name: q3

# %% [markdown]
# ### Exercise 3
# Give EIE's PPR for the **unstructured** scheme (fc1 and fc2 together, as in the table)
# on **`P.ppr_pes` PEs** (the table above used 64), to 0.1 %, and compare it with the 2.7 that
# ADMM-NN-S assumes for unstructured accelerators.

# %% [raw]
# # BEGIN SOLUTION

# %%
# BEGIN SOLUTION NO PROMPT
cfg = config.replace(n_pe=P.ppr_pes)
ws, dense_ws, acts_ = matrices["unstructured"], [dense_layers[0][0], dense_layers[1][0]], inputs["unstructured"]
rate = sum(w.size for w in ws) / sum(np.count_nonzero(w) for w in ws)
pruned_cycles = sum(check.eie_run(w, a, cfg)["cycles"] for w, a in zip(ws, acts_))
dense_cycles = sum(check.eie_run(w, a, cfg)["cycles"] for w, a in zip(dense_ws, acts_))
# END SOLUTION
my_ppr = rate / (dense_cycles / pruned_cycles)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a positive number: PPR = (weights / kept weights) / (dense cycles / pruned cycles), over fc1 and fc2 together, with the same activations for dense and pruned"
""" # END TEST CONFIG
from eiesim.labs.checking import is_number
assert is_number(my_ppr) and my_ppr > 0

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_ppr, check.ppr_of(matrices["unstructured"], [dense_layers[0][0], dense_layers[1][0]], inputs["unstructured"], config.replace(n_pe=P.ppr_pes)), rel=1e-3)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# EIE's PPR is not a constant: it depends on how many rows each PE holds. These layers
# are tiny for 64 PEs (fc2 has 100 rows: fewer than two per PE). The same unstructured
# matrices on smaller arrays:

# %%
dense_pair = [dense_layers[0][0], dense_layers[1][0]]
pd.Series({n: check.ppr_of(matrices["unstructured"], dense_pair, inputs["unstructured"], config.replace(n_pe=n))
           for n in pick([1, 2, 4, 64, 128], [4, 64])}, name="PPR").rename_axis("PEs").to_frame().round(2)

# %% [raw]
# # BEGIN QUESTION
# name: q4

# %% [markdown]
# ### Exercise 4
# How many weights does each of the 64 PEs keep when fc1 (300 x 64) is balanced-pruned to
# a density of `P.balanced_density`? Count it on the mask, then give the rule.

# %% [raw]
# # BEGIN SOLUTION

# %%
# BEGIN SOLUTION NO PROMPT
balanced = check.mask(w1, "balanced", P.balanced_density)
# END SOLUTION
my_per_pe = int(balanced[0::64].sum())  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a whole number of weights per PE, at least 1 and at most the weights of a PE's rows"
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert is_whole(my_per_pe) and 1 <= my_per_pe <= 5 * 64

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_per_pe, check.balanced_share_of(300, 64, P.balanced_density, 64))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 6. The measured PPR curve
#
# Every model of section 3 (each scheme at each density), run on EIE against the dense
# fc1 and fc2 with the same activations. The dashed line is ADMM-NN-S's PPR of 2.7; a
# scheme below it gets more speed per removed weight than that study assumes.
# `eiesim study ppr` runs the same measurement on the paper's benchmark layers.

# %%
pruned_models, model_inputs = {}, {}
for key, model in models.items():
    layers = model_layers(model)
    pruned_models[key] = [layers[0][0], layers[1][0]]
    x = data.x_test[:IMAGES]
    model_inputs[key] = [x, np.maximum(x @ layers[0][0].T + layers[0][1], 0.0)]
curve = check.ppr_curve(pruned_models, dense_pair, model_inputs, config)
fig, ax = plt.subplots(figsize=(6, 3.5))
for scheme, group in curve.groupby("scheme", sort=False):
    group = group.sort_values("pruning rate")
    ax.plot(group["pruning rate"], group["PPR"], marker="o", label=scheme)
ax.axhline(2.7, color="k", ls="--", lw=1, label="ADMM-NN-S 2.7")
ax.set(xscale="log", xlabel="pruning rate (weights / kept)", ylabel="PPR = rate / EIE speedup")
ax.legend()
curve.round(3)

# %% [markdown]
# Questions to discuss:
#
# * Row pruning of fc1 removes whole neurons, so fc2 sees zero inputs there and EIE skips
#   those columns for free. Where in the table does that show up?
# * EIE interleaves rows over PEs (row i on PE i mod 64). What happens to load balance
#   when whole rows are pruned but the zero rows stay in place? How would you lay out a
#   row-pruned layer instead?
# * Balanced pruning gives every PE the same work over the whole layer, but EIE waits for
#   the slowest PE *in each column*. When does balancing per column group (`--group` of
#   `eiesim compress --prune balanced`) help more than balancing the whole layer?
# * Why does the PPR fall with fewer PEs? Which of Lab 4's losses (fillers, empty
#   columns, idle cycles) does the dense matrix avoid that the pruned one pays?
# * How do you expect the PPR of AlexNet-sized layers on 64 PEs to compare with 2.7?
# * In EIE's format the 16-bit pointers (K + 1 per PE) dominate these small layers'
#   storage. Which format would you choose for them, and for fc6 of AlexNet?
