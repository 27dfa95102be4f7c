# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Autoencoders as pretrained models
#
# An autoencoder learns from images alone, without labels. The lectures promise that
# what it learns is useful for the task we care about. Deck 004
# (`004_35e17b38bec77814.txt`) lists the uses of "Autoencoders As Pretrained Models"
# under four headings, "Feature Extraction", "Supervised Model Initialization",
# "Fine-Tuning" and "Useful with Small Data", and says of its CNN autoencoder with a
# 2-dimensional code (`d = 2`) "Reconstruction is still good; a classifier could
# identify digits decently". Deck 001 (`001_5eba56f0e89c2971.txt`) advises to
# "Disregard the decoder and use the middle layer as a representation", and deck 000
# (`000_8952a0c831114130.txt`) names "image retrieval" among the uses of the
# low-dimensional code. This tutorial puts each promise to a measurement.
#
# **What you'll learn**
#
# - how to reuse a trained encoder: as a frozen feature extractor with a linear head, or
#   as the initialisation of a classifier that is then fine-tuned
#   (`npae.models.classifier_from`);
# - when pretraining helps (few labels) and when it does not (many labels);
# - how to score a code without training a network on it: linear probe, k-nearest
#   neighbours, retrieval precision (`npae.features`), and how those scores grow with
#   the code size `d` for PCA, a dense autoencoder, a VAE and a convolutional autoencoder.
#
# **Run it**
#
# ```bash
# python tutorials/10_pretrained_autoencoders.py          # MNIST when available (see below)
# python tutorials/10_pretrained_autoencoders.py --fast   # 8x8 digits: well under a minute
# jupytext --to notebook tutorials/10_pretrained_autoencoders.py   # then open the .ipynb
# ```
#
# Full mode uses MNIST with the sizes set in the next cell, chosen to keep the whole
# script within about 10 minutes on two CPU cores: the first 20,000 training images (so
# "all labels" means 20,000 here), models of modest width, few epochs. We measured
# 104 s with one BLAS thread while another job held the second core, and 6 to 11
# minutes on a 2-core machine shared with more jobs (load average 6 to 14,
# `OPENBLAS_NUM_THREADS=1`, which a busy machine needs). The
# numbers it prints are what these settings give; more data and epochs raise every
# accuracy. Figures are saved to `./figures` (or to the folder named by `NPAE_FIGURES`).

# %%
from _common import fast_mode, figures_dir, load_images  # noqa: I001  (first: picks Agg)

import math
import time

import matplotlib.pyplot as plt
import numpy as np

from npae import features
from npae.linear import PCA
from npae.models import classifier_from, conv_autoencoder, dense_autoencoder, dense_vae
from npae.optim import Adam

T0 = time.time()
FAST = fast_mode()
FIG = figures_dir()
Xtr, ytr, Xte, yte, DATA = load_images(FAST, n_train=None if FAST else 20_000)
D = Xtr.shape[1]
SIDE = int(round(math.sqrt(D)))
DIGITS = DATA == "digits"
HIDDEN = [32] if DIGITS else [256]      # the pretrained encoder of part (a): D-HIDDEN-CODE
CODE = 16 if DIGITS else 32
AE_EPOCHS = 30 if DIGITS else 5
BUDGETS = [100, 1000, len(Xtr)]         # labelled training images in part (a)
STEPS = 600 if DIGITS else 400         # Adam steps of every classifier in part (a)
LR = {"scratch": 3e-3, "frozen AE + linear head": 1e-2, "fine-tuned AE": 3e-3}
SEEDS = [0, 1, 2]
N_CODES = len(Xtr) if DIGITS else 5000  # training images of the models of parts (b), (c)
DIMS = [2, 4, 8, 16, 32]
B_HIDDEN = [32] if DIGITS else [128]
B_EPOCHS = 20 if DIGITS else 8
CONV_CHANNELS = (8, 16)
CONV_EPOCHS = 15 if DIGITS else 3
print(f"part (a): a {D}-{HIDDEN[0]}-{CODE} autoencoder ({AE_EPOCHS} epochs), classifiers "
      f"of {STEPS} Adam steps, label budgets {BUDGETS}, seeds {SEEDS}")
print(f"parts (b), (c): models trained on {N_CODES} images, codes d = {DIMS}")

# %% [markdown]
# ## (a) Few labels, many images: pretraining and fine-tuning
#
# The situation of deck 004's "Useful with Small Data": plenty of images, few of them
# labelled. An
# autoencoder is trained once on *all* training images (no labels used). Then, for a
# budget of 100, 1,000 or all labels, three classifiers of the same shape
# (`D-HIDDEN-CODE` encoder, then a linear softmax head) are trained on the labelled
# images only:
#
# - **scratch**: the encoder starts from random weights;
# - **frozen AE + linear head**: the encoder is a copy of the autoencoder's and stays
#   fixed; only the head learns. This is softmax regression on the codes;
# - **fine-tuned AE**: the encoder starts as a copy of the autoencoder's and learns
#   along with the head.
#
# `classifier_from(ae, 10, freeze=...)` builds the last two; it copies the encoder, so
# the autoencoder itself never changes. A frozen encoder gets no gradient at all: the
# backward pass stops at the head. Each labelled subset is balanced (the same number
# of images per class) and drawn anew for each seed; every classifier gets the same
# number of Adam steps (learning rate 3e-3; 1e-2 for the frozen encoder's linear head,
# which with 3e-3 had not converged in that many steps: a linear model takes a larger
# step safely), and accuracy is measured on the whole test set. No validation set, no
# early stopping: with 100 labels there is nothing to spare for one.

# %%
ae = dense_autoencoder(D, HIDDEN, CODE, loss="bce", rng=0)
ae.fit(Xtr, epochs=AE_EPOCHS, batch_size=64 if DIGITS else 128, optimizer=Adam(2e-3),
       verbose=0, rng=0)
print(f"autoencoder trained: test BCE {ae.evaluate(Xte)['reconstruction']:.4f} "
      f"({time.time() - T0:.0f} s so far)")


def balanced_subset(y, n, rng):
    """``n`` indices, ``n // 10`` per class (all indices when ``n`` is the whole set)."""
    if n >= len(y):
        return rng.permutation(len(y))
    return np.concatenate([rng.choice(np.flatnonzero(y == c), n // 10, replace=False)
                           for c in range(10)])


def train_classifier(method, idx, seed):
    if method == "scratch":  # the same architecture, random weights
        source = dense_autoencoder(D, HIDDEN, CODE, rng=100 + seed)
    else:
        source = ae
    clf = classifier_from(source, 10, freeze=method == "frozen AE + linear head", rng=seed)
    batch = min(128, max(16, len(idx) // 8))
    epochs = math.ceil(STEPS / math.ceil(len(idx) / batch))
    clf.fit(Xtr[idx], ytr[idx], epochs=epochs, batch_size=batch, optimizer=Adam(LR[method]),
            verbose=0, rng=seed)
    return clf.score(Xte, yte)


METHODS = ["scratch", "frozen AE + linear head", "fine-tuned AE"]
acc = {}  # (method, budget) -> accuracies over seeds
for n in BUDGETS:
    for seed in SEEDS:
        idx = balanced_subset(ytr, n, np.random.default_rng(seed))
        for method in METHODS:
            acc.setdefault((method, n), []).append(train_classifier(method, idx, seed))

print("\nTest accuracy (%), mean ± standard deviation over 3 seeds\n")
print("| labels | " + " | ".join(METHODS) + " |")
print("|---|" + "---|" * len(METHODS))
for n in BUDGETS:
    cells = [f"{100 * np.mean(acc[m, n]):.1f} ± {100 * np.std(acc[m, n]):.1f}"
             for m in METHODS]
    print(f"| {n} | " + " | ".join(cells) + " |")
print(f"({time.time() - T0:.0f} s so far)")

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
for m in METHODS:
    means = [100 * np.mean(acc[m, n]) for n in BUDGETS]
    stds = [100 * np.std(acc[m, n]) for n in BUDGETS]
    ax.errorbar(BUDGETS, means, yerr=stds, marker="o", capsize=3, label=m)
ax.set_xscale("log")
ax.set_xlabel("labelled training images")
ax.set_ylabel("test accuracy (%)")
ax.set_title(f"{DATA}: pretraining vs label budget")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "10_label_budget.png", dpi=120)

# %% [markdown]
# What the numbers say, in words computed from the table (so they hold for whichever
# data set ran):

# %%
for n in BUDGETS:
    gain = 100 * (np.mean(acc["fine-tuned AE", n]) - np.mean(acc["scratch", n]))
    spread = 100 * max(np.std(acc["fine-tuned AE", n]), np.std(acc["scratch", n]))
    verdict = ("helps" if gain > 2 * spread and gain > 0.5 else
               "hurts" if -gain > 2 * spread and -gain > 0.5 else
               "makes no clear difference")
    probe = 100 * (np.mean(acc["frozen AE + linear head", n]) - np.mean(acc["scratch", n]))
    print(f"{n:>6} labels: fine-tuning the pretrained encoder {verdict} "
          f"({gain:+.1f} points against scratch, seed spread up to {spread:.1f}); "
          f"the frozen features with a linear head are {probe:+.1f} points from scratch")

# %% [markdown]
# **Reading it.** Deck 004's claim is about *small data*: with 100 labels a
# classifier from scratch has ten examples per class to learn a `D x HIDDEN` first
# layer from, while the pretrained encoder arrives knowing the strokes digits are made
# of; deck 001 puts it as "Effective pretraining of weights should act as a
# regularizer". Our measurements are more sobering.
# On MNIST (full mode, 3 seeds) we got, for 100 / 1,000 / 20,000 labels:
#
# | labels | scratch | frozen AE + linear head | fine-tuned AE |
# |---|---|---|---|
# | 100 | 76.8 ± 0.8 | 74.5 ± 1.2 | 75.7 ± 0.2 |
# | 1000 | 90.6 ± 0.5 | 87.0 ± 0.6 | 90.7 ± 0.1 |
# | 20000 | 95.8 ± 0.7 | 89.5 ± 0.1 | 94.9 ± 0.7 |
#
# Fine-tuning the pretrained encoder did **not** beat training from scratch at any
# budget, and on the 8x8 digits (fast mode) it did not either: a difference within the
# seed-to-seed spread is not evidence of anything. Why, when Hinton & Salakhutdinov
# (2006) and Erhan et al. (2010) found that it helps? Their gains came with *deep*
# networks of sigmoid units trained by plain SGD, which from random weights trained
# badly; a one-hidden-layer ReLU encoder with He initialisation, trained by Adam, trains
# well from random weights, so a better starting point buys little. A likely second
# reason: the autoencoder's code keeps whatever reconstructs pixels (thickness, slant),
# not only what tells digits apart.
#
# What pretraining did buy, in both modes:
#
# - **cheap, good features**: at 100 labels the frozen encoder with a linear head
#   (only `CODE x 10 + 10` weights learn, 330 on MNIST, against about 200,000 for the
#   whole network) comes within a few points of the full network;
# - **repeatability** on MNIST: the fine-tuned runs vary least from seed to seed
#   (0.2 and 0.1 points at 100 and 1,000 labels, against 0.8 and 0.5 from scratch),
#   the variance-reducing side of a regularizer.
#
# With many labels the frozen features hit a ceiling (89.5 % against 95.8 %): a code
# trained to *reconstruct* is not a code trained to *classify*. Part (b) measures that
# ceiling. Pretraining is also not free: the autoencoder cost more compute than any
# single classifier here. Expect it to help more with deeper encoders, fewer labels
# per class, and a much larger unlabelled pool; try it (`BUDGETS`, `HIDDEN`,
# `AE_EPOCHS`). Modern practice kept the idea, learn from unlabelled data and fine-tune
# on few labels, with other self-supervised objectives than reconstruction.

# %% [markdown]
# ## (b) How good is a code? Linear probe and k-NN against the code size
#
# To compare representations without training a new network for each, score the codes
# themselves (`npae.features`):
#
# - **linear probe**: the test accuracy of softmax regression trained on the codes
#   (all training labels), how *linearly* the classes can be read off;
# - **5-NN**: the test accuracy of a vote among the 5 nearest training codes, how
#   *locally* they can.
#
# Four ways to make a `d`-dimensional code, for `d` = 2, 4, 8, 16, 32: **PCA**, a dense
# **AE** (`D-B_HIDDEN-d`, BCE), the **VAE**'s posterior mean `mu` (same widths), and a
# **conv AE** whose code is a `(d, 1, 1)` block (two stride-2 convolutions with 8 and 16
# channels, then one convolution covering the whole remaining map). Raw pixels are the
# ceiling one would hope not to need. One seed per model: read differences of a point
# or two as noise.

# %%
Itr, Ite = Xtr[:N_CODES].reshape(-1, 1, SIDE, SIDE), Xte.reshape(-1, 1, SIDE, SIDE)
Xb, yb = Xtr[:N_CODES], ytr[:N_CODES]
PROBE_EPOCHS = 60 if DIGITS else 30


def make_codes(kind, d):
    """(train codes, test codes) of a d-dimensional representation."""
    if kind == "PCA":
        pca = PCA(d).fit(Xb)
        return pca.transform(Xb), pca.transform(Xte)
    if kind == "AE":
        m = dense_autoencoder(D, B_HIDDEN, d, loss="bce", rng=d)
        m.fit(Xb, epochs=B_EPOCHS, batch_size=64, optimizer=Adam(2e-3), verbose=0, rng=d)
        return m.encode(Xb), m.encode(Xte)
    if kind == "VAE":
        m = dense_vae(D, tuple(B_HIDDEN), d, rng=d)
        m.fit(Xb, epochs=B_EPOCHS, batch_size=64, optimizer=Adam(2e-3), verbose=0, rng=d)
        return m.encode(Xb), m.encode(Xte)
    m = conv_autoencoder((1, SIDE, SIDE), CONV_CHANNELS, bottleneck=(d, 1, 1), loss="bce",
                         rng=d)
    m.fit(Itr, epochs=CONV_EPOCHS, batch_size=64, optimizer=Adam(2e-3), verbose=0, rng=d)
    return m.encode(Itr), m.encode(Ite)


KINDS = ["PCA", "AE", "VAE", "conv AE"]
codes, probe, knn = {}, {}, {}
for kind in KINDS:
    for d in DIMS:
        Z, Zt = (np.asarray(c, dtype=np.float64).reshape(len(c), -1)
                 for c in make_codes(kind, d))
        codes[kind, d] = Z, Zt
        probe[kind, d] = features.linear_probe(Z, yb, Zt, yte, epochs=PROBE_EPOCHS)
        knn[kind, d] = features.knn_accuracy(Z, yb, Zt, yte, k=5)
    print(f"{kind} codes done ({time.time() - T0:.0f} s so far)")
raw_probe = features.linear_probe(Xb, yb, Xte, yte, epochs=PROBE_EPOCHS)
raw_knn = features.knn_accuracy(Xb, yb, Xte, yte, k=5)

for title, table, raw in (("Linear-probe", probe, raw_probe), ("5-NN", knn, raw_knn)):
    print(f"\n{title} test accuracy (%) against code size d; raw pixels ({D} values): "
          f"{100 * raw:.1f}\n")
    print("| d | " + " | ".join(KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for d in DIMS:
        print(f"| {d} | " + " | ".join(f"{100 * table[k, d]:.1f}" for k in KINDS) + " |")

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
for ax, (title, table, raw) in zip(axes, (("linear probe", probe, raw_probe),
                                          ("5-NN", knn, raw_knn))):
    for kind in KINDS:
        ax.plot(DIMS, [100 * table[kind, d] for d in DIMS], marker="o", label=kind)
    ax.axhline(100 * raw, color="k", ls=":", label="raw pixels")
    ax.set_xscale("log", base=2)
    ax.set_xticks(DIMS, [str(d) for d in DIMS])
    ax.set_xlabel("code size d")
    ax.set_title(f"{DATA}: {title}")
axes[0].set_ylabel("test accuracy (%)")
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "10_code_size.png", dpi=120)

# %%
best2 = max(KINDS, key=lambda k: knn[k, 2])
print(f"d = 2: the best 5-NN accuracy is {100 * knn[best2, 2]:.1f}%, the {best2}'s "
      f"(chance: 10%; raw pixels: {100 * raw_knn:.1f}%)")
for d in DIMS:
    better = [k for k in KINDS[1:] if knn[k, d] > knn["PCA", d]]
    print(f"d = {d:>2}: 5-NN above PCA: {', '.join(better) if better else 'none'}")

# %% [markdown]
# **Reading it.** Every curve rises with `d` and flattens: past some size a code holds
# most of what separates the classes, and the curves reach the raw-pixel line. On
# MNIST (full mode) the 32-dimensional codes match the pixels' linear probe (88.4 to
# 88.8 % against 88.0 %) and PCA's 5-NN even passes the pixels' (94.7 % against
# 93.2 %): neighbours in a good code ignore pixel noise that neighbours in pixel space
# cannot.
#
# At `d = 2` the dense AE's code gives 53.9 % by 5-NN and 53.6 % by a linear probe on
# MNIST (5,000 training images, 8 epochs): about five times chance, far from perfect.
# Deck 004 states no accuracy, data size or training length for its "a classifier
# could identify digits decently", so these numbers are not a comparison with the
# deck; tutorial 06 trains deck 004's `(2, 1, 1)` CNN autoencoder properly (54,000
# images, until its validation error stops improving) and measures a classifier on
# that 2-D code: 56.5 % by linear probe, 62.4 % by 5-NN. Where the code is small the nonlinear
# codes beat PCA, which has only
# the directions of largest variance: at `d = 2` and `4` the AE by 9 to 12 points on
# both scores, the VAE's mean by 2 to 10. PCA is level by `d = 8` on 5-NN and by
# `d = 32` on the linear probe: a linear subspace of that size keeps most of what
# separates the digits. Deck 001 says of stacked autoencoders "Good for compression
# (better than PCA)"; for the class information in the code we measured it as a
# small-`d` statement.
#
# The conv AE with a `(d, 1, 1)` bottleneck is the weakest at small `d` here, because
# it was trained for 3 epochs on 5,000 images (our time budget), far less than it
# needs; that is a statement about the budget, not about convolutions (tutorial 06
# trains it properly). On the 8x8 digits (fast mode) PCA is as good as the nonlinear
# codes or better at almost every `d`: 64 pixels and 1,438 images leave an
# autoencoder little nonlinear structure to find. The lines printed above say which
# codes beat PCA in the run you did.

# %% [markdown]
# ## (c) Image retrieval: the nearest neighbours in code space
#
# Deck 000's "image retrieval": encode every image once; a query returns the images whose
# codes are closest. Precision@10 (`features.retrieval_precision`) is the mean fraction
# of a query's 10 nearest test images (itself excluded) that show the same digit, for
# every test image as a query. The figure shows six queries and their 8 nearest
# neighbours with PCA and the dense AE at `d = 4`.

# %%
print("\nPrecision@10 of retrieval within the test set (%)\n")
print("| d | " + " | ".join(KINDS) + " |")
print("|---|" + "---|" * len(KINDS))
precision = {}
for d in DIMS:
    for kind in KINDS:
        precision[kind, d] = features.retrieval_precision(codes[kind, d][1], yte, k=10)
    print(f"| {d} | " + " | ".join(f"{100 * precision[k, d]:.1f}" for k in KINDS) + " |")
raw_precision = features.retrieval_precision(Xte, yte, k=10)
print(f"raw pixels: {100 * raw_precision:.1f}")

# %%
D_RETRIEVAL = 4
queries = np.random.default_rng(0).choice(len(Xte), 6, replace=False)
fig, axes = plt.subplots(len(queries), 2, figsize=(9, 1.1 * len(queries)))
for col, kind in enumerate(["PCA", "AE"]):
    Zt = codes[kind, D_RETRIEVAL][1]
    nn = np.asarray(features.nearest_neighbours(Zt[queries], Zt, 9))[:, 1:]  # 0: itself
    for row, (q, hits) in enumerate(zip(queries, nn)):
        strip = [Xte[q]] + [Xte[i] for i in hits]
        img = np.hstack([np.pad(s.reshape(SIDE, SIDE), 1, constant_values=1) for s in strip])
        ax = axes[row, col]
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
        right = sum(yte[i] == yte[q] for i in hits)
        ax.set_title(f"{kind}: query {yte[q]}, {right}/8 same digit", fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "10_retrieval.png", dpi=120)
print(f"at d = {D_RETRIEVAL}: precision@10 PCA {100 * precision['PCA', D_RETRIEVAL]:.1f}%, "
      f"AE {100 * precision['AE', D_RETRIEVAL]:.1f}%")

# %% [markdown]
# **Reading it.** Retrieval precision follows the 5-NN accuracy of part (b) closely:
# both ask whether an image's neighbours share its class. On MNIST (full mode) the AE's
# 4-dimensional code retrieves the right digit far more often than PCA's (70.7 % against
# 58.4 %); at `d = 8` the two are level (83.4 % and 82.8 %), and at `d = 32` PCA's
# (92.4 %) passes raw pixels (91.1 %). In each strip the first image is the query, then
# its 8 nearest neighbours, nearest first. Six queries are anecdotes (in our MNIST run
# one thin 0 found mostly 8s with the AE and mostly 0s with PCA); precision@10 over
# every test image is the measurement. Where a code fails, look at *how* it fails: the
# wrong neighbours are often digits of similar shape (4 and 9, 5 and 8, 0 and 8), drawn
# with the same slant and thickness. Reconstruction codes
# encode what an image looks like, not what it means; that is why retrieval by an
# autoencoder's code finds images that look like the query, whichever digit they show.
#
# ## Summary
#
# - `classifier_from(ae, n_classes, freeze=...)` turns a trained autoencoder's encoder
#   (dense, convolutional, or a VAE's mean) into a classifier, with a copy of its
#   weights; `Classifier.fit(X, y, ...)` trains it with the same loop as every model.
# - Tutorial 14 pretrains on every training image and trains on 2 to 30 labels per
#   class, with stacked DAE and VAE encoders too, beside the published semi-supervised
#   results on MNIST.
# - Pretraining is meant for scarce labels; in our measurements (part (a) here, and
#   tutorial 14) it did not beat training from scratch by more than the seed spread.
#   How much it helps depends on the data, the architecture and the training budget,
#   so measure it, over seeds, as part (a) does.
# - `features.linear_probe`, `features.knn_accuracy` and
#   `features.retrieval_precision` score any code: use them to choose a code size or
#   a model before building anything on top.

# %%
print(f"\ntotal time: {time.time() - T0:.0f} s")
