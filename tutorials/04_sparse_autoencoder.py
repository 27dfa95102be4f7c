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
# # 04 · The sparse autoencoder
#
# A bottleneck is one way to stop an autoencoder from copying. Another is to let the
# code be wide, even wider than the input (*overcomplete*), and ask instead that only
# a few code units be active for any one input:
#
# $$ \min_\theta \; L\big(x, g(h)\big) + \Omega(h), \qquad h = f(x). $$
#
# Two penalties `Omega` are classic:
#
# - **KL sparsity** (Ng's sparse-autoencoder notes): with a sigmoid code, `rho_hat_j`
#   the mean activation of unit `j` and a target `rho` (say 0.05),
#   `Omega = beta * sum_j KL(rho || rho_hat_j)`. Deck 000 (`000_8952a0c831114130.txt`)
#   and deck 002 (`002_324e468d49fbe7e1.txt`) take the mean over the whole training set
#   ("the average activation of the j -th neuron across the dataset", deck 000); npae,
#   like every minibatch implementation, takes it over the batch (section 4 measures
#   the difference);
# - **L1 activity**: `Omega = lam * sum_j |h_j|`, averaged over the batch.
#
# Deck 002 contrasts the two: KL gives "Approximate sparsity, suppress activations close
# to small value", L1 "True sparsity, drive activations towards 0".
#
# **Questions answered here**
#
# 1. What does the KL penalty look like as a function of `rho_hat`?
# 2. Does the trained code actually reach the target `rho`? How do `rho` and `beta`
#    change the code and the reconstruction?
# 3. What do the first-layer filters of a sparse autoencoder look like, next to a
#    plain one (deck 002's figure)? And what does deck 002's weight `lambda` mean?
# 4. Sparsity as the decks define it: the mean over the training set or over a batch,
#    exact zeros from L1 on a ReLU code, and the penalty read as a prior.
#
# **Run it**
#
# ```bash
# python tutorials/04_sparse_autoencoder.py          # MNIST when available: several minutes
# python tutorials/04_sparse_autoencoder.py --fast   # 8x8 digits: well under a minute
# jupytext --to notebook tutorials/04_sparse_autoencoder.py   # then open the .ipynb
# ```
#
# Figures are saved to `./figures` (or to the folder named by `NPAE_FIGURES`).

# %%
from _common import fast_mode, figures_dir, load_images  # noqa: I001  (first: picks Agg)

import time

import numpy as np

from npae import viz
from npae.models.autoencoder import dense_autoencoder
from npae.models.sparse import SparseAutoencoder
from npae.optim import Adam
from npae.penalties import kl_sparsity
from npae.viz import NpaeFigure

FAST = fast_mode()
FIG = figures_dir()
Xtr, ytr, Xte, yte, DATA = load_images(FAST, n_train=None if FAST else 30000,
                                       n_test=None if FAST else 5000)
D = Xtr.shape[1]
SIDE = int(round(np.sqrt(D)))
if DATA == "mnist":
    CODE, EPOCHS, BATCH, LR = 128, 10, 128, 1e-3
else:
    CODE, EPOCHS, BATCH, LR = 100, 60, 64, 3e-3  # 100 > 64 inputs: overcomplete
print(f"code layer: {CODE} sigmoid units for {D} inputs; {EPOCHS} epochs, batch {BATCH}")

# %% [markdown]
# ## 1. The KL penalty as a function of the mean activation
#
# For one unit, `KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) /
# (1 - rho_hat))`: the KL divergence between two coins, one landing heads with
# probability `rho`, the other with `rho_hat`. We draw it for `rho = 0.05` (and, for
# comparison, 0.1 and 0.5) and check one point against `npae.penalties.kl_sparsity`.

# %%
def kl(rho, r):
    return rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r))


r = np.linspace(0.001, 0.999, 999)
fig = NpaeFigure(figsize=(6.5, 4), layout="constrained")
ax = fig.subplots()
for rho, style in ((0.05, "-"), (0.1, "--"), (0.5, ":")):
    ax.plot(r, kl(rho, r), style, label=f"$\\rho$ = {rho}")
ax.set_ylim(0, 3)
ax.set_xlabel("mean activation $\\hat\\rho$")
ax.set_ylabel("KL($\\rho$ || $\\hat\\rho$)")
ax.set_title("the KL sparsity penalty of one unit")
ax.legend()
ax.grid(alpha=0.3)
fig.savefig(FIG / "04_kl_curve.png", dpi=100)
# kl_sparsity on a batch whose mean activation is 0.2 gives the same number
value, _ = kl_sparsity(np.array([[0.1], [0.3]]), rho=0.05, beta=1.0)
print(f"KL(0.05 || 0.2): formula {kl(0.05, 0.2):.6f}, kl_sparsity {value:.6f}")


def kl_slope(rho, r):
    """d KL(rho || r) / dr: how hard the penalty pushes a unit whose mean is r."""
    return -rho / r + (1 - rho) / (1 - r)


for r_hat in (0.001, 0.01, 0.2, 0.999):
    print(f"rho = 0.05, rho_hat = {r_hat:<5}: KL {kl(0.05, r_hat):6.3f}, "
          f"slope {kl_slope(0.05, r_hat):+7.1f}")
fig

# %% [markdown]
# **What to notice**
#
# - The penalty is zero only at `rho_hat = rho` and grows without bound at both ends,
#   but far from evenly: it is lopsided. For `rho = 0.05` a unit that is almost never
#   active costs little (`KL(0.05 || 0.001)` is 0.15, with slope -49), one that is
#   almost always active a lot (`KL(0.05 || 0.999)` is 6.4, with slope +950); going
#   from 0.05 to 0.2 costs more than going from 0.05 to 0.01. The penalty mostly
#   fights units that fire too often, and pulls a silent unit back only gently.
# - It penalises the *mean* over the batch, not single activations: a unit may fire
#   strongly on a few inputs as long as it is quiet on average. (That is why `npae`
#   computes the KL of the batch mean, not the mean of per-sample KLs.)
#
# ## 2. Does the code reach `rho`? A sweep of `rho` and `beta`
#
# One encoder layer `D -> CODE` with a sigmoid (the KL penalty needs codes in (0, 1)),
# a decoder `CODE -> D` with a sigmoid, and Ng's objective: squared error summed over
# pixels and averaged over the batch (`reduction="batchmean"`, the default of
# `SparseAutoencoder`), plus `beta * sum_j KL(rho || rho_hat_j)`. Both terms are
# per-sample sums, so `beta` does not depend on the batch size, and `beta` of order 1
# is the usual starting point (Ng uses 3).
#
# For each model we measure, on held-out images:
#
# - the mean activation of the code units (target: `rho`);
# - the fraction of units *active* per input (`h_j > 0.5`);
# - the reconstruction MSE per pixel.
#
# We sweep `rho` in 0.05, 0.1, 0.5 and `beta` in 0, 0.1, 1, and add Ng's `beta = 3`.
# `beta = 0` switches the penalty off, so it is one model whatever `rho` is.

# %%
def train(model, label):
    t0 = time.perf_counter()
    model.fit(Xtr, epochs=EPOCHS, batch_size=BATCH, optimizer=Adam(LR), rng=1, verbose=0)
    print(f"  {label:<30} trained in {time.perf_counter() - t0:5.1f} s")
    return model


def measure(model):
    H = model.encode(Xte)
    return {"mean": float(H.mean()), "active": float(np.mean(H > 0.5)),
            "dead": int(np.sum(H.max(axis=0) < 0.1)),
            "mse": float(np.mean((model.decode(H) - Xte) ** 2))}


RHOS, BETAS = (0.05, 0.1, 0.5), (0.0, 0.1, 1.0, 3.0)
sweep, kl_models = {}, {}
for beta in BETAS:
    for rho in RHOS:
        if beta == 0 and rho != RHOS[0]:
            sweep[rho, beta] = sweep[RHOS[0], beta]  # no penalty: rho plays no part
            continue
        model = train(dense_autoencoder(D, [], CODE, code_activation="sigmoid", rng=0,
                                        model=SparseAutoencoder, rho=rho, beta=beta),
                      f"KL, rho = {rho}, beta = {beta}")
        sweep[rho, beta] = measure(model)
        kl_models[rho, beta] = model
        if beta == 0:
            plain_model = model

print(f"\nSparse autoencoders on {DATA} (held-out images)\n")
print(f"{'rho':>5} {'beta':>5} {'mean act.':>10} {'active/input':>13} {'MSE/pixel':>10}")
for rho in RHOS:
    for beta in BETAS:
        m = sweep[rho, beta]
        print(f"{rho:5.2f} {beta:5.1f} {m['mean']:10.3f} {m['active']:13.3f} {m['mse']:10.4f}")

# %%
fig = NpaeFigure(figsize=(5.5, 4.5), layout="constrained")
ax = fig.subplots()
ax.plot([0, 0.55], [0, 0.55], color="0.7", lw=1, label="mean = $\\rho$")
for beta, marker in zip(BETAS, "osD^"):
    ax.plot(RHOS, [sweep[rho, beta]["mean"] for rho in RHOS], marker=marker,
            label=f"$\\beta$ = {beta}")
ax.set_xlabel("target $\\rho$")
ax.set_ylabel("measured mean activation (held out)")
ax.set_title("does the code reach its target?")
ax.legend()
ax.grid(alpha=0.3)
fig.savefig(FIG / "04_sweep_mean_activation.png", dpi=100)
fig

# %% [markdown]
# **What to notice**
#
# - The larger `beta`, the closer the mean activation comes to `rho`; with `beta = 0`
#   the units sit near 0.5 or above, where an unconstrained sigmoid code carries the
#   most. How large `beta` must be depends on the data: on the 8x8 digits `beta = 1`
#   already lands within 0.01 of `rho = 0.05`; on MNIST, whose reconstruction term sums
#   784 pixels, we measured 0.12 for `beta = 1` and 0.08 for `beta = 3` after 10
#   epochs: closer with the larger `beta`, not there (longer training is not tried here).
# - Sparsity costs reconstruction: a small `rho` with a large `beta` raises the MSE
#   most, since fewer active units carry less about each image. On the 8x8 digits
#   every penalised model reconstructs worse than the unpenalised one (MSE 0.0042),
#   even with `beta = 0.1`, and even for `rho = 0.5`: the mean over all units is about
#   0.5 anyway, so that column barely moves, but the penalty pulls *each* unit's own
#   mean to 0.5, and the MSE still rises with `beta` (0.0048, 0.0083, 0.0116).
#   On MNIST (30,000 images, 10 epochs) the cost shows only with `beta >= 1` and
#   `rho <= 0.1` (0.0160 and 0.0216 for `rho = 0.05` against 0.0113 unpenalised): a
#   light penalty, `beta = 0.1`, even lowers the MSE a little (0.0099, 0.0096 and
#   0.0091 for `rho = 0.05, 0.1, 0.5`): at this budget a light penalty costs nothing
#   (we have not measured why it helps; the unpenalised code's units average 0.61).
# - The mean activation and the fraction of active units tell different stories: a
#   unit can reach `rho_hat = 0.05` by being at 0.05 for every image (not sparse at
#   all) or by firing on 5 % of the images. Compare the two columns: the KL penalty
#   only fixes the first; how close the second comes to `rho` shows how "binary" the
#   learned code is.
#
# ## 3. Filters: plain versus sparse (deck 002's figure)
#
# Each code unit `j` computes `sigmoid(x . W[:, j] + b_j)`: the column `W[:, j]`, shown
# as an image, is the pattern the unit responds to. Deck 002 compares a plain
# autoencoder with KL-sparse (`lambda = 0.001` and `0.003`) and L1-sparse (`0.001` and
# `0.005`) ones.
#
# **What does its `lambda` weigh against?** Deck 002 writes the loss as
# `L = ||X - X̂||^2 + lambda Omega(Z)` with `Omega(Z) = sum_i ||z_i||_1`: the squared
# error *summed* over pixels (and images). Divided by the number of images, that is
# npae's `reduction="batchmean"` with `lam = lambda`. The other common reading puts the
# weight against a *per-pixel* error (Keras's `mse`, npae's `reduction="mean"`), which
# divides the error by `D` more: a per-pixel weight `w` is the summed-error weight
# `w * D`. The deck does not say which its figure used; the two differ by a factor
# `D` (784 on MNIST). Adam is almost blind to the overall scale of the loss, so only
# the ratio matters. The table below spells the mapping out and trains the literal
# summed-error reading once; the four figure models use the per-pixel reading (npae's
# choice: at the literal scale the penalty barely acts, as the table shows). All codes
# are sigmoid units, so only the penalty differs.

# %%
print(f"deck 002's lambda, read two ways (D = {D} pixels):")
print(f"{'lambda':>7} {'per-pixel reading: as reduction=batchmean':>42} "
      f"{'summed reading: as reduction=mean':>34}")
for w in (1e-3, 3e-3, 5e-3):
    print(f"{w:7g} {'lam = ' + format(w * D, '.4g'):>42} {'lam = ' + format(w / D, '.3g'):>34}")

# %%
filters = {"plain": plain_model}
literal = train(dense_autoencoder(D, [], CODE, code_activation="sigmoid", rng=0,
                                  model=SparseAutoencoder, penalty="l1", lam=1e-3),
                "L1 0.001, summed error (deck)")
for label, kw in (("KL, weight 0.001", {"penalty": "kl", "rho": 0.05, "beta": 1e-3}),
                  ("KL, weight 0.003", {"penalty": "kl", "rho": 0.05, "beta": 3e-3}),
                  ("L1, weight 0.001", {"penalty": "l1", "lam": 1e-3}),
                  ("L1, weight 0.005", {"penalty": "l1", "lam": 5e-3})):
    filters[label] = train(dense_autoencoder(D, [], CODE, code_activation="sigmoid", rng=0,
                                             model=SparseAutoencoder, reduction="mean",
                                             **kw), label)

print(f"\n{'model':<18} {'mean act.':>10} {'active/input':>13} {'dead units':>11} "
      f"{'MSE/pixel':>10}")
for label, model in [*filters.items(), ("L1 0.001, summed", literal)]:
    m = measure(model)
    print(f"{label:<18} {m['mean']:10.3f} {m['active']:13.3f} {m['dead']:>7}/{CODE:<3} "
          f"{m['mse']:10.4f}")

# %%
figs = {}
for label, model in filters.items():
    stem = label.lower().replace(", weight ", "_").replace(".", "")
    figs[label] = viz.weight_grid(model.encoder[0].params["W"], image_shape=(SIDE, SIDE),
                                  ncols=16, title=f"{label}: first-layer filters",
                                  path=FIG / f"04_filters_{stem}.png")
figs["plain"]

# %%
figs["KL, weight 0.001"]

# %%
figs["KL, weight 0.003"]

# %%
figs["L1, weight 0.001"]

# %%
figs["L1, weight 0.005"]

# %% [markdown]
# **What to notice** (on MNIST; the 8x8 digits are too small to show strokes)
#
# - The plain autoencoder's filters are global, blotchy patterns, some close to their
#   random initialisation: each image is spread over many units at once, and no unit
#   needs to mean anything on its own.
# - The KL-sparse filters are local strokes and digit parts (arcs, bars, loops): when
#   only a few units may be active for an image, each must capture a piece that
#   appears in many images.
# - L1 pushes every activation towards zero, and with sigmoid units it does so by
#   switching some units off for good: the "dead units" column counts units that stay
#   below 0.1 on every held-out image. Below 0.1 the sigmoid's slope `h (1 - h)` is
#   under 0.09, and most dead units sit far lower, where it is close to zero; every
#   gradient reaching the unit's weights is scaled by that slope, so once off, a unit
#   learns little and rarely comes back. The survivors learn strokes. A stronger L1
#   weight kills more units and costs a lot of reconstruction; KL, which wants every
#   unit active *sometimes*, does not kill units.
# - The last row, deck 002's `lambda = 0.001` read literally against the summed error,
#   is nearly the plain model (compare its mean activation and MSE with the first
#   row): at that scale the penalty is `D` times weaker than in the per-pixel reading.
#
# ## 4. Sparsity as the decks define it
#
# ### The mean activation: over the training set, or over a batch?
#
# Decks 000 and 002 define `rho_hat_j = (1/N) sum_i h_j(x_i)` over all `N` training
# images. A minibatch method sees one batch at a time, so npae (like Ng's notes once
# they go minibatch, and every deep-learning framework) computes `rho_hat_j` over the
# batch it trains on. Is that the same penalty? We take the trained KL model
# (`rho = 0.05`, `beta = 1`), compute its codes on the whole training set, and compare
# the training-set `rho_hat` with the batch estimates, for several batch sizes (each
# batch size: the training set cut into disjoint shuffled batches).

# %%
kl_model = kl_models[0.05, 1.0]
H_train = kl_model.encode(Xtr).astype(np.float64)
rho_full = H_train.mean(axis=0)


def kl_penalty(r_hat, rho=0.05):
    """sum_j KL(rho || r_hat_j), the penalty with beta = 1."""
    return float(np.sum(kl(rho, np.clip(r_hat, 1e-12, 1 - 1e-12))))


print(f"training-set rho_hat: mean over units {rho_full.mean():.4f}, units from "
      f"{rho_full.min():.4f} to {rho_full.max():.4f}; penalty sum_j KL = "
      f"{kl_penalty(rho_full):.4f}\n")
print(f"{'batch':>6} {'mean |rho_batch - rho_set|':>27} {'relative':>9} "
      f"{'penalty, mean over batches':>27} {'excess over the set':>20}")
perm = np.random.default_rng(0).permutation(len(Xtr))
for b in [b for b in (16, 64, 128, 256, 1024) if b <= len(Xtr) // 4]:
    n_b = len(Xtr) // b
    R = H_train[perm[:n_b * b]].reshape(n_b, b, -1).mean(axis=1)   # (batches, units)
    full = H_train[perm[:n_b * b]].mean(axis=0)  # the same images, as one set
    dev = np.abs(R - full)
    pen = np.mean([kl_penalty(r) for r in R])
    print(f"{b:>6} {dev.mean():27.4f} {np.mean(dev / full):9.2f} {pen:27.4f} "
          f"{pen - kl_penalty(full):+20.4f}")

# %% [markdown]
# **What to notice**
#
# - The batch estimate scatters around the training-set mean, by a fifth of it at
#   batch 16 on the 8x8 digits (the `relative` column; 0.39 on MNIST) and less as the
#   batch grows, roughly as `1 / sqrt(batch)`: half as much for a batch four times
#   larger.
# - The scatter does not average out in the penalty. `KL(rho || r)` is convex in `r`,
#   so by Jensen's inequality the mean of the batch penalties is *at least* the penalty
#   of the mean (each row's batches cover the same images, so their `rho_hat` average
#   to that set's): the excess column is never negative, and it shrinks with the batch.
# - How much it matters depends on how close the units are to `rho`. On the 8x8 digits
#   the trained units sit close to `rho` on the whole set, and at the batch size the
#   model was trained with (64) the excess is of the same order as the training-set
#   penalty itself: most of what the minibatch penalty still charges is the scatter
#   between batches. On MNIST, after 10 epochs, the units' means still range from
#   about 0.07 to 0.24 and the penalty is dominated by that distance; we measured an
#   excess of 0.12 at batch 128 against a training-set penalty of 3.34. Either way,
#   minibatch KL sparsity optimises a stronger penalty than the decks' formula, one
#   that also charges for a unit's variation from batch to batch; a larger batch
#   brings it closer.
#
# ### Exact zeros: L1 on a ReLU code against KL on a sigmoid code
#
# Deck 002's "True sparsity" of L1 against KL's "Approximate sparsity" is a statement
# about exact zeros. A sigmoid is never exactly 0, so no sigmoid code can be truly
# sparse; a ReLU code can. We train the same `D -> CODE` encoder with a ReLU code, once
# without penalty and once with L1 in deck 002's summed-error form
# (`reduction="batchmean"`, `lam` chosen by npae so that the reconstruction stays
# usable), and count, on held-out images, the activations that are exactly 0 and
# those below 0.01.

# %%
L1_LAM = 0.03
relu = {"ReLU, no penalty": 0.0, f"ReLU + L1 ({L1_LAM:g})": L1_LAM}
zero_rows = {}
for label, lam in relu.items():
    m = train(dense_autoencoder(D, [], CODE, code_activation="relu", rng=0,
                                model=SparseAutoencoder, penalty="l1", lam=lam), label)
    zero_rows[label] = m
zero_rows["sigmoid + KL (0.05, 1)"] = kl_model
print(f"\n{'code':<24} {'exactly 0':>10} {'below 0.01':>11} {'dead units':>11} {'MSE/pixel':>10}")
for label, m in zero_rows.items():
    H = m.encode(Xte)
    mse = float(np.mean((m.decode(H) - Xte) ** 2))
    print(f"{label:<24} {np.mean(H == 0):10.3f} {np.mean(H < 0.01):11.3f} "
          f"{int(np.sum(H.max(axis=0) <= 0)):>11} {mse:10.4f}")

# %% [markdown]
# **What to notice**
#
# - The sigmoid code has no exact zeros at all (the column reads 0.000), however hard
#   the KL penalty pushes: its sparsity is approximate, small values rather than none.
# - A ReLU code has exact zeros even without a penalty (every negative input to the
#   ReLU), and L1 multiplies them: on the 8x8 digits 71 % of the activations are then
#   exactly 0 against 10 % without it (on MNIST, with the same `lam` against a sum over
#   784 pixels, 30 % against 1.5 %), the "True sparsity" of deck 002, at a cost in
#   reconstruction.
# - On a ReLU code L1 does the opposite of what it did to sigmoid units in section 3:
#   there it had no zero to reach and switched units off by saturating them; here it
#   reaches zero exactly, unit by unit and image by image.
#
# ### The penalty as a prior
#
# Deck 004 (`004_35e17b38bec77814.txt`) reads a penalty through "MAP (Maximum a
# posteriori)": maximising `log p(x|θ) + log p(θ)`, where "The first term is the loss
# function, and the second term is the regularization penalty". For a sparse code the
# prior sits on the code `h` rather than on the weights: `lam * sum_j |h_j|` is, up to
# a constant, `-log` of a Laplace density `p(h_j) ∝ exp(-lam |h_j|)`, whose sharp peak
# at 0 is what makes exact zeros likely (a Gaussian prior, `h_j^2`, would only shrink
# them). Strictly, since `h = f(x)` is not a free latent variable, this is a reading
# rather than a derivation (Goodfellow, Bengio and Courville, *Deep Learning*,
# section 14.2.1), and the KL penalty, a constraint on averages, has no such
# per-sample prior.
#
# ## Summary
#
# - `SparseAutoencoder(encoder, decoder, penalty="kl", rho=0.05, beta=1.0)` adds
#   `beta * sum_j KL(rho || rho_hat_j)` to a batch-mean squared error; `penalty="l1"`
#   adds `lam * sum_j |h_j|` instead.
# - The KL penalty controls the *mean* activation of every unit, and pulls it towards
#   its target for `beta` of order 1 (on the 8x8 digits to within 0.01; on MNIST after
#   10 epochs, closer but not there); sparsity trades reconstruction for a code in
#   which each unit stands for a part.
# - Sparse codes can be overcomplete; the penalty, not the bottleneck, prevents copying.
# - Deck 002's `lambda` multiplies a summed squared error; against a per-pixel error
#   the same weight is `D` times stronger. Say which one you mean.
# - npae's `rho_hat` is a batch mean; with KL, its scatter between batches adds a small
#   excess to the decks' training-set penalty (Jensen), shrinking with the batch size.
# - Exact zeros need an L1 penalty *and* a code that can reach 0 (ReLU); a sigmoid code
#   is only ever approximately sparse.
#
# **Exercises.** (1) Make the code twice as wide as the input and repeat the sweep.
# (2) Count the dead units of section 4's ReLU + L1 model for `lam` 0.01, 0.03, 0.1:
# when does L1 start to kill whole units? (3) Plot a histogram of one unit's
# activations over the test set for `beta = 0` and `beta = 1`.
