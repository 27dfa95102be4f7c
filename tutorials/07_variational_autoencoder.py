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
# # 07 · The variational autoencoder
#
# A plain autoencoder learns a code for every training image, but nothing tells it what
# the codes *between* and *around* the training codes should decode to. The variational
# autoencoder (VAE) makes the code a probability distribution and asks two things of it:
# reconstruct the input, and stay close to a fixed prior. The result is a latent space
# you can sample from.
#
# **What you'll learn**
#
# - the VAE as a latent-variable model, and its loss, the negative ELBO, in nats;
# - the reparameterization trick and its gradient, and the KL term and its gradient;
# - how to tell log-variance, standard deviation and variance apart (the classic bug);
# - what a trained VAE generates: samples from the prior, the 2-D manifold, latent
#   traversals; what `beta` does to reconstruction and KL;
# - what the posteriors look like once trained: each `q(z|x)` far from `N(0, I)`, their
#   mixture close to it; active units; KL warm-up;
# - why the reparameterization trick: its gradient against the score-function
#   (REINFORCE) gradient, measured;
# - why the decoder of a *plain* autoencoder is a poor generator.
#
# **Run it**
#
# ```bash
# python tutorials/07_variational_autoencoder.py          # MNIST: 15-30 min on 2 cores
# python tutorials/07_variational_autoencoder.py --fast   # 8x8 digits: well under a minute
# jupytext --to notebook tutorials/07_variational_autoencoder.py   # then open the .ipynb
# ```
#
# Figures are saved to `./figures` (or to the folder named by `NPAE_FIGURES`).

# %%
from _common import fast_mode, figures_dir, load_images  # noqa: I001  (first: picks Agg)

import matplotlib.pyplot as plt
import numpy as np

from npae import viz
from npae.gradcheck import check_model
from npae.models.autoencoder import dense_autoencoder
from npae.models.vae_analysis import (ESTIMATORS, KLWarmup, active_units,
                                     aggregate_posterior, encoder_gradient,
                                     posterior_statistics)
from npae.models.variational import dense_vae
from npae.optim import Adam

FAST = fast_mode()
FIG = figures_dir()
Xtr, ytr, Xte, yte, DATA = load_images(FAST)
D = Xtr.shape[1]
SIDE = int(round(np.sqrt(D)))          # 8 for digits, 28 for MNIST
HIDDEN = (128,) if DATA == "digits" else (400,)
EPOCHS = 40 if DATA == "digits" else 10
BATCH = 64 if DATA == "digits" else 128
print(f"{'fast' if FAST else 'full'} mode: {D}-{HIDDEN[0]}-latent VAEs, {EPOCHS} epochs, "
      f"batch {BATCH}")


def tile(images, cols, pad=1):
    """Rows of flat images -> one picture, ``cols`` images per row."""
    images = np.asarray(images).reshape(-1, SIDE, SIDE)
    rows = int(np.ceil(len(images) / cols))
    out = np.ones((rows * (SIDE + pad) + pad, cols * (SIDE + pad) + pad))
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        out[pad + r * (SIDE + pad):pad + r * (SIDE + pad) + SIDE,
            pad + c * (SIDE + pad):pad + c * (SIDE + pad) + SIDE] = img
    return out


def show(ax, images, cols, title=""):
    ax.imshow(tile(images, cols), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


# %% [markdown]
# ## The model
#
# A latent variable `z` with `L` dimensions and a prior `p(z) = N(0, I)`; a decoder
# `g_θ` turns `z` into the parameters of `p_θ(x | z)`. For images in [0, 1] that is one
# Bernoulli per pixel, with probability `sigmoid(g_θ(z))`: the decoder outputs **logits**.
#
# The posterior `p(z | x)` is intractable, so an encoder outputs an approximation
#
# $$ q_\phi(z \mid x) = \mathcal N\big(\mu(x),\ \operatorname{diag}\, e^{\text{logvar}(x)}\big). $$
#
# Its last layer has `2L` outputs: `mu` is the first half, `logvar` the second. Three
# quantities that must never be mixed up:
#
# | name | meaning | range |
# |---|---|---|
# | `logvar` | log σ², what the encoder outputs | any real |
# | `sigma` = exp(logvar / 2) | standard deviation | > 0 |
# | σ² = exp(logvar) | variance | > 0 |
#
# The classic bug is to multiply `eps` by the variance (or by `exp(logvar)`) instead of
# the standard deviation. Deck 002 (`002_324e468d49fbe7e1.txt`) writes the trick as
# `z|x = mu_{z|x} + Sigma_{z|x} ⊙ eps` and calls `Sigma_{z|x}` the (diagonal)
# covariance of `Z|X`: read literally, that is this bug, since a covariance is a
# variance. The factor must be the standard deviation, `sigma = exp(logvar / 2)`, so
# that `Var[z] = sigma²`; npae does that (`reparameterize`).
#
# **Notation.** The decks name the two networks' parameters in opposite ways. npae
# follows deck 004 (`004_35e17b38bec77814.txt`), as Kingma & Welling (2014) do:
#
# | source | encoder (approximate posterior) | decoder (likelihood) |
# |---|---|---|
# | deck 000 (`000_8952a0c831114130.txt`) | `q_θ(z ∣ x)` | `p_φ(x ∣ z)` |
# | deck 001 (`001_5eba56f0e89c2971.txt`) | `q_θ(z ∣ x)`, also `p_Θ(z ∣ x)` | `p_φ(x ∣ z)` |
# | deck 002 | `q_θ(Z ∣ X)`; the autoencoder's `E_θ` | `p_φ(X ∣ Z)`; the autoencoder's `G_φ` |
# | deck 004 | `q_φ(z ∣ x)` | `p_θ(x ∣ z)` |
# | npae (`npae.models`) | `q_φ(z ∣ x)`, `model.encoder` | `p_θ(x ∣ z)`, `model.decoder` |
#
# So `θ` is the *encoder's* parameters in decks 000-002 and the *decoder's* in deck 004
# and here; the formulas are the same up to this renaming.
#
# The evidence lower bound (ELBO) on `log p(x)` is
#
# $$ \log p(x) \ \ge\ \text{ELBO}(x) = \mathbb E_{q(z|x)}[\log p_\theta(x\mid z)]
#    - KL\big(q_\phi(z\mid x)\,\|\,p(z)\big), $$
#
# and the loss is `−ELBO` per sample, in nats: a **reconstruction** term (the binary
# cross-entropy summed over pixels) plus `β ×` the **KL** term (`β = 1` for the VAE).
#
# **The reparameterization trick.** The expectation is estimated with one sample per
# image, written as a differentiable function of the encoder's outputs:
#
# $$ z = \mu + \sigma \odot \varepsilon,\quad \varepsilon \sim \mathcal N(0, I)
#    \quad\Rightarrow\quad
#    \frac{\partial z}{\partial \mu} = 1,\qquad
#    \frac{\partial z}{\partial\,\text{logvar}} = \tfrac12\,\sigma\,\varepsilon. $$
#
# **The KL term** has a closed form for two Gaussians (per sample, summed over `j`):
#
# $$ KL = \tfrac12\sum_j \big(\mu_j^2 + e^{\text{logvar}_j} - \text{logvar}_j - 1\big),\qquad
#    \frac{\partial KL}{\partial \mu_j} = \mu_j,\qquad
#    \frac{\partial KL}{\partial\,\text{logvar}_j} = \tfrac12\big(e^{\text{logvar}_j} - 1\big). $$
#
# It is zero exactly when `mu = 0` and `logvar = 0`, i.e. when `q(z|x)` *is* the prior.
# The encoder's head receives `dz` (from the decoder) through the trick, plus `β` times
# the KL gradients. As always in npae, the whole thing is checked against finite
# differences (float64, a fixed `eps` through a fixed seed):

# %%
tiny = dense_vae(6, (5,), 2, rng=0, dtype=np.float64)
print(check_model(tiny, np.random.default_rng(0).uniform(size=(4, 6)), rng=1))

# %% [markdown]
# ## Training the fully connected VAE
#
# Deck 002's FC-VAE on MNIST fixes `P = 784` inputs, "ReLU activation in the
# intermediate layers", "Sigmoid activation in the output layer" and a 20-dimensional
# latent space ("Reconstruction fc-VAE (latent dim: 20)"). The rest is npae's choice,
# as the deck does not state it: one hidden layer of 400 units (`D-400-(20, 20)`
# encoder, `20-400-D` decoder, the width of common reference implementations), Adam
# with learning rate 1e-3, batches of 128, 10 epochs. The decoder outputs logits and
# the loss applies the sigmoid (the same model, computed stably). On the 8x8 digits of
# fast mode the hidden layer has 128 units. The loss is logged in its two parts.
#
# After training we measure, on **all** the test images, the `−ELBO` (its expectation
# estimated with 5 draws of `eps` per image) split into its two parts, and the
# importance-sampled `−log p(x)` with `K = 100`. Both are computed on the same images:
# on different images their difference would mix how much the images differ with how
# loose the bound is. The KL is exact, so the reconstruction part is `−ELBO − KL`,
# the average of `−log p(x | z)` over the very same draws.

# %%
LATENT = 20
vae = dense_vae(D, HIDDEN, LATENT, rng=0)
hist = vae.fit(Xtr, epochs=EPOCHS, batch_size=BATCH, optimizer=Adam(1e-3), validation=Xte,
               verbose=0, rng=1)


def bound_parts(model, X):
    """Per-image ``-ELBO`` (5 draws of eps), its reconstruction part and its exact KL."""
    nelbo = -model.elbo(X, samples=5, per_sample=True)
    mu, logvar = model.encode_distribution(X)
    kl = 0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1).sum(axis=1)
    return nelbo, nelbo - kl, kl


nelbo, recon, kl = bound_parts(vae, Xte)
nll = -vae.log_likelihood(Xte, samples=100, per_sample=True)
test_nelbo = nelbo.mean()
print(f"all {len(Xte)} test images, nats per image:")
print(f"  -ELBO (5 draws)       {test_nelbo:7.2f} = reconstruction {recon.mean():.2f} "
      f"+ KL {kl.mean():.2f}")
print(f"  -log p(x) (K = 100)   {nll.mean():7.2f}")
print(f"  -ELBO - (-log p(x))   {test_nelbo - nll.mean():7.2f}")
if DATA == "mnist" and EPOCHS == 10:
    print(f"npae after 10 epochs: test -ELBO {test_nelbo:.1f} nats; the usual reference "
          "implementations of this 784-400-20 Bernoulli VAE (Adam 1e-3, batch 128) report "
          "about 105 nats")

# %% [markdown]
# `-log p(x)` is *below* `-ELBO`: the importance-sampled estimate
# `log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x)` is a tighter bound than the ELBO (which is
# its `K = 1` case). Since `log p(x) − ELBO(x) = KL(q(z|x) || p(z|x))` exactly, the last
# line, the difference of the two on the same images, estimates from below how far the
# encoder is from the true posterior, in nats (from below because `K = 100` still does
# not reach `log p(x)`): about 4.6 nats per image on MNIST, about 0.5 on the 8x8 digits.
#
# The two parts over training (the figure shows the training mean of each epoch and the
# test value after it). Reconstruction falls fast on both data sets; the KL does not
# behave the same way on the two:
#
# - **MNIST** (10 epochs): the randomly initialized encoder has a test KL of about
#   3.6 nats; after the first epoch it is about 24, as the encoder has learned to put
#   information about the image into `z` (every nat of it costs a nat of KL under the
#   prior), and from the third epoch on it stays between about 25 and 26.
# - **8x8 digits** (fast mode, 40 epochs): the KL starts at about 4.5 nats and first
#   *falls*, to about 1.1 after three or four epochs; a likely reading is that the KL
#   term pulls the random initial codes towards the prior faster than the decoder learns
#   to use them. Then it climbs slowly, to about 2.6 (test) and 2.7 (training) by
#   epoch 40, as the encoder sends more information.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, part in zip(axes, ("reconstruction", "kl")):
    ax.plot(np.arange(1, hist.epochs_run + 1), hist[part], label="train")
    ax.plot(np.arange(1, hist.epochs_run + 1), hist[f"val_{part}"], label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image")
    ax.set_title(part)
    ax.legend()
fig.tight_layout()
fig.savefig(FIG / "07_loss_parts.png", dpi=120)

# %% [markdown]
# Reconstructions are the *mean* decoding: `z = mu(x)`, then the pixel probabilities
# `sigmoid(logits)`. Samples are new images: `z ~ N(0, I)`, decoded the same way.

# %%
viz.reconstruction_grid(Xte[:12], vae.reconstruct(Xte[:12]), n=12,
                        row_labels=("test digit", "VAE (mean)"),
                        path=FIG / "07_reconstructions.png")

fig, ax = plt.subplots(figsize=(6, 6))
show(ax, vae.sample(100, rng=2), 10, f"samples from the prior, latent dimension {LATENT}")
fig.savefig(FIG / "07_prior_samples.png", dpi=120, bbox_inches="tight")

# %% [markdown]
# ## Varying one latent coordinate at a time
#
# Not every one of the 20 coordinates is used. The KL of coordinate `j`, averaged over
# the data, says how much information it carries; unused ones sit at the prior
# (`mu ≈ 0`, `logvar ≈ 0`, KL ≈ 0) and the decoder ignores them. Moving one *active*
# coordinate from −3 to 3 with the others at 0 shows what it encodes.

# %%
mu, logvar = vae.encode_distribution(Xte)
kl_per_dim = 0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1).mean(axis=0)
order = np.argsort(kl_per_dim)[::-1]
print("KL per latent coordinate (nats):", np.round(np.sort(kl_per_dim)[::-1], 2))
print(f"active coordinates (KL > 0.1 nats): {(kl_per_dim > 0.1).sum()} of {LATENT}")
top = order[:6]
trav = vae.traverse(values=np.linspace(-3, 3, 11), dims=top)
fig, ax = plt.subplots(figsize=(7, 4))
show(ax, trav.reshape(-1, D), 11, "one coordinate at a time (rows: the 6 most used), "
     "z_j from -3 to 3")
fig.savefig(FIG / "07_traversal.png", dpi=120, bbox_inches="tight")

# %% [markdown]
# ## Inside the posterior: each `q(z|x)`, and their mixture
#
# Deck 000 says that "after training, $q_{\theta}(z|x_i)$ is close to a standard
# normal". Measured image by image, it is not: the KL printed above is several nats per
# image (on MNIST about 25), and a `q(z|x)` equal to `N(0, I)` would carry no
# information about `x` at all. What *is* close to `N(0, I)` is their mixture over the
# data, the **aggregate posterior** `q(z) = (1/N) Σ_i q(z | x_i)`, which is the
# distribution of codes the decoder sees and the one the prior stands in for when we
# sample. `npae.models.vae_analysis` measures both:
#
# - per image and coordinate: the standard deviation `sigma_j(x)` and the KL;
# - **active units** (Burda, Grosse & Salakhutdinov 2015): coordinate `j` is active when
#   `A_j = Var_x E_q[z_j] = Var_x mu_j(x)` exceeds 0.01;
# - the aggregate's mean and covariance, `Cov_x(mu) + mean_x diag(sigma²)`, against the
#   prior's `0` and `I`;
# - the exact split of the average KL (Hoffman & Johnson 2016):
#   `mean_i KL(q(z|x_i) || p) = I(x; z) + KL(q(z) || p)`, the information the codes carry
#   about *which* image came in (at most `log N`) plus the aggregate's distance from the
#   prior. Only the second term measures a mismatch with the prior.

# %%
post = posterior_statistics(vae, Xte)
n_active, A = active_units(vae, Xte)
agg = aggregate_posterior(vae, Xte, rng=0)
sig = post["sigma"]
active = A > 0.01
print(f"KL per test image: mean {post['mean_kl']:.2f} nats, from "
      f"{post['kl_per_image'].min():.2f} to {post['kl_per_image'].max():.2f}")
print(f"active units (Var_x mu_j > 0.01): {n_active} of {LATENT}; coordinates with a KL "
      f"above 0.1 nats: {(post['kl_per_dim'] > 0.1).sum()}")
if active.any():
    print(f"sigma_j(x) on active coordinates: median {np.median(sig[:, active]):.3f} "
          f"(5-95 %: {np.percentile(sig[:, active], 5):.3f} to "
          f"{np.percentile(sig[:, active], 95):.3f})")
if (~active).any():
    print(f"sigma_j(x) on inactive coordinates: median {np.median(sig[:, ~active]):.3f}")
print(f"\n{'j':>3} {'KL_j':>6} {'Var mu_j':>9} {'E sigma_j^2':>12} {'agg. var':>9}")
for j in np.argsort(post["kl_per_dim"])[::-1]:
    s2 = (sig[:, j] ** 2).mean()
    print(f"{j:3d} {post['kl_per_dim'][j]:6.2f} {A[j]:9.3f} {s2:12.3f} {agg['cov'][j, j]:9.3f}")
eig = np.linalg.eigvalsh(agg["cov"])
print(f"\naggregate posterior: |mean| = {np.linalg.norm(agg['mean']):.3f}, covariance "
      f"eigenvalues from {eig.min():.3f} to {eig.max():.3f} (the prior: 0 and all 1)")
print(f"KL(N(mean, cov) || N(0, I)) = {agg['gaussian_kl']:.3f} nats")
print(f"mean KL per image {agg['mean_kl']:.2f} = I(x; z) {agg['mutual_information']:.2f} "
      f"+ KL(q(z) || p(z)) {agg['marginal_kl']:.2f} nats  (log N = {agg['log_n']:.2f})")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
order_j = np.argsort(post["kl_per_dim"])[::-1]
s2 = (sig ** 2).mean(axis=0)
axes[0].bar(np.arange(LATENT), A[order_j], label="Var_x mu_j (between images)")
axes[0].bar(np.arange(LATENT), s2[order_j], bottom=A[order_j],
            label="E_x sigma_j² (within an image)")
axes[0].axhline(1, color="k", ls=":", lw=1, label="the prior's variance")
axes[0].set_xlabel("latent coordinate, by decreasing KL")
axes[0].set_ylabel("variance of the aggregate")
axes[0].legend(fontsize=7)
axes[1].hist(sig[:, active].ravel() if active.any() else [], bins=40, alpha=0.7,
             label="active coordinates")
axes[1].hist(sig[:, ~active].ravel() if (~active).any() else [], bins=40, alpha=0.7,
             label="inactive coordinates")
axes[1].set_xlabel("sigma_j(x), per test image")
axes[1].set_ylabel("count")
axes[1].legend(fontsize=7)
fig.tight_layout()
fig.savefig(FIG / "07_posterior.png", dpi=120)

# %% [markdown]
# **What to notice.**
#
# - The coordinates the model uses most (top of the table) have a small `sigma` for
#   every image: `E sigma_j²` well below the prior's 1, the code pins the image down
#   along them. On the 8x8 digits (fast mode) the least used sit near the prior
#   (`sigma ≈ 1`, `mu ≈ 0`, KL ≈ 0); on MNIST (full mode, 10 epochs) all 20 are used,
#   with `E sigma_j²` from 0.03 to 0.19 and a median `sigma` of 0.28: each `q(z|x)` is
#   a narrow cloud, 14 to 42 nats from `N(0, I)` (26 on average).
# - Burda et al.'s threshold of 0.01 is a convention, and two counts can disagree: on
#   the 8x8 digits every coordinate passes it while only a few carry more than 0.1
#   nats; the table shows the continuum between them. On MNIST both counts give 20.
# - The bars add up to about 1 on every coordinate: what the codes lose in spread
#   *within* an image (small `sigma²`) they make up *between* images (the spread of
#   `mu`). That is the aggregate matching the prior's variance (on MNIST, aggregate
#   variances from 0.95 to 1.21 per coordinate); its Gaussian fit is a fraction of a
#   nat from `N(0, I)` (0.5 on MNIST), far less than the mean KL of a single image.
# - The split of the KL says where the nats go. `I(x; z)` can never exceed `log N`
#   for `N` images. On the 8x8 digits the mean KL is below `log N` and most of it is
#   information about the image, with a small remainder of aggregate mismatch. On
#   MNIST the information term nearly reaches its cap (9.1 of `log 10,000 = 9.2`
#   nats: the codes tell the test images apart almost perfectly) and the remaining
#   16.8 nats are the KL of the 10,000-cloud mixture to the prior. That number depends
#   on `N` (with more images more of the KL would count as information), so it
#   overstates how far the aggregate over *all* digits is from `N(0, I)`; but it says
#   the mixture of narrow clouds has the prior's mean and covariance, not its shape.
#   So deck 000's "close to a standard normal" holds for the aggregate's first two
#   moments, not for each image's posterior.

# %% [markdown]
# ## A 2-D latent space: the manifold and the scatter
#
# With `L = 2` we can draw the whole latent space. The **manifold** decodes a grid of
# `z` whose coordinates are `Φ⁻¹(u)` for `u` evenly spaced in (0.05, 0.95): equal prior
# mass between neighbours, so the picture spends its area where the prior does.
# The **scatter** shows each test image's `mu(x)`, coloured by its label. (The figure
# comes from `npae.viz.latent_manifold`; `vae2.manifold(n)` returns the same decoded
# grid as an array.)

# %%
vae2 = dense_vae(D, HIDDEN, 2, rng=0)
hist2 = vae2.fit(Xtr, epochs=EPOCHS, batch_size=BATCH, validation=Xte, verbose=0, rng=1)
print(f"2-D VAE: test -ELBO {-vae2.elbo(Xte, samples=5):.2f} nats")
N_GRID = 15 if DATA == "mnist" else 12
viz.latent_manifold(vae2.decode, n=N_GRID, title="decoded grid, z = Φ⁻¹(u) for a uniform "
                    "grid of u", tile_size=0.45, pad=0 if DATA == "mnist" else 1,
                    path=FIG / "07_manifold.png")
viz.latent_scatter(vae2.encode(Xte), yte, title="posterior means mu(x) of the test images",
                   path=FIG / "07_latent_scatter.png")

# %% [markdown]
# The classes form regions that touch each other and fill a round blob around the
# origin of about the prior's size: the KL term pulls every `q(z|x)` towards `N(0, I)`,
# so the codes cannot drift apart. Walking across the manifold morphs one digit into
# another without passing through noise.
#
# ## The effect of β
#
# The loss is `reconstruction + β · KL`. `β = 0` drops the prior entirely: the encoder
# keeps its noise but may use as many nats as it likes. `β = 4` (a β-VAE) pays four
# times as much for every nat of information in `z`, so it sends less: worse
# reconstructions, a smaller KL.

# %%
runs = {1.0: hist}
models = {1.0: vae}
for beta in (0.0, 4.0):
    models[beta] = dense_vae(D, HIDDEN, LATENT, beta=beta, rng=0)
    runs[beta] = models[beta].fit(Xtr, epochs=EPOCHS, batch_size=BATCH, validation=Xte,
                                  verbose=0, rng=1)
print(f"all {len(Xte)} test images, nats per image; -ELBO with beta = 1, 5 draws of eps")
print(f"{'beta':>5} {'reconstruction':>15} {'KL':>8} {'-ELBO':>8}")
for beta in (0.0, 1.0, 4.0):
    nelbo_b, recon_b, kl_b = bound_parts(models[beta], Xte)
    print(f"{beta:5.1f} {recon_b.mean():15.2f} {kl_b.mean():8.2f} {nelbo_b.mean():8.2f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for beta in (0.0, 1.0, 4.0):
    epochs = np.arange(1, runs[beta].epochs_run + 1)
    for ax, part in zip(axes, ("reconstruction", "kl")):
        ax.plot(epochs, runs[beta][f"val_{part}"], label=f"β = {beta:g}")
for ax, part in zip(axes, ("reconstruction", "KL")):
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per test image")
    ax.set_title(part)
    ax.set_yscale("log")
    ax.legend()
fig.tight_layout()
fig.savefig(FIG / "07_beta.png", dpi=120)

fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
for ax, beta in zip(axes, (0.0, 1.0, 4.0)):
    show(ax, models[beta].sample(36, rng=3), 6, f"samples, β = {beta:g}")
fig.savefig(FIG / "07_beta_samples.png", dpi=120, bbox_inches="tight")

# %% [markdown]
# `β = 0` reconstructs best but its samples are poor: nothing made the codes look like
# `N(0, I)`, so most prior draws land where the decoder has never been trained. `β = 4`
# samples are smoother but blurrier, like its reconstructions. Push `β` far enough (on
# the small 8x8 digits of fast mode, 4 is already enough) and the encoder stops sending
# anything: the KL drops to about 0, `q(z|x)` equals the prior for every image, and the
# decoder outputs one average digit whatever `z` is. This is *posterior collapse*.

# %% [markdown]
# What did `β = 0` do with its freedom? Deck 001 warns that without the KL term the
# network can "cheat" "by learning narrow distributions": the encoder's noise would
# otherwise blur the reconstruction, so it shrinks `sigma` and spreads the means as far
# apart as it likes. The posterior statistics of the three models (all on the test
# images; active units as above):

# %%
print(f"{'':>8} {'active':>7} {'median sigma':>13} {'largest agg. var':>17} "
      f"{'KL(N(m, C) || N(0, I))':>23}")
for beta in (0.0, 1.0, 4.0):
    n_act_b, A_b = active_units(models[beta], Xte)
    sig_b = posterior_statistics(models[beta], Xte)["sigma"]
    agg_b = aggregate_posterior(models[beta], Xte, rng=0)
    print(f"beta={beta:<3g} {n_act_b:7d} {np.median(sig_b):13.4f} "
          f"{np.linalg.eigvalsh(agg_b['cov']).max():17.2f} {agg_b['gaussian_kl']:23.2f}")

# %% [markdown]
# **What to notice:** with `β = 0` the median `sigma` is a small fraction of the prior's
# 1 and the aggregate's largest variance is far above 1: narrow clouds, scattered widely,
# what deck 001 calls cheating. The prior then covers a region the codes do not fill,
# which is why its samples above are poor. `β = 1` keeps the aggregate's variances near
# 1; `β = 4` on the digits leaves no active unit at all. On MNIST (full mode, 10 epochs)
# the same three rows read: `β = 0`, median `sigma` 0.0004 and a largest aggregate
# variance of 18.8 (222 nats of KL per image); `β = 1`, 0.28 and 1.7; `β = 4`, 0.71
# and 1.35, with 17 of 20 units still active (KL 9.7 nats, reconstruction 112.9
# against 80.5).
#
# ### KL warm-up
#
# A common remedy for coordinates the KL term switches off too early is to start with
# `β = 0` and raise it linearly to 1 over the first epochs (Bowman et al. 2016;
# Sønderby et al. 2016): the decoder first learns to use `z`, then the prior is
# imposed. `KLWarmup(epochs)` from `npae.models.vae_analysis` is a callback that does
# this and puts `β` back at the end. The same model as above, with a warm-up over the
# first quarter of training (npae's choice of length):

# %%
WARMUP = max(1, EPOCHS // 4)
warm = KLWarmup(WARMUP)
vae_w = dense_vae(D, HIDDEN, LATENT, rng=0)
hist_w = vae_w.fit(Xtr, epochs=EPOCHS, batch_size=BATCH, optimizer=Adam(1e-3),
                   validation=Xte, verbose=0, rng=1, callbacks=[warm])
print(f"beta over the epochs: {', '.join(f'{b:.2f}' for b in warm.betas[:WARMUP + 1])}, "
      f"then {warm.betas[-1]:g}")
print(f"{'':>10} {'reconstruction':>15} {'KL':>8} {'-ELBO':>8} {'active':>7} "
      f"{'KL > 0.1':>9}")
for name, m in (("no warm-up", vae), ("warm-up", vae_w)):
    nelbo_m, recon_m, kl_m = bound_parts(m, Xte)
    kl_dims = posterior_statistics(m, Xte)["kl_per_dim"]
    print(f"{name:>10} {recon_m.mean():15.2f} {kl_m.mean():8.2f} {nelbo_m.mean():8.2f} "
          f"{active_units(m, Xte)[0]:7d} {(kl_dims > 0.1).sum():9d}")

# %% [markdown]
# **What to notice:** on the 8x8 digits (fast mode) the warm-up leaves the bound where
# it was (the `-ELBO` columns differ by about a tenth of a nat) but spreads the
# information differently: more KL in total, over about twice as many coordinates
# carrying more than 0.1 nats. With `β = 1` no coordinate
# had collapsed to begin with, so there was little to rescue. On MNIST (full mode, the
# warm-up over the first 2 of 10 epochs) it changed nothing but the bound, by half a
# nat the wrong way (`-ELBO` 106.96 against 106.39), with all 20 coordinates used in
# both models. Warm-up matters where the
# KL term wins early, with a larger `β` or a decoder strong enough to model `x` without
# `z`.

# %% [markdown]
# ## Why the reparameterization trick: gradient variance, measured
#
# The encoder's parameters `φ` enter the reconstruction term only through the
# distribution the expectation is taken over, `E_{q_φ(z|x)}[f(z)]` with
# `f(z) = log p_θ(x|z)`. There are two unbiased ways to estimate its gradient from
# samples:
#
# - **reparameterized** (pathwise): write `z = mu + sigma ⊙ eps` and differentiate
#   `f(mu + sigma ⊙ eps)`; it uses `∂f/∂z`, the decoder's backward pass;
# - **score function** (REINFORCE, likelihood ratio): `∇_φ E_q[f] = E_q[f(z) ∇_φ log q_φ(z|x)]`,
#   which needs only values of `f`. For the diagonal Gaussian,
#   `log q = −½ Σ_j [(z_j − mu_j)² e^{−logvar_j} + logvar_j + log 2π]`, so at
#   `z = mu + sigma ⊙ eps`
#
# $$ \frac{\partial \log q}{\partial \mu_j} = \frac{z_j-\mu_j}{\sigma_j^2}
#    = \frac{\varepsilon_j}{\sigma_j}, \qquad
#    \frac{\partial \log q}{\partial\,\text{logvar}_j}
#    = \frac{(z_j-\mu_j)^2}{2\sigma_j^2} - \frac12 = \frac{\varepsilon_j^2-1}{2}, $$
#
#   backpropagated through the encoder like any gradient. A common improvement
#   subtracts a *baseline* from `f` (here the mean of `f` over the image's other
#   draws, which leaves the estimator unbiased).
#
# Deck 003 (`003_e905936953007924.txt`) says that with a stochastic `eps` gradient
# descent "can be difficult (variance can be large)" and that the trick works "by
# taking out source of variance external variable". Measured on the trained VAE, for a
# fixed batch of test images: `encoder_gradient(vae, x, estimator, samples)` returns one
# estimate of the gradient of the batch's `−ELBO` with respect to all encoder
# parameters (the KL part is exact in all three). We draw `R` independent estimates
# with `S` samples per image and report the total variance (summed over parameters)
# and the relative error `sqrt(total variance) / ||gradient||`.

# %%
x_batch = Xte[:64]
R = 30
S_LIST = (1, 4, 16, 64)
estimates = {}
for est in ESTIMATORS:
    for S in S_LIST:
        if est == "score+baseline" and S == 1:
            continue
        estimates[est, S] = np.array([encoder_gradient(vae, x_batch, est, S, rng=1000 * S + r)
                                      for r in range(R)])
true_grad = np.mean([estimates["reparameterized", S].mean(axis=0) for S in S_LIST], axis=0)
print(f"encoder gradient of -ELBO on {len(x_batch)} test images, "
      f"{true_grad.size:,} parameters; {R} estimates per cell")
print(f"|gradient| = {np.linalg.norm(true_grad):.4f} (the mean of the reparameterized "
      f"estimates)\n")
print(f"{'samples S':>9} | " + " | ".join(f"{e:>24}" for e in ESTIMATORS))
print(f"{'':>9} | " + " | ".join(f"{'total var':>12}{'rel. err':>12}" for _ in ESTIMATORS))
variance = {}
for S in S_LIST:
    cells = []
    for est in ESTIMATORS:
        if (est, S) not in estimates:
            cells.append(f"{'-':>12}{'-':>12}")
            continue
        variance[est, S] = estimates[est, S].var(axis=0, ddof=1).sum()
        rel = np.sqrt(variance[est, S]) / np.linalg.norm(true_grad)
        cells.append(f"{variance[est, S]:12.3g}{rel:12.2f}")
    print(f"{S:>9} | " + " | ".join(cells))
for S in S_LIST:
    print(f"S = {S:2d}: score-function variance / reparameterized variance = "
          f"{variance['score', S] / variance['reparameterized', S]:.0f}")

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.6))
for est, marker in zip(ESTIMATORS, "osd"):
    Ss = [S for S in S_LIST if (est, S) in variance]
    ax.plot(Ss, [variance[est, S] for S in Ss], marker=marker, label=est)
ax.plot(S_LIST, [variance["reparameterized", 1] / S for S in S_LIST], "k:", lw=1,
        label="1/S")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("samples per image S")
ax.set_ylabel("total variance of the estimate")
ax.set_title("encoder gradient of -ELBO")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "07_gradient_variance.png", dpi=120)

# %% [markdown]
# **What to notice.** Both estimators' variances fall as `1/S` (each estimate is a
# mean of independent draws), but the score-function estimator's is larger by a
# roughly constant factor, printed above for each `S`: to match one reparameterized
# sample it would need that many times as many samples. Its relative error stays of
# order 1 or more even at 64 samples: the estimate is mostly noise. On MNIST (full
# mode, 330,040 encoder parameters) the factor is about 6,000 at every `S` (2,000 on
# the 8x8 digits), and the score function's relative error is still 12 at 64 samples,
# against 0.15 for the trick. The reason is in the formula: `f(z)` is a log-likelihood
# summed over pixels (about 80 nats on MNIST, 20 on the digits) whose large common
# value multiplies a zero-mean factor; only its small variation with `z` carries
# signal. The baseline removes the common value and recovers much of the gap,
# but the pathwise estimator still wins, because it uses the decoder's derivative,
# which says in which direction each `z_j` should move. That is why VAEs are trained
# with the trick.

# %% [markdown]
# ## Can the decoder of a plain autoencoder generate?
#
# A plain autoencoder has a decoder too. Feed it random codes and see. We train plain
# autoencoders with codes of size `d = 8, 16, 32` (same hidden layer, BCE loss) and decode
# (a) codes drawn from `N(0, I)` and (b) codes drawn from a Gaussian fitted to the
# training codes (their mean and covariance), the most generous choice.

# %%
rows = [("VAE, z ~ N(0, I)", vae.sample(12, rng=4))]
g = np.random.default_rng(5)
for d in (8, 16, 32):
    ae = dense_autoencoder(D, list(HIDDEN), d, loss="bce", rng=0)
    ae.fit(Xtr, epochs=EPOCHS, batch_size=BATCH, verbose=0, rng=1)
    codes = ae.encode(Xtr)
    mean, cov = codes.mean(axis=0), np.cov(codes, rowvar=False)
    print(f"AE d={d:2d}: code norms {np.linalg.norm(codes, axis=1).mean():6.2f} on average "
          f"(N(0, I) draws: {np.sqrt(d):.2f}); per-coordinate std from "
          f"{codes.std(axis=0).min():.2f} to {codes.std(axis=0).max():.2f}")
    z_prior = g.standard_normal((12, d)).astype(np.float32)
    z_fit = g.multivariate_normal(mean, cov, size=12).astype(np.float32)
    rows.append((f"AE d={d}, z ~ N(0, I)", ae.decode(z_prior)))
    rows.append((f"AE d={d}, z ~ N(mean, cov of codes)", ae.decode(z_fit)))

fig, axes = plt.subplots(len(rows), 1, figsize=(7, 1.0 * len(rows)))
for ax, (title, images) in zip(axes, rows):
    show(ax, images, 12, title)
fig.savefig(FIG / "07_ae_vs_vae_samples.png", dpi=120, bbox_inches="tight")

# %% [markdown]
# The autoencoder's decodes of `N(0, I)` codes are mostly smudges: its codes have
# whatever scale and shape the training happened to give them (compare the norms
# printed above with `sqrt(d)`), so prior draws fall outside the region the decoder
# knows. Fitting a Gaussian to the codes helps, and more so for small `d`, but the
# training codes form a thin, irregular set inside that Gaussian: many draws land in
# the holes between them, where the decoder was never asked for anything, and come
# out blended or broken. The larger `d`, the emptier the space.
#
# The VAE's latent space has two properties the plain one lacks:
#
# - **continuity**: nearby codes decode to similar images, because during training each
#   image is decoded from a whole *cloud* of codes `mu + sigma * eps`, not one point;
# - **completeness**: every code that is likely under the prior decodes to something
#   meaningful, because the KL term packs the clouds of all images into `N(0, I)`,
#   leaving no large holes.
#
# The price is blur: an image must be reconstructable from anywhere in its cloud, and
# the Bernoulli decoder outputs the average over the images whose clouds overlap.
#
# **Things to try**: `likelihood="gaussian"` (with its fixed variance), a larger `β`
# on the 2-D model, `vae.interpolate(x_a, x_b)` between two test digits, or
# `conv_vae` from `npae.models.variational` for a convolutional encoder and decoder.
