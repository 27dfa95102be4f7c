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
# # 05 · The contractive autoencoder
#
# A good code should not care about tiny, meaningless changes of the input. The
# contractive autoencoder (CAE, Rifai et al. 2011) asks for that directly: it penalises
# the encoder's Jacobian `J(x) = dh/dx` at every training input,
#
# $$ \min_\theta \; L\big(x, g(f(x))\big) + \lambda\, \lVert J(x) \rVert_F^2,
#    \qquad \lVert J \rVert_F^2 = \sum_{i,j} \Big(\frac{\partial h_j}{\partial x_i}\Big)^2 . $$
#
# The penalty alone would flatten the code everywhere; the reconstruction term keeps it
# sensitive where the data actually vary.
#
# The CAE and the denoising autoencoder (tutorial 03) are often named together, but deck
# 001 (`001_5eba56f0e89c2971.txt`) tells them apart: "Denoising autoencoders make the
# reconstruction function (ie. decoder) resist small but finitesized perturbations of
# the input", while "Contractive autoencoders make the feature extraction function (ie.
# encoder) resist infinitesimal perturbations of the input". Different function,
# different size of perturbation. (Alain and Bengio, 2014, make the first half precise:
# a DAE with small Gaussian noise penalises the Jacobian of the whole reconstruction
# `g(f(x))`, not the encoder's.) Section 3 measures both halves.
#
# **Questions answered here**
#
# 1. How much does `lambda` shrink the Jacobian, and what does it cost?
# 2. Does a small shrink of `||J||_F` really make the code robust to small input
#    changes, and to *which* changes?
# 3. How do a plain, a denoising and a contractive autoencoder compare?
# 4. Which of them resists what: the encoder or the reconstruction, infinitesimal or
#    finite perturbations?
#
# **Run it**
#
# ```bash
# python tutorials/05_contractive_autoencoder.py          # MNIST when available: minutes
# python tutorials/05_contractive_autoencoder.py --fast   # 8x8 digits: well under a minute
# jupytext --to notebook tutorials/05_contractive_autoencoder.py   # then open the .ipynb
# ```
#
# Figures are saved to `./figures` (or to the folder named by `NPAE_FIGURES`).

# %%
from _common import fast_mode, figures_dir, load_images  # noqa: I001  (first: picks Agg)

import time

import numpy as np

from npae.gradcheck import check_model
from npae.models.autoencoder import dense_autoencoder
from npae.models.contractive import ContractiveAutoencoder
from npae.models.denoising import DenoisingAutoencoder
from npae.optim import Adam
from npae.penalties import encoder_jacobian
from npae.viz import NpaeFigure

FAST = fast_mode()
FIG = figures_dir()
Xtr, ytr, Xte, yte, DATA = load_images(FAST, n_train=None if FAST else 30000,
                                       n_test=None if FAST else 2000)
D = Xtr.shape[1]
if DATA == "mnist":
    CODE, EPOCHS, BATCH, LR = 64, 15, 128, 3e-3
else:
    CODE, EPOCHS, BATCH, LR = 16, 60, 64, 3e-3
print(f"encoder {D} -> {CODE} (sigmoid), {EPOCHS} epochs, batch {BATCH}")

# %% [markdown]
# ## The penalty and its gradient, checked
#
# For one sigmoid layer `h = sigmoid(x W + b)` the Jacobian is
# `dh_j/dx_i = h_j (1 - h_j) W_ij`, so
# `||J||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ij^2`: no `D x CODE` matrix per image is
# needed, and `npae.penalties.contractive` uses this closed form (deeper encoders get an
# exact forward-mode Jacobian and a hand-written reverse pass through it). As always,
# the whole loss is checked against finite differences, in float64, on a tiny model:

# %%
tiny = dense_autoencoder(6, [5], 3, activation="tanh", code_activation="sigmoid", rng=0,
                         dtype=np.float64, model=ContractiveAutoencoder, lam=0.5)
print(check_model(tiny, np.random.default_rng(0).uniform(0, 1, (4, 6))))

# %% [markdown]
# ## 1. A sweep of `lambda`
#
# One encoder layer `D -> CODE` with a sigmoid, a sigmoid decoder, MSE per pixel, and
# `lambda` from 0 (a plain autoencoder) upwards. For each model, on held-out images:
#
# - the reconstruction MSE per pixel;
# - the mean Frobenius norm `||J(x)||_F` of the encoder's Jacobian;
# - the *sensitivity* of the code: `||f(x + delta) - f(x)|| / ||delta||` for a small
#   step `delta` (length 0.1, i.e. a change of about `0.1 / sqrt(D)` per pixel), in a
#   random direction, and in a direction *along the data*: towards another held-out
#   image;
# - the fraction of code activations that are *saturated* (below 0.02 or above 0.98),
#   where the sigmoid is flat.

# %%
def train(model, label):
    t0 = time.perf_counter()
    model.fit(Xtr, epochs=EPOCHS, batch_size=BATCH, optimizer=Adam(LR), rng=1, verbose=0)
    print(f"  {label:<26} trained in {time.perf_counter() - t0:5.1f} s")
    return model


rng = np.random.default_rng(0)
X_eval = Xte[:500]
random_dir = rng.standard_normal(X_eval.shape).astype(np.float32)
random_dir /= np.linalg.norm(random_dir, axis=1, keepdims=True)
data_dir = Xte[rng.permutation(len(Xte))[:len(X_eval)]] - X_eval
data_dir /= np.linalg.norm(data_dir, axis=1, keepdims=True) + 1e-12
STEP = 0.1


def measure(model):
    J = encoder_jacobian(X_eval, model.encoder)  # (N, D, CODE)
    h = model.encode(X_eval)

    def sensitivity(direction):
        moved = model.encode(X_eval + STEP * direction)
        return float(np.mean(np.linalg.norm(moved - h, axis=1) / STEP))

    return {"mse": float(np.mean((model.reconstruct(Xte) - Xte) ** 2)),
            "saturated": float(np.mean((h < 0.02) | (h > 0.98))),
            "jac": float(np.mean(np.sqrt((J.astype(np.float64) ** 2).sum(axis=(1, 2))))),
            "random": sensitivity(random_dir), "along data": sensitivity(data_dir),
            "singular values": np.linalg.svd(J.astype(np.float64), compute_uv=False).mean(0)}


LAMBDAS = (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
cae = {}
results = {}
for lam in LAMBDAS:
    cae[lam] = train(dense_autoencoder(D, [], CODE, code_activation="sigmoid", rng=0,
                                       model=ContractiveAutoencoder, lam=lam),
                     f"CAE, lambda = {lam:g}")
    results[lam] = measure(cae[lam])

print(f"\nContractive autoencoders on {DATA} (held-out images)\n")
print(f"{'lambda':>7} {'MSE/pixel':>10} {'mean ||J||_F':>13} {'sens. random':>13} "
      f"{'sens. data':>11} {'data/random':>12} {'saturated':>10}")
for lam in LAMBDAS:
    r = results[lam]
    print(f"{lam:7g} {r['mse']:10.4f} {r['jac']:13.3f} {r['random']:13.4f} "
          f"{r['along data']:11.4f} {r['along data'] / r['random']:12.1f} "
          f"{r['saturated']:10.2f}")

# %%
fig = NpaeFigure(figsize=(10, 4), layout="constrained")
ax1, ax2 = fig.subplots(1, 2)
lams = np.array(LAMBDAS[1:])
ax1.loglog(lams, [results[lam]["jac"] for lam in lams], "o-", label="CAE")
ax1.axhline(results[0.0]["jac"], color="0.5", ls="--", label="$\\lambda$ = 0")
ax1.set_xlabel("$\\lambda$")
ax1.set_ylabel("mean $\\|J(x)\\|_F$ (held out)")
ax1.set_title("the Jacobian shrinks ...")
ax1.legend()
ax2.semilogx(lams, [results[lam]["mse"] for lam in lams], "o-", color="tab:red", label="CAE")
ax2.axhline(results[0.0]["mse"], color="0.5", ls="--", label="$\\lambda$ = 0")
ax2.set_xlabel("$\\lambda$")
ax2.set_ylabel("reconstruction MSE per pixel")
ax2.set_title("... and reconstruction pays")
ax2.legend()
for ax in (ax1, ax2):
    ax.grid(alpha=0.3, which="both")
fig.savefig(FIG / "05_lambda_sweep.png", dpi=100)
fig

# %% [markdown]
# **What to notice**
#
# - `||J||_F` falls steadily as `lambda` grows, by more than an order of magnitude over
#   the sweep, and the reconstruction error rises: past some `lambda` the code is so
#   flat that it no longer tells images apart.
# - The error need not rise monotonically at a fixed training budget. A sigmoid unit can
#   make its Jacobian small in two ways: with small weights (a flat unit), or by
#   *saturating* (an activation near 0 or 1, where `f'` vanishes), which turns it into
#   an on/off feature. The last column shows how much of the code is saturated; on
#   MNIST (15 epochs) we measured 0.78 at `lambda = 0.003` against 0.69 at
#   `lambda = 0.01`, and the more saturated model reconstructed worse (0.027 against
#   0.023), since a saturated unit learns slowly. Binary-looking CAE codes are a known
#   effect.
# - The measured sensitivity to a small random step follows `||J||_F` (for a random unit
#   direction it is about `||J||_F / sqrt(D)`): the penalty does what it says.
# - The contraction is not the same in every direction. The `data/random` column is the
#   ratio of the sensitivity *along the data* to that in a random direction: it grows with
#   `lambda`. The reconstruction term protects the few directions in which images
#   really differ; every other direction is squashed. That is the CAE's picture of the
#   data manifold: a code that is flat across it and sensitive along it.
#
# ## 2. Plain, denoising and contractive side by side
#
# Three models with the same architecture and budget: a plain autoencoder
# (`lambda = 0`), a denoising one (Gaussian noise `sigma = 0.3`, clipped), and a
# contractive one with a middle `lambda` from the sweep.

# %%
LAM = 1e-2
dae = train(dense_autoencoder(D, [], CODE, code_activation="sigmoid", rng=0,
                              model=DenoisingAutoencoder,
                              noise={"kind": "gaussian", "sigma": 0.3}), "DAE, sigma = 0.3")
side = {"plain": results[0.0], "denoising": measure(dae), f"contractive ({LAM:g})": results[LAM]}
print(f"\n{'model':<19} {'MSE/pixel':>10} {'mean ||J||_F':>13} {'sens. random':>13} "
      f"{'sens. data':>11} {'data/random':>12} {'saturated':>10}")
for name, r in side.items():
    print(f"{name:<19} {r['mse']:10.4f} {r['jac']:13.3f} {r['random']:13.4f} "
          f"{r['along data']:11.4f} {r['along data'] / r['random']:12.1f} "
          f"{r['saturated']:10.2f}")

# %%
fig = NpaeFigure(figsize=(6.5, 4.2), layout="constrained")
ax = fig.subplots()
for name, r in side.items():
    ax.semilogy(np.arange(1, CODE + 1), r["singular values"], "o-", ms=3, label=name)
ax.set_xlabel("index of the singular value (largest first)")
ax.set_ylabel("singular value of $J(x)$, mean over held-out $x$")
ax.set_title("how many directions does the code follow?")
ax.legend()
ax.grid(alpha=0.3, which="both")
fig.savefig(FIG / "05_jacobian_spectrum.png", dpi=100)
fig

# %% [markdown]
# **What to notice**
#
# - Both regularised models are less sensitive than the plain one; the DAE gets
#   there through noise, the CAE through the derivative (at the `lambda` chosen here,
#   more strongly).
# - The singular values of `J(x)` say how strongly the code follows the input along
#   each of `CODE` orthogonal directions. On MNIST all three spectra have a knee: only
#   20 to 25 of the 64 directions matter for any one image (the other units are
#   saturated on it). There the CAE keeps about as many directions as the plain model
#   but scales them all down, about five-fold, and crushes the rest to ~1e-4: a few
#   directions, the local directions of the data, and nothing else, which is the
#   picture of Rifai et al.'s paper. On the 8x8 digits, with only 16 code units, there
#   is no knee: all three spectra fall smoothly, the CAE's lowest at every index.
# - On MNIST the DAE does something different: a handful of large singular values and
#   a long tail near 1e-2 that never collapses. Noise of size `sigma` asks for
#   robustness at that scale, on average, not for a small derivative in every
#   direction.
# - Both regularisers pay in reconstruction error. Which pays more depends on the data
#   and on `lambda` and `sigma`: on MNIST the DAE, on the 8x8 digits the CAE (compare
#   the MSE column). Pick `lambda` (or `sigma`) by what the code is for (robust features
#   for a classifier, say), not by reconstruction alone.
#
# ## 3. Which model resists what
#
# Deck 001's two sentences name two functions and two sizes of perturbation. For the
# models of section 2 (and a CAE matched to the DAE's price, see below), on held-out
# images:
#
# - the **encoder's** Jacobian norm `||J_f(x)||_F` (as above), its response to an
#   infinitesimal change of the input;
# - the **reconstruction's** Jacobian norm `||J_r(x)||_F` of `r = g ∘ f`: the same
#   forward-mode Jacobian, `npae.penalties.encoder_jacobian`, run through the encoder's
#   and the decoder's layers, `D x D` per image (checked once against central
#   differences below);
# - the reconstruction under **finite** perturbations of growing size: Gaussian noise
#   of standard deviation `s` per pixel, clipped to [0, 1] (the corruption the DAE was
#   trained with at `s = 0.3`), and two numbers for each `s`: the error against the
#   *clean* image, `mean (r(x̃) - x)^2`, and how much of the perturbation reaches the
#   output, `||r(x̃) - r(x)|| / ||x̃ - x||` (a gain: 1 would pass it through whole).

# %%
from npae.network import Sequential  # noqa: E402
from npae.noise import GaussianNoise  # noqa: E402

X_jac = X_eval[:100] if DATA == "mnist" else X_eval  # (N, D, D) per chunk on MNIST


def recon_jacobian_norms(model, X):
    """||J_r(x)||_F for r = g(f(x)), each row of X, in chunks (the Jacobian is D x D)."""
    chain = Sequential(*model.encoder.layers, *model.decoder.layers)
    return np.concatenate([np.sqrt((encoder_jacobian(X[i:i + 25], chain).astype(np.float64)
                                     ** 2).sum(axis=(1, 2))) for i in range(0, len(X), 25)])


# the forward-mode Jacobian of g(f(x)) against central differences, for one image
x0 = X_eval[:1].astype(np.float64)
chain = Sequential(*dae.encoder.layers, *dae.decoder.layers)
J_fwd = encoder_jacobian(X_eval[:1], chain)[0].astype(np.float64)  # (D, D): dr_j / dx_i
eps = 1e-3
J_fd = np.stack([(dae.reconstruct((x0 + eps * e).astype(np.float32)).astype(np.float64)
                  - dae.reconstruct((x0 - eps * e).astype(np.float32))) [0] / (2 * eps)
                 for e in np.eye(D)[:, None, :]])
print(f"reconstruction Jacobian, forward mode vs central differences (float32 model): "
      f"max |difference| {np.abs(J_fwd - J_fd).max():.1e}, largest entry "
      f"{np.abs(J_fwd).max():.2f}")

SIGMAS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5)
# a fair match for the DAE: the CAE of the sweep whose clean error is closest to the DAE's
MATCH = min(LAMBDAS[1:],
            key=lambda lam: abs(np.log(results[lam]["mse"] / side["denoising"]["mse"])))
side.setdefault(f"contractive ({MATCH:g})", results[MATCH])
models3 = {"plain": cae[0.0], "denoising": dae, f"contractive ({MATCH:g})": cae[MATCH],
           f"contractive ({LAM:g})": cae[LAM]}
print(f"the CAE whose clean error is closest to the DAE's: lambda = {MATCH:g}")
robust = {}
for name, model in models3.items():
    clean = model.reconstruct(X_eval).astype(np.float64)
    row = {"enc": side[name]["jac"], "rec": float(recon_jacobian_norms(model, X_jac).mean()),
           "clean": float(np.mean((clean - X_eval) ** 2)), "err": [], "gain": []}
    for s in SIGMAS:
        noisy = GaussianNoise(s)(X_eval, np.random.default_rng(5))  # same draw for each model
        out = model.reconstruct(noisy).astype(np.float64)
        moved = np.linalg.norm(noisy.astype(np.float64) - X_eval, axis=1)
        row["err"].append(float(np.mean((out - X_eval) ** 2)))
        row["gain"].append(float(np.mean(np.linalg.norm(out - clean, axis=1) / moved)))
    robust[name] = row

print(f"\n{'model':<19} {'||J_f||_F':>10} {'||J_r||_F':>10}   error against the clean image, "
      f"noise s = " + " ".join(f"{s:g}" for s in SIGMAS))
for name, r in robust.items():
    print(f"{name:<19} {r['enc']:10.3f} {r['rec']:10.3f}   clean {r['clean']:.4f} | "
          + " ".join(f"{e:.4f}" for e in r["err"]))
print(f"\n{'model':<19} gain ||r(x~) - r(x)|| / ||x~ - x||, noise s = "
      + " ".join(f"{s:g}" for s in SIGMAS))
for name, r in robust.items():
    print(f"{name:<19} gain: " + " ".join(f"{g:.3f}" for g in r["gain"]))

# %%
fig = NpaeFigure(figsize=(10, 4), layout="constrained")
ax1, ax2 = fig.subplots(1, 2)
for name, r in robust.items():
    ax1.plot(SIGMAS, r["err"], "o-", label=name)
    ax2.plot(SIGMAS, r["gain"], "o-", label=name)
ax1.set_xlabel("noise $s$ per pixel (clipped to [0, 1])")
ax1.set_ylabel("MSE of $r(\\tilde x)$ against the clean $x$")
ax1.set_title("reconstruction of a perturbed image")
ax2.set_xlabel("noise $s$ per pixel (clipped to [0, 1])")
ax2.set_ylabel("$\\|r(\\tilde x) - r(x)\\| \\,/\\, \\|\\tilde x - x\\|$")
ax2.set_title("how much of the perturbation gets through")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
    ax.legend()
fig.savefig(FIG / "05_which_resists_what.png", dpi=100)
fig

# %% [markdown]
# **What to notice**
#
# The CAE is shown twice: at `lambda = 0.01`, as in section 2, and at the `lambda` of
# the sweep whose clean error is closest to the DAE's, so that the two regularisers are
# compared at about the same price. On the 8x8 digits (the fast mode) we measured the
# numbers below; on MNIST (the full mode, 15 epochs on 30,000 images) the matched CAE
# is the one with `lambda = 0.1`.
#
# - **Encoder, infinitesimal**: the CAE's `||J_f||_F` is the smallest, about 1.3 at the
#   matched `lambda = 0.003` against 2.3 for the DAE and 3.3 for the plain model (MNIST:
#   0.22, 0.91, 3.3). That is the CAE's half of deck 001's sentence, and what its
#   penalty asks for directly. The DAE flattens its encoder too, but less.
# - **Reconstruction, infinitesimal**: `||J_r||_F` falls in the same order (1.7, 2.0,
#   2.8; MNIST 2.0, 3.3, 11.4). The deck's split is about what each objective asks
#   for, not an exclusive effect: `J_r = J_g J_f`, so a flatter encoder also flattens
#   the reconstruction, and the gain column says the same for finite steps (the CAE
#   passes the least of a perturbation through at every `s`, the plain model the
#   most).
# - **Reconstruction, finite**: what the DAE buys is the error against the *clean*
#   image. Below its training noise the plain model is best (its clean error is the
#   lowest, and a small perturbation changes little); from about `s = 0.3`, the noise
#   it was trained with, the DAE's output is the closest to the clean image of all the
#   models (0.0318 at `s = 0.3` and 0.0423 at `s = 0.5`, against 0.0342 and 0.0531 for
#   the plain model and 0.0345 and 0.0429 for the matched CAE, only just behind at
#   `s = 0.5`). It does not merely pass less of the noise through; it maps the noisy
#   image back towards the image, the projection of tutorial 03. That is the DAE's
#   half of the sentence: robustness of the reconstruction, at the finite scale of its
#   noise.
# - MNIST qualifies that. There the DAE reconstructs a *clean* image worst of all
#   (0.046) and its error *falls* as noise is added, to 0.037 at `s = 0.3`: trained only
#   on noisy images (whose background the clipped noise brightens), it finds a clean
#   one off its training distribution. Against the CAE at the same price
#   (`lambda = 0.1`) it wins only from `s = 0.2`, just below its own noise level, on
#   (0.038 against 0.040 at `s = 0.2`, 0.037 against 0.041 at `s = 0.3`, 0.043 against
#   0.045 at `s = 0.5`; at `s = 0.1` the CAE is ahead, 0.039 against 0.042), and the
#   lighter CAE of section 2
#   (`lambda = 0.01`) is closer to the clean image at every `s` (0.026 at `s = 0.3`).
#   The DAE's robustness is to the kind and scale of noise it was trained with, not a
#   general one.
#
# ## Summary
#
# - `ContractiveAutoencoder(encoder, decoder, lam)` adds `lam * mean ||dh/dx||_F^2`,
#   with an exact, hand-written gradient, in closed form for one layer and by
#   forward-mode Jacobians for deep encoders.
# - `lambda` trades reconstruction for a flatter code; the flattening is anisotropic:
#   across the data, not along it.
# - Denoising and contraction are not the same robustness. As deck 001 says, and as
#   section 3 measures, the CAE makes the *encoder* flat to infinitesimal changes,
#   the DAE makes the *reconstruction* resist finite ones, at the scale of its noise
#   (where, at the same price, it beats the CAE; on MNIST only there).
#
# **Exercises.** (1) Use a deeper encoder, `dense_autoencoder(D, [128], CODE,
# activation="tanh", code_activation="sigmoid", model=ContractiveAutoencoder, lam=...)`:
# how does the training time grow, and why (see `npae.penalties.contractive`)?
# (2) Repeat part 2 with `sigma = 0.1` and `sigma = 0.5` for the DAE. (3) Measure the
# sensitivity with `STEP = 1.0`: does the ranking of the models change?
