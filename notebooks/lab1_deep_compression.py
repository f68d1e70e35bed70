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
# # Lab 1: Deep Compression of a layer
#
# **Learning objectives.** After this lab you can
#
# 1. prune a trained layer by weight magnitude to an exact density, and recover accuracy
#    by retraining with the mask held fixed;
# 2. share weights with k-means, and test Deep Compression's claim that linear
#    initialisation beats random (Forgy) initialisation;
# 3. Huffman-code the weight codes and relative indices, and account for every bit of
#    the stored layer as Deep Compression's tables do;
# 4. trade codebook bits against accuracy on a real (small) model.
#
# **Background.** Deep Compression (Han, Mao, Dally, ICLR 2016) shrinks a network in three
# stages. *Pruning* removes the weights of smallest magnitude and retrains the rest.
# *Weight sharing* clusters each layer's surviving weights into 2^b - 1 centroids (code 0
# is kept for "zero", i.e. pruned); each weight then stores only a b-bit code into a
# per-layer codebook, and the centroids can be fine-tuned with gradients summed per
# cluster. *Huffman coding* stores the codes and the sparse indices with variable-length
# codes. EIE executes the result directly: 4-bit codes, 4-bit relative row indices,
# 16-entry codebooks. The model here is LeNet-300-100 (64-300-100-10 ReLU MLP) trained on
# scikit-learn's 8 x 8 digits (DC used 28 x 28 MNIST, so compare ratios, not kilobytes).

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from compressor.csc import compress_layer
from compressor.huffman import HuffmanCode
from compressor.prune import apply_mask_to_torch, magnitude_mask
from compressor.quantize import share_weights
from compressor.report import layer_storage
from eiesim import ArchConfig
from eiesim.labs import lab1 as check
from eiesim.labs import pick
from workloads.digits import load_digits_split
from workloads.lenet import DC_LENET_DENSITIES, accuracy, build_mlp, train

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
gen = torch.Generator().manual_seed(0)
data = load_digits_split(seed=0)
model = build_mlp(data.n_inputs, (300, 100))
train(torch, model, model.parameters(), data, epochs=pick(40, 6), lr=1e-3, batch_size=64, generator=gen)
dense_acc = accuracy(torch, model, data)
print(f"dense test accuracy {dense_acc:.3f} on {len(data.y_test)} images")

# %% [markdown]
# ## 2. Pruning
#
# `magnitude_mask(W, density)` keeps exactly round(density x size) weights of largest
# magnitude (ties go to the lower index). Deep Compression keeps 8 %, 9 % and 26 % of
# LeNet-300-100's three layers.

# %%
names = ["fc1", "fc2", "fc3"]
for name, density in zip(names, DC_LENET_DENSITIES):
    layer = getattr(model, name)
    mask = magnitude_mask(layer.weight.detach().double().numpy(), density)
    apply_mask_to_torch(layer, mask)  # torch.nn.utils.prune: weight = weight_orig * mask
    print(f"{name}: {tuple(mask.shape)}, kept {mask.sum()} of {mask.size}")
pruned_acc = accuracy(torch, model, data)
train(torch, model, model.parameters(), data, epochs=pick(20, 3), lr=5e-4, batch_size=64, generator=gen)
retrained_acc = accuracy(torch, model, data)
print(f"accuracy: dense {dense_acc:.3f}, pruned {pruned_acc:.3f}, pruned + retrained {retrained_acc:.3f}")

# %% [raw]
# # BEGIN QUESTION
# name: q1

# %% [markdown]
# ### Exercise 1
# How many weights of fc1 (shape 300 x 64) survive pruning to a density of
# `P.density`? Exact answer required.

# %% [raw]
# # BEGIN SOLUTION

# %%
my_count = round(P.density * 300 * 64)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a whole number between 0 and 300 x 64; pruning keeps an exact count, round(density x number of weights)"
""" # END TEST CONFIG
from eiesim.labs.checking import is_whole
assert is_whole(my_count) and 0 < my_count < 300 * 64

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_count, check.survivors_of((300, 64), P.density))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 3. Weight sharing: linear versus random initialisation
#
# k-means needs starting centroids. *Linear* initialisation spaces them evenly between
# the smallest and largest weight; *random* (Forgy) initialisation picks existing weights,
# so most centroids land where most weights are: near zero. Deep Compression argues that
# the few large weights matter most and that linear initialisation serves them better.
# Look at where the centroids end up:

# %%
layers = check.model_layers(model)
w1 = layers[0][0]
values = w1[w1 != 0]
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist(values, bins=80, color="0.7")
for init, style in (("linear", "r|"), ("random", "b|")):
    centroids = np.unique(check.share(values, 3, init))
    ax.plot(centroids, np.zeros_like(centroids), style, ms=30, mew=2, label=f"{init} init, 3 bits")
ax.set(xlabel="fc1 weight", ylabel="count", title="Kept weights of fc1 and the shared values")
ax.legend()

# %% [markdown]
# Now the whole model with every layer's kept weights shared (biases stay float32, no
# centroid fine-tuning), against the codebook size. Accuracy counts test images, so two
# settings often tie; the test loss (mean cross-entropy) shows smaller differences. The
# last column is the mean error on fc1's 5 % largest weights.

# %%
BITS = pick([1, 2, 3, 4, 5, 6, 8], [1, 2, 4])
large = np.abs(values) >= np.quantile(np.abs(values), 0.95)
rows = []
for bits in BITS:
    for init in check.INITS:
        shared = check.shared_layers(layers, bits, init)
        rows.append({"bits": bits, "init": init,
                     "accuracy": check.accuracy(shared, data.x_test, data.y_test),
                     "test loss": check.loss(shared, data.x_test, data.y_test),
                     "error on large fc1 weights": np.abs(check.share(values, bits, init) - values)[large].mean()})
sharing = pd.DataFrame(rows).set_index(["bits", "init"]).unstack("init")
print(f"pruned model without sharing: accuracy {check.accuracy(layers, data.x_test, data.y_test):.3f}, "
      f"test loss {check.loss(layers, data.x_test, data.y_test):.4f}")
sharing.round(4)

# %% [raw]
# # BEGIN QUESTION
# name: q2

# %% [markdown]
# ### Exercise 2
# At **`P.init_bits` bit(s)** (2^bits - 1 shared values per layer), which initialisation
# gives the lower test loss: `"linear"` or `"random"`? Does your answer hold at every
# codebook size, and does it agree with the error on the large weights?

# %% [raw]
# # BEGIN SOLUTION

# %%
# BEGIN SOLUTION NO PROMPT
test_loss = {init: check.loss(check.shared_layers(layers, P.init_bits, init), data.x_test, data.y_test) for init in check.INITS}
# END SOLUTION
my_init = min(test_loss, key=test_loss.get)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "answer \"linear\" or \"random\"; compare loss(shared_layers(layers, bits, init), data.x_test, data.y_test) for both inits"
""" # END TEST CONFIG
assert isinstance(my_init, str) and my_init.strip().lower() in check.INITS

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import same_choice
assert same_choice(my_init, check.better_init_of(layers, data, P.init_bits))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: q3

# %% [markdown]
# ### Exercise 3
# What is the smallest codebook size in `BITS` (linear initialisation) whose accuracy is
# within `P.tolerance` of the pruned model without sharing?

# %% [raw]
# # BEGIN SOLUTION

# %%
# BEGIN SOLUTION NO PROMPT
base = check.accuracy(layers, data.x_test, data.y_test)
# END SOLUTION
my_bits = min(b for b in BITS if sharing.loc[b, ("accuracy", "linear")] >= base - P.tolerance)  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "one of the sizes in BITS; measure the accuracy at each codebook size and compare with the pruned model's, minus the tolerance"
""" # END TEST CONFIG
assert my_bits in BITS

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_bits, check.smallest_bits_of(layers, data, BITS, tolerance=P.tolerance))

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 4. Huffman coding and the storage bill
#
# `compress_layer` shares fc1's weights with 4 bits and stores them as EIE does (on
# `P.huffman_pes` PEs here:
# 4-bit code + 4-bit relative index per entry, fillers for gaps of 16 rows or more,
# 16-bit pointers per PE and column, a 16 x 16-bit codebook). The codes are far from
# uniformly used, which is what Huffman coding exploits.

# %%
config = ArchConfig.make(n_pe=P.huffman_pes)
fc1 = compress_layer(w1, config, name="fc1")
codes = HuffmanCode.from_symbols(fc1.code, 16)
indices = HuffmanCode.from_symbols(fc1.rel, 16)
pd.DataFrame({"count": codes.counts, "Huffman bits": codes.lengths}).T

# %%
print(f"weight codes:     {codes.fixed_bits} bits fixed-width -> {codes.encoded_bits} bits Huffman "
      f"(+ {codes.table_bits}-bit table)")
print(f"relative indices: {indices.fixed_bits} bits fixed-width -> {indices.encoded_bits} bits Huffman "
      f"(+ {indices.table_bits}-bit table)")
encoded = [compress_layer(w, config, name=name) for (w, _), name in zip(layers, names)]
pd.DataFrame([layer_storage(layer).to_dict() for layer in encoded]).set_index("name")[
    ["shape", "density", "fillers", "pointers_bits", "codebook_bits", "total_bits", "dense_bits", "ratio"]]

# %% [raw]
# # BEGIN QUESTION
# name: q4

# %% [markdown]
# ### Exercise 4
# Using the storage table's components for fc1, compute its compression ratio with
# Huffman coding: dense float32 bits divided by (Huffman-coded codes + Huffman-coded
# indices + both Huffman tables + pointers + codebook). To 0.1 %.

# %% [raw]
# # BEGIN SOLUTION

# %%
# BEGIN SOLUTION NO PROMPT
s = layer_storage(fc1)
compressed = (codes.encoded_bits + indices.encoded_bits + codes.table_bits + indices.table_bits
              + s.pointers_bits + s.codebook_bits)
# END SOLUTION
my_ratio = fc1.shape[0] * fc1.shape[1] * 32 / compressed  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 0
failure_message: "a ratio above 1: dense bits are M x K x 32; the compressed side is Huffman-coded codes and indices, their tables, the pointers and the codebook"
""" # END TEST CONFIG
from eiesim.labs.checking import is_number
assert is_number(my_ratio) and my_ratio > 1

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 2
""" # END TEST CONFIG
from eiesim.labs.checking import close
assert close(my_ratio, check.huffman_ratio_of(w1, P.huffman_pes), rel=1e-3)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# Questions to discuss:
#
# * Deep Compression reports LeNet-300-100 going from 1070 KB to 27 KB (40x). Which term
#   of the storage bill dominates here, and why do 64 PEs make the pointers so costly for a
#   layer with only 64 columns?
# * Why does EIE read fixed 4 + 4-bit entries instead of the Huffman-coded stream?
# * `eiesim lenet` runs the full pipeline (iterative pruning, sharing with centroid
#   fine-tuning, then the model on simulated EIE): how much accuracy does fine-tuning
#   recover at 4 bits?
