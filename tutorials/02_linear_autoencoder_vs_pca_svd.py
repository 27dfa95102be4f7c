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
# # 02 · The linear autoencoder, PCA and the SVD
#
# Take the autoencoder of tutorial 01 and remove every nonlinearity: the encoder is
# `h = x W_e + b_e`, the decoder `x̂ = h W_d + b_d`, with a code of `k` numbers. What
# can such a network learn? Deck 000 (`000_8952a0c831114130.txt`) answers with a table
# and a sentence: "an autoencoder with a linear activation function does something very
# similar to pca and svd", with "Very small differences due to some difference in
# implementation" (its table has 0.056 for the autoencoder against 0.055 for PCA at
# `k = 2`, equal numbers at `k = 4` and 6). Deck 001 (`001_5eba56f0e89c2971.txt`) says
# it more strongly: "Using all linear layers with Euclidean loss is equivalent to PCA
# (under certain data normalization)". This tutorial measures the stronger statement:
# trained well, the linear autoencoder reaches PCA's error to a fraction of a percent
# (to four digits on MNIST) and PCA's subspace to within about a degree, because PCA is
# the best any rank-`k` linear map can do and the network finds it. Deck 000's table
# compares three columns:
#
# | Latent Dimension | Autoencoder Error (Linear) | PCA Error | SVD Error |
# |---|---|---|---|
#
# and this tutorial measures them, shows why the SVD column *equals* PCA's (it is PCA,
# computed by the SVD of the centred data), measures what forgetting to centre would
# cost, looks inside the trained network for a surprise, and ends with deck 004's
# (`004_35e17b38bec77814.txt`) variant with tied weights, `X̂ = W^T W X`.
#
# **What you'll learn**
#
# - PCA two ways, eigendecomposition of the covariance and SVD of the centred data,
#   and why they agree;
# - why PCA's error is the sum of the discarded eigenvalues, why deck 000's "SVD
#   Error" is the same number, and what a truncated SVD *without* centring
#   (Eckart–Young) costs instead;
# - that a linear autoencoder matches PCA's error (to a fraction of a percent) ...
# - ... yet does **not** learn the principal components: it learns the principal
#   *subspace*, in a basis that is neither orthogonal nor normalised, and how to get the
#   components back from it;
# - what tying the decoder to the encoder (`W^T` decodes what `W` encodes) changes.
#
# **Run it**
#
# ```bash
# python tutorials/02_linear_autoencoder_vs_pca_svd.py          # MNIST if available: minutes
# python tutorials/02_linear_autoencoder_vs_pca_svd.py --fast   # 8x8 digits: well under a minute
# NPAE_FAST=1 python tutorials/02_linear_autoencoder_vs_pca_svd.py   # same as --fast
# jupytext --to notebook tutorials/02_linear_autoencoder_vs_pca_svd.py   # then open the .ipynb
# ```
#
# The full run reads MNIST from `$NPAE_DATA` (or npae's download cache); without it,
# it falls back to scikit-learn's 8x8 digits and says so.
# Figures are saved to `./figures` (or to the folder named by `NPAE_FIGURES`).

# %%
from _common import fast_mode, figures_dir, load_images  # noqa: I001  (first: picks Agg)

import time

import numpy as np

from npae import viz
from npae.backend import asnumpy
from npae.gradcheck import check_model
from npae.linear import PCA, compare, principal_angles, svd_reconstruction
from npae.models import TiedLinearAutoencoder
from npae.viz import NpaeFigure

FAST = fast_mode()
FIG = figures_dir()
Xtr, ytr, Xte, yte, data_name = load_images(FAST)
ON_MNIST = data_name == "mnist"

np.set_printoptions(precision=3, suppress=True, linewidth=110)
SCI = {"float": "{:.1e}".format}  # for numbers near 0


def angles_deg(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Angle in degrees between row i of A and row i of B, ignoring sign.

    Taken from ``principal_angles`` of the two lines, which is accurate near 0, where
    ``arccos`` of a cosine close to 1 is not.
    """
    return np.array([principal_angles(a[:, None], b[:, None], degrees=True)[0]
                     for a, b in zip(A, B)])

N, D = Xtr.shape
side = int(round(np.sqrt(D)))
X = Xtr.astype(np.float64)  # the decompositions below run in float64 for accuracy
print(f"N = {N} training images, D = {D} pixels; {len(Xte)} test images")

# %% [markdown]
# ## 1. PCA, two ways
#
# Centre the data, `X_c = X - 1 μ^T` with `μ` the mean image. PCA looks for the
# directions of largest variance, the eigenvectors of the covariance matrix
#
# $$ C = \frac{1}{N-1} X_c^\top X_c = V \Lambda V^\top, \qquad
#    \Lambda = \operatorname{diag}(\lambda_1 \ge \lambda_2 \ge \dots \ge \lambda_D). $$
#
# (Deck 003, `003_e905936953007924.txt`, writes this as `X = V Σ V^T`, with `X` the
# covariance and `Σ` the diagonal of eigenvalues; here the covariance is `C` so that `X`
# can stay the data.)
#
# The second route never forms `C`: the singular value decomposition of the centred
# data, `X_c = U S V^T`, gives `C = V (S² / (N-1)) V^T`, the *same* `V`, and
# eigenvalues `λ_i = s_i² / (N - 1)`. It is the better-conditioned route (it never
# squares the data); both should agree to rounding.

# %%
t0 = time.perf_counter()
mu = X.mean(axis=0)
Xc = X - mu
C = Xc.T @ Xc / (N - 1)
lam, V_eig = np.linalg.eigh(C)            # ascending order: flip to largest first
lam, V_eig = lam[::-1], V_eig[:, ::-1]

_, s, Vt_svd = np.linalg.svd(Xc, full_matrices=False)
lam_svd = s**2 / (N - 1)
print(f"both decompositions in {time.perf_counter() - t0:.1f} s\n")

print("top 6 eigenvalues of C:       ", lam[:6])
print("top 6 s_i^2 / (N - 1) of X_c: ", lam_svd[:6])
print(f"largest relative difference (top 50): "
      f"{np.max(np.abs(lam[:50] - lam_svd[:50]) / lam[:50]):.1e}")
# eigenvectors are defined up to sign, so we measure the angle between the lines
print("angle (degrees) between the i-th eigenvector and the i-th right singular vector:")
print(np.array2string(angles_deg(V_eig[:, :6].T, Vt_svd[:6]), formatter=SCI))

# %% [markdown]
# `npae.linear.PCA` does the same, with scikit-learn's names (`components_` holds the
# top-`k` directions as rows, `explained_variance_` the `λ_i`, `mean_` the mean image),
# by either route (`method="eig"`, the default, or `"svd"`):

# %%
pca6 = PCA(6).fit(Xtr)
pca6_svd = PCA(6, method="svd").fit(Xtr)
print("PCA(6).explained_variance_:", pca6.explained_variance_)
print("angle (degrees) between the rows of components_ and the columns of V_eig:")
print(np.array2string(angles_deg(pca6.components_, V_eig[:, :6].T), formatter=SCI))
print("eig route vs svd route, largest |difference| of components_:",
      f"{np.abs(pca6.components_ - pca6_svd.components_).max():.1e}")

# %% [markdown]
# **What to notice:** eigenvalues and directions agree to rounding (`components_` is
# stored in the data's float32, so to float32's seven digits). Each eigenvector is only
# defined up to its sign, which is why we measured angles between lines; npae fixes the sign (the
# largest entry of each component is positive), so its two routes agree even in sign.
#
# ## 2. How large is PCA's error, and what if you forget to centre?
#
# Reconstructing with the top `k` components, `x̂ = μ + V_k V_k^T (x - μ)`, throws
# away the variance along the other directions. On the training data the squared error
# is exactly what was discarded, so the per-pixel MSE is
#
# $$ \mathrm{MSE}_\mathrm{PCA}(k) = \frac{N-1}{N D} \sum_{i > k} \lambda_i . $$
#
# Deck 000's **SVD column** is PCA by the second route of section 1: the SVD of the
# *centred* data gives the same `V_k`, so the same reconstructions and the same error
# (section 3 measures it). The SVD route only tells a different method if you skip the
# centring, a classic slip: the truncated SVD of the *uncentred* data,
# `X ≈ U_k S_k V_k^T`. By the Eckart–Young theorem this is the best rank-`k`
# approximation of `X` itself, with squared error `Σ_{i>k} σ_i²` (`σ_i` the singular
# values of `X`, not of `X_c`). It fits a `k`-dimensional subspace through the *origin*,
# while PCA fits one through the mean. Both error formulas check out:

# %%
# the right singular vectors and squared singular values of the *uncentred* X
sigma2, V_unc = np.linalg.eigh(X.T @ X)
sigma2, V_unc = np.maximum(sigma2[::-1], 0.0), V_unc[:, ::-1]
print(f"{'k':>3} {'PCA MSE':>10} {'from the λ':>11} {'uncentred':>10} {'from the σ':>11}"
      f" {'PCA(k-1)':>9}")
for k in (2, 4, 6):
    pca_err = np.mean((PCA(k).fit(X).reconstruct(X) - X) ** 2)
    svd_err = np.mean((svd_reconstruction(X, k) - X) ** 2)
    pca_prev = np.mean((PCA(k - 1).fit(X).reconstruct(X) - X) ** 2)
    print(f"{k:>3} {pca_err:10.5f} {(N - 1) / (N * D) * lam[k:].sum():11.5f} "
          f"{svd_err:10.5f} {sigma2[k:].sum() / (N * D):11.5f} {pca_prev:9.5f}")

# %% [markdown]
# **What to notice:** on the data they were fitted to,
#
# $$ \mathrm{MSE}_\mathrm{PCA}(k) \;\le\; \mathrm{MSE}_\mathrm{uncentred}(k) \;\le\;
#    \mathrm{MSE}_\mathrm{PCA}(k-1). $$
#
# The left inequality: a subspace through the origin is one particular affine subspace,
# and PCA finds the best affine one. The right one: the `k`-dimensional linear span of
# the mean `μ` and the top `k-1` components contains PCA(k-1)'s whole affine subspace,
# so projecting onto it does at least as well, and the SVD finds the best linear span.
# In words, the uncentred SVD spends about one of its `k` directions on describing the
# mean image. (The linear autoencoder has biases, so it can do what PCA does.)
#
# So much for the lesson: centre first. (The mistake is easy to make because the two
# routes of section 1 look alike in code; only `X - mu` tells them apart.)
#
# ## 3. Deck 000's table
#
# `npae.linear.compare` trains one linear autoencoder `D → k → D` (identity
# activations, biases, MSE, Adam with a learning rate that drops twice) for each `k`,
# fits PCA (eigendecomposition of the covariance) and deck 000's SVD column (SVD of
# the centred training images) on the same training images, and measures them on the
# held-out test images. Two more columns: the uncentred truncated SVD of section 2, the
# cost of the slip, and one that answers a question the errors cannot: is the
# autoencoder's subspace PCA's? It is the largest *principal angle* (section 4) between
# the span of the decoder's weights and the top-`k` principal subspace.

# %%
ks = (2, 4, 6)
# MNIST has 40x more images: one epoch in batches of 128 is already 469 Adam steps
# (60,000 / 128, rounded up), against 23 for the digits in batches of 64
epochs, batch_size = (10, 128) if ON_MNIST else (60, 64)
t0 = time.perf_counter()
table = compare(Xtr, ks, X_test=Xte, epochs=epochs, batch_size=batch_size, rng=0)
print(f"trained {len(ks)} linear autoencoders ({epochs} epochs each) in "
      f"{time.perf_counter() - t0:.0f} s; per-pixel test MSE on {data_name}:\n")
print(table)

# %%
# deck 000's PCA and SVD columns (equal); the deck names no data set, but these are the
# errors of PCA on the MNIST test images (measured below), so we read them as that
LECTURE_PCA = {2: 0.055, 4: 0.047, 6: 0.041}
print(f"{'k':>3} {'AE / PCA - 1':>13} {'SVD / PCA - 1':>14} {'uncentred / PCA - 1':>20}"
      + (f" {'lecture':>8} {'PCA, SVD (here)':>16}" if ON_MNIST else ""))
for row in table:
    k, ae, p, sv = row["latent_dim"], row["ae_mse"], row["pca_mse"], row["svd_mse"]
    line = (f"{k:>3} {100 * (ae / p - 1):+12.3f}% {sv / p - 1:+14.0e} "
            f"{100 * (row['svd_uncentred_mse'] / p - 1):+19.1f}%")
    if ON_MNIST:
        line += f" {LECTURE_PCA[k]:8.3f} {p:7.4f} {sv:8.4f}"
    print(line)
if not ON_MNIST:
    print(f"\n(Deck 000's PCA and SVD errors {LECTURE_PCA[2]}, {LECTURE_PCA[4]}, "
          f"{LECTURE_PCA[6]} match PCA on the MNIST test images; these numbers are for the 8x8 "
          "digits and are not comparable. Run without --fast, with MNIST, to compare.)")

# %% [markdown]
# **What to notice**
#
# - The autoencoder's error equals PCA's to a fraction of a percent, at every `k`, and
#   its subspace is within about a degree of PCA's. That is more than deck 000 claims:
#   its table has the autoencoder 0.001 above PCA at `k = 2` (0.056 against 0.055) and
#   calls the two "very similar"; trained to convergence (the learning rate dropped
#   twice, `compare`'s schedule) the gap closes. Nothing told the network about
#   eigenvectors: gradient descent on the squared error found the same optimum (for a
#   linear autoencoder every local minimum is global, and it is PCA's; Baldi & Hornik,
#   1989). On the training images PCA is the optimum, a floor the autoencoder can only
#   approach; on held-out images it may land a hair either side of PCA.
# - The SVD column equals PCA's to rounding (the relative differences printed, as
#   fractions, not percent, are 0 or of the order of 1e-15, float64's last digits):
#   the same subspace, found by a different decomposition. That is deck 000's column.
# - The uncentred SVD is higher, and the gap shrinks as `k` grows: one direction spent
#   on the mean costs a lot when there are only 2, little when there are 6. On the test
#   images the ordering of section 2 is not a theorem any more, but it holds here.
# - On MNIST the PCA and SVD columns land on deck 000's 0.055 / 0.047 / 0.041 (the
#   deck's numbers are truncated to three decimals), while the uncentred SVD does not.
#
# The whole error curve, for every `k` up to 50 (20 on the digits), follows from one
# eigendecomposition of each method: project the test images onto all the directions
# once and accumulate.

# %%
K = 50 if ON_MNIST else 20  # the digits' error is nearly 0 beyond k = 20
Ete = Xte.astype(np.float64)
Zc = (Ete - mu) @ V_eig[:, :K]                           # PCA codes of the test images
pca_curve = (np.sum((Ete - mu) ** 2, axis=1, keepdims=True)
             - np.cumsum(Zc**2, axis=1)).mean(axis=0) / D
Zs = (Ete - mu) @ Vt_svd[:K].T                           # the same, by the SVD route
svd_curve = (np.sum((Ete - mu) ** 2, axis=1, keepdims=True)
             - np.cumsum(Zs**2, axis=1)).mean(axis=0) / D
Zu = Ete @ V_unc[:, :K]                                  # SVD codes, uncentred
unc_curve = (np.sum(Ete**2, axis=1, keepdims=True) - np.cumsum(Zu**2, axis=1)).mean(axis=0) / D
k_axis = np.arange(1, K + 1)
print("the curves agree with the table:",
      all(abs(pca_curve[r["latent_dim"] - 1] - r["pca_mse"]) < 1e-6
          and abs(svd_curve[r["latent_dim"] - 1] - r["svd_mse"]) < 1e-6
          and abs(unc_curve[r["latent_dim"] - 1] - r["svd_uncentred_mse"]) < 1e-6
          for r in table))

fig = NpaeFigure(figsize=(6.5, 4.2), layout="constrained")
ax = fig.subplots()
ax.plot(k_axis, pca_curve, "-", label="PCA (eigendecomposition)")
ax.plot(k_axis[::2], svd_curve[::2], "x", color="C0", label="SVD of the centred data")
ax.plot(k_axis, unc_curve, "--", color="C1", label="truncated SVD, uncentred (a slip)")
ax.plot([r["latent_dim"] for r in table], [r["ae_mse"] for r in table], "o", color="C3",
        label="linear autoencoder")
ax.set_xlabel("latent dimension k")
ax.set_ylabel("test MSE per pixel")
ax.set_yscale("log")
ax.set_title(f"Reconstruction error on the {data_name} test images")
ax.grid(alpha=0.3)
ax.legend()
fig.savefig(FIG / "02_error_vs_k.png", dpi=100)
fig

# %% [markdown]
# ## 4. Same subspace, different basis
#
# Is the autoencoder's decoder *made of* principal components? Look at the `k = 6`
# network. Its decoder computes `x̂ = h W_d + b_d`: every reconstruction is the bias
# plus a combination of the `k` rows of `W_d`, the decoder's **basis images**. PCA's
# basis, the rows of `V_k^T`, is orthonormal: `V_k^T V_k = I`. Is the decoder's?

# %%
k = 6
model = table.models[k]
W_d = asnumpy(model.decoder.layers[0].params["W"]).astype(np.float64)   # (k, D)
V_k = pca6.components_.astype(np.float64)  # (k, D): rows = components (math: V_k^T)
print("Gram matrix of the decoder's basis, W_d W_d^T:")
print(W_d @ W_d.T)
print(f"||W_d W_d^T - I||_F = {np.linalg.norm(W_d @ W_d.T - np.eye(k)):.2f}"
      f"   (PCA: ||V_k^T V_k - I||_F = {np.linalg.norm(V_k @ V_k.T - np.eye(k)):.1e})")

# %% [markdown]
# Not orthonormal: the basis images have lengths other than 1 and overlap. Are they at
# least the principal components in another order, or rescaled? The angle between
# each decoder basis image `w_i` and each principal component `v_j`
# (`arccos |w_i · v_j| / ||w_i||`, in degrees; 0 would mean "the same direction"):

# %%
W_unit = W_d / np.linalg.norm(W_d, axis=1, keepdims=True)
angles = np.degrees(np.arccos(np.clip(np.abs(W_unit @ V_k.T), 0.0, 1.0)))
print("rows: decoder basis images w_1..w_6; columns: principal components v_1..v_6")
print(angles.round(0))
print(f"smallest angle between any w_i and any v_j: {angles.min():.0f} degrees")

# %% [markdown]
# Far from 0: no decoder basis image is a principal component. And yet the errors
# matched. The resolution is that the two bases span the **same subspace**. The
# *principal angles* `θ_1 ≤ ... ≤ θ_k` between two `k`-dimensional subspaces measure
# that, whatever the bases: with orthonormal bases `Q_A`, `Q_B`, `cos θ_i` are the
# singular values of `Q_A^T Q_B` (`npae.linear.principal_angles`). If the subspaces
# are equal, every angle is 0. Equivalently, `W_d = A V_k^T` for an invertible `k × k`
# mixing matrix `A`, which least squares recovers as `A = W_d V_k`:

# %%
theta = principal_angles(W_d.T, V_k.T, degrees=True)
print("principal angles between span(W_d) and span(V_k), degrees:", theta)
A = W_d @ V_k.T
residual = np.linalg.norm(W_d - A @ V_k) / np.linalg.norm(W_d)
print(f"W_d = A V_k^T holds to a relative residual of {residual:.1e}, with A =")
print(A)

# %% [markdown]
# **What to notice**
#
# - Individual angles of tens of degrees, principal angles below a degree: the
#   autoencoder learned the principal *subspace*, not the principal *components*.
# - Why: the loss sees only the product of the two maps. For any invertible `k × k`
#   matrix `A`, replacing `W_e → W_e A^{-1}` and `W_d → A W_d` leaves every
#   reconstruction unchanged, so gradient descent has no reason to prefer the
#   orthonormal, variance-ordered basis. Which `A` it ends with depends on the random
#   initialisation.
# - The mixing matrix `A` is full, neither diagonal nor a permutation: each basis image
#   blends all six components.
#
# The same holds for the encoder `W_e` (its columns span the same subspace on the
# data). The picture makes it plain: PCA's components on top, the decoder's basis
# images below.
#
# ## 5. Getting the principal components back
#
# Since the subspace is right, the components are one small PCA away: take an
# orthonormal basis `Q` of the decoder's span (QR of `W_d^T`), project the centred
# data onto it, `Z = X_c Q` (only `k` numbers per image), and diagonalise the `k × k`
# covariance of `Z`, `Z^T Z / (N-1) = R Λ_k R^T`. The columns of `Q R` are the principal
# components, and `Λ_k` holds their variances.

# %%
Q, _ = np.linalg.qr(W_d.T)                       # (D, k), orthonormal columns
Z = Xc @ Q
lam_k, R = np.linalg.eigh(Z.T @ Z / (N - 1))
lam_k, R = lam_k[::-1], R[:, ::-1]
recovered = (Q @ R).T                            # (k, D), rows
recovered *= np.sign(np.sum(recovered * V_k, axis=1, keepdims=True))  # PCA's signs
print("variances recovered from the autoencoder:", lam_k)
print("PCA's explained_variance_:               ", pca6.explained_variance_)
print("angle (degrees) between recovered and PCA's components:", angles_deg(recovered, V_k))

# %%
basis_rows = np.concatenate([V_k, W_d, recovered])           # 3 rows of k images
fig = viz.weight_grid(basis_rows.T, image_shape=(side, side), ncols=k, tile_size=1.1,
                      title="PCA (top), AE decoder (middle), recovered (bottom)",
                      path=FIG / "02_components_vs_decoder_basis.png")
fig

# %% [markdown]
# **What to notice:** the top row shows PCA's components, in order of variance: each
# is a contrast between regions of the image (on MNIST the first sets a round "0" against
# an upright stroke), later ones finer. The
# middle row (each tile scaled to its own contrast) shows blends of them that resemble
# no single component. The bottom row, computed from the autoencoder alone, repeats
# the top row: the information was in the network all along, just not in its weights
# one by one. The last pair can differ slightly when two eigenvalues are close, since
# then a small tilt of the subspace mixes their directions.
#
# ## 6. The reconstructions themselves
#
# Same subspace, same projection: PCA's and the autoencoder's reconstructions should
# be the same images. Test images on top, then each method for `k = 2, 4, 6`.
#
# (`compare` trains the autoencoder on centred data, `X - μ`, and adds `μ` back: with
# biases the optimum is the same, but the training is far better conditioned, since
# the mean image no longer dominates the gradient. We do the same here.)

# %%
def ae_reconstruct(k: int, images: np.ndarray) -> np.ndarray:
    """The trained linear autoencoder's reconstruction, undoing compare's centring."""
    centred = (images.astype(np.float64) - mu).astype(np.float32)
    return asnumpy(table.models[k].reconstruct(centred)).astype(np.float64) + mu


show = Xte[:8].astype(np.float64)
rows, labels = [show], ["input"]
for k in ks:
    pca_rec = PCA(k).fit(X).reconstruct(show)
    ae_rec = ae_reconstruct(k, show)
    rows += [pca_rec, ae_rec]
    labels += [f"PCA, k={k}", f"linear AE, k={k}"]
    print(f"k = {k}: largest pixel difference PCA vs AE on these images: "
          f"{np.abs(pca_rec - ae_rec).max():.3f}")

fig = NpaeFigure(figsize=(len(show) * 0.9 + 1.2, len(rows) * 0.9), layout="constrained")
axes = fig.subplots(len(rows), len(show), squeeze=False)
for r, (images, label) in enumerate(zip(rows, labels)):
    for c in range(len(show)):
        axes[r, c].imshow(images[c].reshape(side, side), cmap="gray", vmin=0.0, vmax=1.0,
                          interpolation="nearest")
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
fig.suptitle(f"{data_name} test images and their rank-k reconstructions")
fig.savefig(FIG / "02_reconstructions.png", dpi=100)
fig

# %% [markdown]
# **What to notice**
#
# - Each PCA row and the autoencoder row below it are indistinguishable: the largest
#   pixel differences printed above are about a hundredth of the grey scale or less,
#   the last bit of training noise.
# - With `k = 2` every digit becomes a blurry blend of a few prototypes; by `k = 6` the
#   class is often recognisable but the strokes are still smooth: a linear code of 6
#   numbers cannot do better, which is why tutorial 01's nonlinear autoencoder beats
#   this row at the same `k`.
#
# ## 7. Tied weights: deck 004's linear autoencoder
#
# Deck 004 writes the linear autoencoder with *one* matrix: `Y = W X`, `X̂ = W^T Y`,
# error `E = ||X - W^T W X||^2`, and says "This is similar to PCA": "The output of the
# hidden layer will be in the principal subspace". In npae's rows-as-samples
# convention, `h = x W` and `x̂ = h W^T` with `W` of shape `(D, k)`:
# `npae.models.TiedLinearAutoencoder`, which `compare(..., tied=True)` trains with the
# same schedule on the same centred images (the deck's model has no biases; centring
# does their job).
#
# `W` is used twice, so its gradient has two terms, one per use. With `R = dL/dx̂`:
# `dL/dW = x^T (R W) + R^T h` (the encoder's use, then the decoder's); the decoder
# layer hands its term to the encoder layer, which adds it. Leaving either term out is
# the classic tied-weights bug, and the finite-difference check catches it:

# %%
print(check_model(TiedLinearAutoencoder(6, 3, rng=0, dtype=np.float64),
                  np.random.default_rng(0).standard_normal((4, 6))))
tied = compare(Xtr, ks, X_test=Xte, epochs=epochs, batch_size=batch_size, rng=0, tied=True)
print(f"\nper-pixel test MSE on {data_name}; angles in degrees\n")
print(f"{'k':>3} {'tied AE':>9} {'untied AE':>10} {'PCA':>9} {'tied: max principal angle':>26}"
      f" {'tied: ||W^T W - I||_F':>22} {'untied: ||W_d W_d^T - I||_F':>28}"
      f" {'tied: smallest angle w_i, v_j':>30}")
for row_t, row_u in zip(tied, table):
    k = row_t["latent_dim"]
    W_t = asnumpy(tied.models[k].W).astype(np.float64)                # (D, k)
    W_u = asnumpy(table.models[k].decoder.layers[0].params["W"]).astype(np.float64)
    V = PCA(k).fit(X).components_                                      # (k, D)
    cosines = np.abs((W_t / np.linalg.norm(W_t, axis=0)).T @ V.T)
    print(f"{k:>3} {row_t['ae_mse']:9.4f} {row_u['ae_mse']:10.4f} {row_t['pca_mse']:9.4f}"
          f" {row_t['max_angle_deg']:26.2f} {np.linalg.norm(W_t.T @ W_t - np.eye(k)):22.3f}"
          f" {np.linalg.norm(W_u @ W_u.T - np.eye(k)):28.2f}"
          f" {np.degrees(np.arccos(np.clip(cosines.max(), 0, 1))):30.0f}")

# %% [markdown]
# **What to notice**
#
# - The tied autoencoder reaches PCA's error (within 0.0001) and PCA's subspace too:
#   "in the principal subspace", as deck 004 says. Its largest principal angles are
#   under a degree on the 8x8 digits; on MNIST, after the same 10 epochs, we measured
#   1.7, 2.1 and 1.4 degrees for `k = 2, 4, 6`, a little further from PCA's subspace
#   than the untied network (0.8, 1.0, 0.8) at the same training budget.
# - Tying removes most of the freedom of section 4. The untied network could mix the
#   components with any invertible `A`; with `W^T` as the decoder, `E` is smallest only
#   when `W W^T` is the orthogonal projection onto the subspace, i.e. `W^T W = I`, so the
#   learned basis is **orthonormal**: `||W^T W - I||_F` is near 0, where the untied
#   decoder's Gram matrix is far from the identity.
# - Orthonormal is still not *the* principal components: any rotation `W Q` of them
#   gives the same `W W^T`, so the basis vectors are not ordered by variance, and the
#   last column (the smallest angle between a learned vector and a component) is
#   usually far from 0. Section 5's small PCA recovers them, as before.
#
# ## Summary
#
# - PCA is the eigendecomposition of the covariance, `C = V Λ V^T`, or equivalently the
#   SVD of the centred data, `λ_i = s_i² / (N-1)`; its squared error is the discarded
#   variance.
# - Deck 000's SVD column is PCA computed by that SVD, so it equals PCA's error.
#   Forgetting to centre gives the uncentred truncated SVD (Eckart–Young's best
#   rank-`k` approximation of `X`): a subspace through the origin, whose error lies
#   between PCA's with `k` and with `k - 1` components.
# - A linear autoencoder trained on the squared error reaches PCA's error and PCA's
#   subspace, but its weights are an arbitrary invertible mix of the components; one
#   `k × k` eigendecomposition turns them back into the components.
# - Tied weights (deck 004's `X̂ = W^T W X`) reach the same error and subspace with an
#   orthonormal basis, still in an arbitrary rotation.
#
# **Exercises.** (1) Call `compare(..., center=False)` and watch how many more epochs
# the autoencoder needs to reach PCA's error. (2) Train the tied model of section 7
# with `center=False`: which column of section 3's table does its error match, and
# why? (3) Train the linear
# autoencoder yourself with L2 weight decay (`Adam(lr, weight_decay=1e-3)`) and take the
# SVD of `W_d`: with the penalty, the freedom `W_d → A W_d` shrinks from any invertible
# `A` to a rotation, and the right singular vectors of `W_d` are the principal
# components (Kunin et al., 2019). How close do they come?
