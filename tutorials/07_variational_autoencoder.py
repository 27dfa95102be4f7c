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
# The lecture's FC-VAE: `D-400-(20, 20)` encoder, `20-400-D` decoder, ReLU, Adam with
# learning rate 1e-3. (On the 8x8 digits of fast mode the hidden layer has 128 units.)
# The loss is logged in its two parts.
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
#
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
