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
# # Lab 4: Scaling the PE count
#
# **Learning objectives.** After this lab you can
#
# 1. count the filler ("padding zero") entries of a column by hand for any number of PEs;
# 2. measure speedup against PE count 1..256 (EIE Fig. 11) and explain where it bends;
# 3. split every PE-cycle of a run into real work, fillers, empty columns and idle time
#    (EIE Figs. 12 and 13);
# 4. decide when adding PEs stops paying for a given layer.
#
# **Background.** With N PEs, row i of W belongs to PE i mod N. Each PE has R = 64
# accumulators, so a layer of M rows runs in ceil(M / (N R)) *row blocks*; each block
# re-broadcasts every non-zero input. A PE stores, per column, its entries with 4-bit
# relative row indices: a gap of 16 or more zero rows needs *filler* entries (code 0)
# that cost a cycle and do nothing. A PE with no entry in a broadcast column still spends
# one cycle reading the column's pointers (an *empty column*). So every PE-cycle of a run
# is one of
#
#     N x cycles = real entries + filler entries + empty columns + idle PE-cycles,
#
# where idle covers starvation, the LNZD latency, the pipeline drain, a PE waiting for
# the slowest one at the end of a block, and the write-back between blocks. More PEs divide the real work but not the
# per-column and per-block overheads.

# %%
import matplotlib.pyplot as plt

from eiesim.labs import lab4 as check
from eiesim.labs import pick

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
# ## 1. Fillers by hand
#
# A single column of a 128-row layer has non-zeros in rows 3, 40, 41 and 100. With one
# PE (and 128 accumulators, so one block), the local rows are the rows themselves; the
# gaps of zeros before each non-zero are 3, 36, 0 and 58, giving 0 + 2 + 0 + 3 = 5 fillers:

# %%
ROWS = [3, 40, 41, 100]
print("fillers with 1 PE:", check.column_fillers(ROWS, n_pe=1))

# %% [raw]
# # BEGIN QUESTION
# name: q1

# %% [markdown]
# ### Exercise 1
# How many fillers does the same column need on **N = `P.fillers_pes`** PEs? (PE p holds
# rows i with i mod N = p at local row i div N.) Exact answer required.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_fillers = check.column_fillers(ROWS, n_pe=P.fillers_pes)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a whole number of at least 0; split the rows by PE (row mod N), turn them into local rows (row div N), then count floor(gap / 16) fillers for each gap of zero rows before a non-zero"
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert is_whole(my_fillers) and my_fillers >= 0

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "more PEs make each PE's slice of the column shorter, so there are no more fillers than with one PE"
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert is_whole(my_fillers) and my_fillers <= check.column_fillers(ROWS, n_pe=1)

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_fillers, check.column_fillers(ROWS, n_pe=P.fillers_pes))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 2. Speedup from 1 to 256 PEs
#
# The sweep below simulates each layer at N = 1, 2, 4, ..., 256 (fast engine, queue depth 8).
# Speedup is relative to one PE. From a shell:
# `eiesim sweep --layers all --grid n_pe=1..256:pow2 --out lab4-results`.

# %%
LAYERS = pick(
    ["Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM"],
    ["synth:512x1024:0.1:0.35", "synth:96x512:0.1:1"],
)
PES = pick([1, 2, 4, 8, 16, 32, 64, 128, 256], [1, 4, 16, 64, 256])
STORE = "lab4_files/sweep"  # this lab's files stay in lab4_files/

df = check.scaling_frame(LAYERS, PES, STORE)
df.pivot(index="n_pe", columns="layer", values="speedup").round(1)

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name, group in df.groupby("layer", sort=False):
    ax.plot(group.n_pe, group.speedup, marker="o", label=name)
ax.plot(PES, PES, "k--", lw=1, label="ideal")
ax.set(xscale="log", yscale="log", xlabel="PEs", ylabel="speedup over 1 PE", title="Scalability (EIE Fig. 11)")
ax.legend(fontsize=7)
ax.grid(alpha=0.3)

# %% [raw]
# # BEGIN QUESTION
# name: q2

# %% [markdown]
# ### Exercise 2
# For the **last** layer of `LAYERS`, what is the largest N in `PES` whose parallel
# efficiency, speedup / N, is at least `P.threshold`? Hint: `df` has columns layer, n_pe,
# speedup and parallel_efficiency.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_n = int(df[(df.layer == LAYERS[-1]) & (df.parallel_efficiency >= P.threshold)].n_pe.max())  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "choose one of the PE counts in PES; speedup(N) = cycles(1) / cycles(N) and parallel efficiency = speedup / N"
""" # END TEST CONFIG
assert my_n in PES

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_n, check.last_efficient_n_of(LAYERS[-1], PES, STORE, threshold=P.threshold))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 3. Where the PE-cycles go
#
# Fillers ("padding zeros", EIE Fig. 12) and load balance (Fig. 13) move in opposite
# directions as N grows. While a layer needs several row blocks, every PE has R local
# rows per block whatever N is, so fillers stay put; once a single block holds the layer
# (N R >= M), each PE's slice gets shorter, the gaps shrink and fillers vanish. At the
# same time each PE's slice of a column holds fewer entries, so more PE-columns are empty
# and the per-PE work varies more.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for name, group in df.groupby("layer", sort=False):
    axes[0].plot(group.n_pe, group.real_work_fraction, marker="o", label=name)
    axes[1].plot(group.n_pe, group.load_efficiency, marker="o", label=name)
axes[0].set(xscale="log", xlabel="PEs", ylabel="real / (real + filler + empty)", title="Real work (Fig. 12)")
axes[1].set(xscale="log", xlabel="PEs", ylabel="busy / (N x cycles)", title="Load efficiency (Fig. 13)")
axes[1].legend(fontsize=7)

# %%
breakdown = df[["layer", "n_pe", "cycles", "real_entries", "filler_entries", "empty_columns"]].copy()
breakdown["idle"] = df.n_pe * df.cycles - df.busy_pe_cycles
breakdown

# %% [raw]
# # BEGIN QUESTION
# name: q3

# %% [markdown]
# ### Exercise 3
# For the **last** layer of `LAYERS` at **N = `P.loss_pes`**, which loss is largest:
# `"filler"`, `"empty"` or `"idle"`?

# %% [raw]
# # BEGIN SOLUTION

# %%
# BEGIN SOLUTION NO PROMPT
row = df[(df.layer == LAYERS[-1]) & (df.n_pe == P.loss_pes)].iloc[0]
# END SOLUTION
my_loss = max(check.lost_cycles(row).items(), key=lambda kv: kv[1])[0]  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "answer with one of the words \"filler\", \"empty\" or \"idle\"; busy PE-cycles = real + filler + empty and idle = N x cycles - busy"
""" # END TEST CONFIG
assert isinstance(my_loss, str) and my_loss.strip().lower() in check.LOSSES

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import same_choice
assert same_choice(my_loss, check.dominant_loss_of(LAYERS[-1], P.loss_pes, PES, STORE))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 4. When do more PEs stop paying?
#
# Discuss with the tables above:
#
# * A layer with M output rows gives each PE about M / N rows. What happens to a PE's
#   share of a column (weight density x M / N entries on average) when it falls below 1?
# * The LNZD latency grows with log4 N and the pipeline drain is fixed: which layers feel
#   these constant costs first?
# * NT-We has 600 outputs and NT-Wd 8791: which one keeps scaling to 256 PEs, and why?
