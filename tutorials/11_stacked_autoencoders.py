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
# # 11 · Stacked autoencoders: greedy pretraining, unrolling, fine-tuning
#
# Hinton and Salakhutdinov (2006) showed that a *deep* autoencoder,
# 784-1000-500-250-30 and back, compresses MNIST far better than PCA with the same
# 30 numbers, and that its 2-D version draws the ten digits as separate clusters where
# PCA's 2-D map mixes them. The difficulty was training it: from small random
# weights, backpropagation through many layers was slow and got stuck. Their recipe:
#
# 1. **greedy layer-wise pretraining**: train a *shallow* autoencoder on the data;
#    keep its encoder; train a second shallow autoencoder on the codes of the first;
#    and so on up the stack (they used RBMs; Vincent et al. (2010) used *denoising*
#    autoencoders, the stacked denoising autoencoder we build here);
# 2. **unrolling**: stack the encoders, then the decoders in mirror order, into one
#    deep autoencoder whose weights start at the pretrained ones;
# 3. **fine-tuning**: train the deep autoencoder end to end with backpropagation.
#
# **Questions answered here**
#
# 1. Does each pretrained layer actually learn to reconstruct its input?
# 2. After fine-tuning, is the deep autoencoder better than PCA at the same code size?
#    (Deck 001, `001_5eba56f0e89c2971.txt`, on stacked autoencoders: "Good for
#    compression (better than PCA)".)
# 3. Did pretraining help, compared with the same deep network trained from random
#    weights for as long?
# 4. With a 2-D code, does the stacked autoencoder separate the digits better than
#    PCA's 2-D map? We score both maps by 5-nearest-neighbour accuracy.
#
# **Run it**
#
# ```bash
# python tutorials/11_stacked_autoencoders.py          # MNIST when available (see below)
# python tutorials/11_stacked_autoencoders.py --fast   # 8x8 digits: well under a minute
# jupytext --to notebook tutorials/11_stacked_autoencoders.py   # then open the .ipynb
# ```
#
# Figures are saved to `./figures` (or to the folder named by `NPAE_FIGURES`).

# %%
from _common import fast_mode, figures_dir, load_images  # noqa: I001  (first: picks Agg)

import time

import numpy as np

from npae.features import knn_accuracy
from npae.linear import PCA
from npae.models import Stack, classifier_from, dense_autoencoder, pretrain_stack, unroll
from npae.optim import Adam
from npae.viz import NpaeFigure

FAST = fast_mode()
FIG = figures_dir()

# %% [markdown]
# **Sizes.** The 2006 network (784-1000-500-250-30) takes hours on two CPU cores in
# pure NumPy. Full mode trains 784-256-128-30 on the first 20,000 MNIST training
# images, which keeps the whole tutorial to about ten minutes of CPU time (what we
# measured); fast mode trains 64-48-32-8 on the 8x8 digits (about ten seconds). The
# 2-D networks share the lower layers (784-256-128-2 and 64-48-32-2).

# %%
if FAST:
    Xtr, ytr, Xte, yte, DATA = load_images(FAST)
else:
    Xtr, ytr, Xte, yte, DATA = load_images(FAST, n_train=20000)
D = Xtr.shape[1]
if DATA == "mnist":
    HIDDEN, CODE = [256, 128], 30
    PRE_EPOCHS, FINE_EPOCHS, BATCH, LR, FINE_LR = 3, 10, 128, 1e-3, 3e-3
    N_LABELS, CLF_EPOCHS = 1000, 30
else:
    HIDDEN, CODE = [48, 32], 8
    PRE_EPOCHS, FINE_EPOCHS, BATCH, LR, FINE_LR = 30, 80, 64, 3e-3, 3e-3
    N_LABELS, CLF_EPOCHS = 300, 60
SIZES = [*HIDDEN, CODE]
print(f"stack {D}-{'-'.join(map(str, SIZES))}; pretraining {PRE_EPOCHS} epochs per layer "
      f"(Adam, lr={LR}), fine-tuning {FINE_EPOCHS} epochs (Adam, lr={FINE_LR}), batch {BATCH}")


def test_mse(model_or_fn, X=Xte):
    """Mean squared error per pixel of the reconstructions of the test images."""
    rec = model_or_fn(X) if callable(model_or_fn) else model_or_fn.reconstruct(X)
    return float(np.mean((np.asarray(rec, np.float64) - X) ** 2))


# %% [markdown]
# ## 1. Greedy layer-wise pretraining
#
# `pretrain_stack(X, sizes, kind=...)` trains one shallow autoencoder per entry of
# `sizes`: the first on the images (`D -> 48 -> D` here), the next on the first one's
# codes, and so on. Each is a denoising autoencoder with masking noise (25 % of its
# inputs set to zero, as in Vincent et al. 2010), trained by the same `fit` as every
# model of the course. Hidden codes are sigmoid units (in [0, 1], where masking and
# the sigmoid decoder of the next layer make sense); the top code is linear, as in
# the 2006 paper.

# %%
NOISE = {"kind": "masking", "p": 0.25}
t0 = time.perf_counter()
stack = pretrain_stack(Xtr, SIZES, kind="denoising", noise=NOISE, epochs=PRE_EPOCHS,
                       batch_size=BATCH, optimizer=Adam(LR), rng=0)
print(f"pretrained {stack} in {time.perf_counter() - t0:.1f} s")

print(f"\nEach layer's reconstruction error of its own (clean) input, {DATA} test set\n")
print("| layer | shape | random init | pretrained | ratio |")
print("|---|---|---|---|---|")
h = Xte
for k, ae in enumerate(stack.autoencoders):
    n_in, n_out = stack.sizes[k], stack.sizes[k + 1]
    top = k == len(stack.autoencoders) - 1
    fresh = dense_autoencoder(n_in, [], n_out, activation="sigmoid",
                              code_activation="identity" if top else "sigmoid", rng=100 + k)
    before, after = test_mse(fresh, h), test_mse(ae, h)
    print(f"| {k + 1} | {n_in}-{n_out}-{n_in} | {before:.4f} | {after:.4f} | "
          f"{after / before:.2f} |")
    h = ae.encode(h)

# %% [markdown]
# **What to notice:** every layer reconstructs its input several times better than a
# randomly initialized layer of the same shape does: each has learned something about
# the codes below it. The errors of the upper layers are not comparable with the
# first one's: they reconstruct sigmoid codes, not pixels, and those codes vary less.
#
# ## 2. Unroll and fine-tune; compare with PCA
#
# `unroll(stack)` builds the deep autoencoder
# `D -> ... -> CODE -> ... -> D` from *copies* of the pretrained layers (the stack
# itself never changes). Before fine-tuning, its reconstruction passes through every
# layer's approximation in turn, so errors add up; fine-tuning trains all layers
# together for the one thing we want, the end-to-end reconstruction. PCA with the same
# number of components is the linear baseline (the best any linear code can do), and
# the fairest control for pretraining is the same deep network, trained from random
# weights for as many epochs.

# %%
def fine_tune(model, label):
    t = time.perf_counter()
    model.fit(Xtr, epochs=FINE_EPOCHS, batch_size=BATCH, optimizer=Adam(FINE_LR), rng=1,
              verbose=0)
    print(f"  {label:<36} trained in {time.perf_counter() - t:6.1f} s")
    return model


def from_scratch(code):
    return dense_autoencoder(D, HIDDEN, code, activation="sigmoid", rng=0)


deep = unroll(stack, rng=0)
unrolled_mse = test_mse(deep)
fine_tune(deep, f"stacked AE ({CODE}-d), fine-tuned")
scratch = fine_tune(from_scratch(CODE), "same deep AE from random init")
pca = PCA(CODE).fit(Xtr)

rows = [(f"PCA, {CODE} components", test_mse(lambda X: pca.inverse_transform(pca.transform(X)))),
        ("stacked AE, unrolled (no fine-tuning)", unrolled_mse),
        ("stacked AE, fine-tuned", test_mse(deep)),
        ("same deep AE, random init", test_mse(scratch))]
print(f"\nReconstruction MSE per pixel, {DATA} test set, code size {CODE}\n")
print("| model | test MSE | vs PCA |")
print("|---|---|---|")
for name, value in rows:
    print(f"| {name} | {value:.4f} | {value / rows[0][1]:.2f} |")

# %% [markdown]
# **What to notice**
#
# - Is it "better than PCA"? On the 8x8 digits, clearly: the fine-tuned stack's error
#   at 8 dimensions is about two thirds of PCA's (0.0169 vs 0.0249). On MNIST at 30
#   dimensions, with our short training (10 epochs on 20,000 images), it is better
#   too, by less: 0.0143 against PCA's 0.0177, about 19 % lower. Hinton and
#   Salakhutdinov's far larger margin came from a larger network (784-1000-500-250-30)
#   trained much longer on all 60,000 images: the nonlinear code *can* keep much more
#   than the best linear one, but it has to be trained to. (With a fine-tuning rate of
#   1e-3 instead of 3e-3 we measured 0.0177, a tie with PCA.)
# - Unrolled but not fine-tuned, the deep model is much worse than fine-tuned (about
#   twice the error on the digits, 2.4 times on MNIST): each layer was trained for its
#   own input, and their errors compound. Pretraining is an initialization, not the
#   final model.
# - Did pretraining *help*? Compare the last row: the same deep sigmoid network trained
#   from random weights for as many epochs ends with a clearly higher error (digits
#   0.0274 vs 0.0169; MNIST 0.0228 vs 0.0143). From small random weights the
#   gradient reaching the lower sigmoid layers is weak and training starts slowly,
#   which is the difficulty pretraining was invented for. (The pretrained model also
#   had its pretraining epochs; we did not measure how much longer the random start
#   would need to catch up.)
#
# ## 3. Two dimensions: the 2006 figure
#
# The same recipe with a 2-D top layer. The lower layers are shared: the 2-D stack is
# the pretrained lower layers plus one new shallow autoencoder trained on their codes
# (a `Stack` can be assembled from shallow autoencoders by hand). We compare its
# 2-D codes with PCA's first two components: the reconstruction error, and how well a
# 5-nearest-neighbour classifier, fitted on the training codes, labels the test codes.

# %%
below = stack.autoencoders[:-1]
h_train = Xtr
for ae in below:
    h_train = ae.encode(h_train)
top2 = pretrain_stack(h_train, [2], kind="denoising", noise=NOISE, epochs=PRE_EPOCHS,
                      batch_size=BATCH, optimizer=Adam(LR), rng=2)
stack2 = Stack(below + top2.autoencoders, stack.histories[:-1] + top2.histories,
               (*stack.sizes[:-1], 2), "denoising")
deep2 = fine_tune(unroll(stack2, rng=0), "stacked AE (2-d), fine-tuned")
pca2 = PCA(2).fit(Xtr)

maps = {"PCA": (pca2.transform(Xtr), pca2.transform(Xte),
                test_mse(lambda X: pca2.inverse_transform(pca2.transform(X)))),
        "stacked AE": (deep2.encode(Xtr), deep2.encode(Xte), test_mse(deep2))}
print(f"\n2-D codes, {DATA} test set\n")
print("| map | test MSE | 5-NN accuracy |")
print("|---|---|---|")
knn = {}
for name, (z_train, z_test, err) in maps.items():
    knn[name] = knn_accuracy(z_train, ytr, z_test, yte, k=5)
    print(f"| {name} | {err:.4f} | {knn[name]:.3f} |")

# %%
fig = NpaeFigure(figsize=(11, 5.2), layout="constrained")
axes = fig.subplots(1, 2)
for ax, name in zip(axes, ["PCA", "stacked AE"]):
    z = np.asarray(maps[name][1])[:5000]
    points = ax.scatter(z[:, 0], z[:, 1], c=yte[:5000], cmap="tab10", vmin=-0.5, vmax=9.5,
                        s=4)
    ax.set_title(f"{name}: 5-NN accuracy {knn[name]:.2f}")
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
fig.suptitle(f"2-D codes of the {DATA} test images")
fig.savefig(FIG / "11_2d_codes_pca_vs_stacked.png", dpi=100)
fig

# %% [markdown]
# **What to notice**
#
# - PCA's two directions of largest variance mix most digits (on MNIST only the 1s
#   stand clearly apart). The stacked autoencoder's map gives more digits a region of
#   their own, which the 5-NN accuracy measures: a clearly higher number for the
#   autoencoder (digits 0.75 vs 0.58, MNIST 0.71 vs 0.43), though no label was used to
#   train it. Our clusters still overlap (on MNIST 4/9 and 3/5/8 mix), more than in
#   the 2006 figure, whose network was larger and trained much longer.
# - The 2-D reconstructions are poor for both (two numbers cannot hold a digit), but
#   the autoencoder's error is lower: its two numbers say *which digit, in which
#   style*; PCA's say how far the image lies along two fixed pixel patterns.
#
# ## 4. The stack as a classifier, with few labels
#
# The encoder stack is also a pretrained network for a supervised task: Vincent et al.
# (2010) put a softmax layer on a stacked denoising autoencoder and fine-tuned the
# whole network with the labels. `classifier_from(stack, 10)` does that with a copy of
# `stack.encoder` (the stack never changes). The decks' claims: autoencoders as
# pretrained models are "Useful with Small Data" (deck 004, `004_35e17b38bec77814.txt`),
# and "Effective pretraining of weights should act as a regularizer" (deck 001). We
# train on the first
# `N_LABELS` labelled training images only and compare three starts for the same
# network: random weights (an untrained stack, `epochs=0`), the pretrained encoder
# frozen (only the softmax layer learns), and the pretrained encoder fine-tuned.

# %%
random_stack = pretrain_stack(Xtr[:10], SIZES, epochs=0, rng=0)  # the same layers, untrained
starts = {"random init, trained end to end": (random_stack, False),
          "pretrained encoder, frozen (softmax only)": (stack, True),
          "pretrained encoder, fine-tuned": (stack, False)}
accuracy = {}
for name, (encoder_of, frozen) in starts.items():
    clf = classifier_from(encoder_of, 10, freeze=frozen, rng=0)
    clf.fit(Xtr[:N_LABELS], ytr[:N_LABELS], epochs=CLF_EPOCHS, batch_size=32,
            optimizer=Adam(LR), rng=0, verbose=0)
    accuracy[name] = clf.score(Xte, yte)
print(f"\nTest accuracy of {D}-{'-'.join(map(str, SIZES))}-10 trained on {N_LABELS} labelled "
      f"{DATA} images ({CLF_EPOCHS} epochs)\n")
print("| start | test accuracy |")
print("|---|---|")
for name, acc in accuracy.items():
    print(f"| {name} | {acc:.3f} |")

# %% [markdown]
# **What to notice:** with few labels, the fine-tuned pretrained encoder is more
# accurate than the same network trained from random weights (digits, 300 labels:
# 0.869 vs 0.791; MNIST, 1,000 labels: 0.893 vs 0.863): the unlabelled images
# taught the lower layers what digits look like, and the labels only have to adjust
# them. The frozen encoder is the weakest (0.752 and 0.796): its top code was trained to
# reconstruct, not to separate classes, and a softmax layer on it cannot change that.
# Tutorial 10 measures this question properly (several label counts and seeds).
#
# ## Summary
#
# - `pretrain_stack(X, sizes, kind=...)` trains a stack greedily, one shallow
#   autoencoder per layer on the codes of the layer below (plain, denoising, sparse or
#   contractive); `stack.encoder` is the pretrained encoder;
#   `unroll(stack)` is the deep autoencoder, ready to fine-tune end to end; and
#   `classifier_from(stack, n_classes)` turns the encoder into a classifier
#   (tutorial 10).
# - "Better than PCA": at two dimensions, on both data sets, by reconstruction error and
#   far more by how well the map separates the digits; and at the larger code
#   size too (8-d on the digits: 0.68 of PCA's error; 30-d on MNIST: 0.81), by less
#   than in the 2006 paper, whose network was larger and trained much longer.
# - Pretraining is a way to *start* a deep network, not a model on its own: the
#   unrolled stack must be fine-tuned. Started that way, the deep sigmoid autoencoder
#   reached a clearly lower error than from random weights in the same number of
#   fine-tuning epochs, and the pretrained encoder made the better classifier when
#   labels were few.
#
# **Exercises.** (1) Pretrain with `kind="plain"` and `kind="contractive"`: does the
# fine-tuned error change? (2) Fine-tune with `optimizer=SGD(0.1, momentum=0.9)` from the
# pretrained and from random weights: is the gap larger than with Adam? (3) Skip
# pretraining for only the top layer: which layers matter most?
