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
# # 09 · Checking your own gradients
#
# Every layer in npae comes with a hand-written backward pass, and every one of
# them is checked against finite differences. This tutorial is about doing the
# same for a layer **you** write.
#
# **What you'll learn**
#
# - the contract a layer's `backward` must meet, and how to write one for a new layer;
# - how `npae.gradcheck.check_layer` catches a wrong backward, and how to read its
#   report (which array is wrong, by how much);
# - why the check uses central differences, float64 and a random upstream gradient;
# - `check_function` for a loss of your own and `check_model` for a whole autoencoder.
#
# **Run it**
#
# ```bash
# python tutorials/09_checking_your_own_gradients.py          # a few seconds either way
# python tutorials/09_checking_your_own_gradients.py --fast   # (same work: it is small)
# jupytext --to notebook tutorials/09_checking_your_own_gradients.py   # then open the .ipynb
# ```
#
# Figures are saved to `./figures` (or to the folder named by `NPAE_FIGURES`).

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import figures_dir

from npae.gradcheck import CHECK_STEP, THRESHOLD, check_function, check_layer, check_model
from npae.layers import Dense, Layer, Sigmoid
from npae.layers.activations import sigmoid
from npae.layers.base import as_generator, new_param
from npae.models.autoencoder import Autoencoder, dense_autoencoder
from npae.network import Sequential

FIG = figures_dir()
rng = np.random.default_rng(0)

# %% [markdown]
# ## The contract
#
# A layer maps `x` to `y`. Given the upstream gradient `dy = dL/dy` (same shape as
# `y`), `backward(dy)` must return `dx = dL/dx` and write `dL/dθ` for every
# trainable array `θ` into `self.grads`. Said exactly: after `y = layer.forward(x)`
# and `dx = layer.backward(dy)`, `dx` and `layer.grads` are the gradients of the
# scalar
#
# $$ L = \sum_{n,j} dy_{nj}\, y_{nj}. $$
#
# That sentence is what makes a check possible: `L` is a plain number, so we can
# nudge any entry of `x` or `θ` and watch `L` move.
#
# ## A layer of our own: Swish with a learnable β
#
# $$ y = x \cdot \sigma(\beta x), \qquad \text{one } \beta_j \text{ per feature.} $$
#
# With `s = σ(βx)` and `σ' = σ(1-σ)`, the product and chain rules give, per entry,
#
# $$ \frac{\partial y}{\partial x} = s + \beta x\, s(1-s), \qquad
#    \frac{\partial y}{\partial \beta} = x^2 s(1-s), $$
#
# so `dx = dy * (s + β x s(1-s))` and `dβ_j = Σ_n dy_nj x_nj² s_nj(1-s_nj)` (summed over
# the batch, because the same β_j serves every sample).
#
# Here is a first attempt. It has a bug on purpose: a classic one. Can you see it
# before the check does?


# %%
class SwishBeta(Layer):
    r"""``y = x * sigmoid(beta * x)`` with one learnable ``beta`` per feature.

    Backward, with ``s = sigmoid(beta x)``:
    ``dx = dy * (s + beta x s (1 - s))``, ``dbeta = sum_n dy * x^2 s (1 - s)``.
    """

    def __init__(self, features: int, *, beta: float = 1.0, dtype=np.float32) -> None:
        super().__init__()
        self.features = int(features)
        self.params = {"beta": new_param(np.full(self.features, beta), dtype)}
        self.grads = {"beta": None}
        self._config = {"features": self.features, "beta": float(beta),
                        "dtype": np.dtype(dtype).name}

    def forward(self, x, training=True):
        self._check_input(x, 2, 1, self.features)
        self._x = x
        self._s = sigmoid(self.params["beta"] * x)
        return x * self._s

    def backward(self, dy):
        x, s = self._x, self._s
        self.grads["beta"] = (dy * x * x * s * (1 - s)).sum(axis=0)
        return dy * s  # first attempt


# %% [markdown]
# ## Check it
#
# `check_layer` needs float64 everywhere (the layer's parameters and the input);
# we will see why below. It draws a random `dy`, runs `backward` once, then
# recomputes every gradient numerically and compares.

# %%
x = rng.standard_normal((4, 5))
layer = SwishBeta(5, beta=1.5, dtype=np.float64)
report = check_layer(layer, x)
print(report)

# %% [markdown]
# **Read the report.** One line per array: the input gradient `x` and each
# parameter. The `beta` gradient passes, at rounding-error level, so the forward
# pass and `dβ` are right. The `x` gradient is off by a large fraction of its own
# size: that is not rounding, that is a missing or wrong term. The report is also
# a plain object you can test in code:

# %%
print("passed:   ", report.passed)
print("max error:", f"{report.max_error:.2e}")
print("per array:", {k: f"{v:.1e}" for k, v in report.errors.items()})

# %% [markdown]
# The error is relative to the size of the gradient array:
# `max|analytic - numerical| / max(|analytic|, |numerical|)`. So `x` above is wrong
# by tens of percent of its largest entry. The bug: `dy * s` is only the first half
# of the product rule. `y = x · s(x)` also depends on `x` through `s`, which adds
# `β x s(1-s)`. Fix it and check again:


# %%
class SwishBetaFixed(SwishBeta):
    def backward(self, dy):
        x, s, beta = self._x, self._s, self.params["beta"]
        ds = s * (1 - s)
        self.grads["beta"] = (dy * x * x * ds).sum(axis=0)
        return dy * (s + beta * x * ds)


fixed = SwishBetaFixed(5, beta=1.5, dtype=np.float64)
fixed_report = check_layer(fixed, x)
print(fixed_report)

# %% [markdown]
# Both arrays now agree with the numerical gradient to about 1e-10, three orders
# of magnitude below the threshold of 1e-7. Side by side:

# %%
names = list(report.errors)
fig, ax = plt.subplots(figsize=(5, 3.2))
pos = np.arange(len(names))
floor = 1e-16  # an exactly-zero error would vanish from a log axis
ax.bar(pos - 0.2, [max(report[k], floor) for k in names], 0.4, label="first attempt")
ax.bar(pos + 0.2, [max(fixed_report[k], floor) for k in names], 0.4, label="fixed")
ax.axhline(THRESHOLD, color="k", ls="--", lw=1, label=f"threshold {THRESHOLD:g}")
ax.set(xticks=pos, xticklabels=names, yscale="log", ylabel="max relative error",
       title="check_layer(SwishBeta)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "09_swish_report.png", dpi=120)

# %% [markdown]
# **What to notice:** the check does not just say "wrong"; it says *which* gradient
# is wrong. `dβ` passing while `dx` fails points straight at the `return` line.
#
# ## Why central differences?
#
# The numerical gradient of one entry is
#
# $$ \frac{\partial L}{\partial x_i} \approx \frac{L(x + h e_i) - L(x - h e_i)}{2h}. $$
#
# The one-sided version `(L(x + h e_i) - L(x)) / h` is cheaper, but Taylor's
# theorem says its error is `O(h)`, while the symmetric one cancels the `h²` term
# and errs by `O(h²)`. Against that, dividing by a small `h` magnifies the
# rounding error of `L` itself: about `ε |L| / h`, with `ε` the machine epsilon
# (the gap between 1 and the next representable number: `2⁻⁵² ≈ 2.2e-16` in float64,
# `2⁻²³ ≈ 1.2e-7` in float32).
# The sweet spot balances the two. Let us measure both on the scalar Swish
# `f(x) = x σ(x)` at `x = 0.5`, whose derivative we know exactly, in float64 and
# in float32.


# %%
def swish(v):
    return v * sigmoid(v)


x0 = 0.5
s0 = 1 / (1 + np.exp(-x0))
exact = s0 + x0 * s0 * (1 - s0)
steps = np.logspace(-1, -12, 45)
curves = {}
for dtype in (np.float64, np.float32):
    x_ = dtype(x0)
    for scheme in ("forward", "central"):
        errs = []
        for h in steps:
            h_ = dtype(h)
            if scheme == "forward":
                d = (swish(x_ + h_) - swish(x_)) / h_
            else:
                d = (swish(x_ + h_) - swish(x_ - h_)) / (2 * h_)
            errs.append(max(abs(float(d) - exact) / abs(exact), 1e-17))
        curves[scheme, np.dtype(dtype).name] = np.array(errs)

fig, ax = plt.subplots(figsize=(6, 4))
for (scheme, dt), errs in curves.items():
    ax.loglog(steps, errs, ls="-" if scheme == "central" else ":",
              color="C0" if dt == "float64" else "C3", label=f"{scheme}, {dt}")
ax.axhline(THRESHOLD, color="k", ls="--", lw=1, label="threshold 1e-7")
ax.axvline(CHECK_STEP, color="gray", lw=1, label=f"h = {CHECK_STEP:g} (npae's checks)")
ax.invert_xaxis()
ax.set(xlabel="step h", ylabel="relative error of the derivative",
       title="finite differences of x·σ(x) at x = 0.5")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "09_step_size.png", dpi=120)

# %%
best = {k: (steps[np.argmin(v)], v.min()) for k, v in curves.items()}
at_1e5, at_1e6 = ({k: v[np.argmin(np.abs(steps - h))] for k, v in curves.items()}
                  for h in (CHECK_STEP, 1e-6))
print(f"{'scheme':<8} {'dtype':<8} {'best h':>8} {'best error':>11} "
      f"{f'at h={CHECK_STEP:g}':>12} {'at h=1e-06':>12}")
for (scheme, dt), (h, e) in best.items():
    print(f"{scheme:<8} {dt:<8} {h:8.0e} {e:11.1e} {at_1e5[scheme, dt]:12.1e} "
          f"{at_1e6[scheme, dt]:12.1e}")

# %% [markdown]
# **What to notice.** Read each curve from left (large `h`) to right (small `h`).
# The error first falls, as truncation shrinks (slope 1 for forward differences,
# slope 2 for central), then rises again as rounding takes over (slope -1).
#
# - In **float64** the central difference errs by about 1e-11 anywhere between
#   `h = 1e-6` and `h = 1e-5`, four orders of magnitude below the 1e-7 threshold,
#   while a real bug shows up at 1e-3 or more. The forward difference errs by 3e-6
#   at `h = 1e-5` (3e-7 at `1e-6`): it would fail a perfectly good backward pass.
# - In **float32** (`ε ≈ 1.2e-7`) even the best step leaves an error of a few 1e-6,
#   and at `h = 1e-5` the error is near 1e-3 (1e-2 at `1e-6`): a correct backward
#   pass would *fail* a 1e-7 check, and a threshold loose enough to pass it would
#   let small bugs through too.
#
# **Which step do the checks use?** `check_layer`, `check_function` and
# `check_model` take `h = CHECK_STEP = 1e-5` (the gray line), the large-`h` end of
# that flat float64 valley. On this one well-scaled scalar the two steps tie, but
# the rounding term `ε |L| / h` scales with the *loss*, while the check measures
# each gradient against the largest entry of its own array. When that array is
# small next to `|L|` (a bias gradient `Σₙ dyₙ` whose terms nearly cancel, a
# parameter the loss barely touches), the rounding error at `h = 1e-6` is ten
# times that at `1e-5` and can approach 1e-7, while the truncation error at
# `1e-5`, about `h² |f'''| / 6`, is still near 1e-11. The whole-model sweep further
# down shows it: the error falls nearly tenfold from `h = 1e-6` to `1e-5`.
#
# Back to float32: no step rescues it, which is why every npae check insists on
# float64, and refuses float32 outright:

# %%
try:
    check_layer(SwishBetaFixed(5, dtype=np.float32), x.astype(np.float32))
except TypeError as err:
    print("TypeError:", err)

# %% [markdown]
# Training still runs in float32; only the check needs float64. Build the layer
# with `dtype=np.float64` to check it.
#
# ## Why a random upstream gradient?
#
# `backward(dy)` computes `Jᵀ dy`, with `J` the layer's Jacobian. A check with one
# particular `dy` only tests that one combination of the columns of `Jᵀ`. With
# `dy = 1` (all ones, i.e. `L = sum(y)`) it tests the column sums, and a bug whose
# error sums to zero slips through. A random `dy` tests a random combination: an
# error hides from it with probability zero.
#
# A small layer shows it. `CenterScale` centers each sample over its features and
# applies a per-feature gain, `y_j = g_j (x_j - m)` with `m = mean_j(x_j)`. Suppose
# we derive the gradient of `L = sum(y)` with respect to `x_i`: it is
# `g_i - mean(g)`. Then, as if the layer were element-wise, we multiply by `dy`.
# But every `x_i` reaches every `y_j` through `m`; the right answer is
# `dx = g dy - mean_j(g dy)`.


# %%
class CenterScale(Layer):
    r"""``y = g * (x - mean_j x)`` per sample, one gain ``g_j`` per feature.

    Backward, with ``c = x - mean_j x``: ``dg = sum_n dy * c``,
    ``dx = g dy - mean_j(g dy)``.
    """

    def __init__(self, features: int, *, rng=None, dtype=np.float32) -> None:
        super().__init__()
        g = 1 + 0.5 * as_generator(rng).standard_normal(features)  # as after some training
        self.params = {"g": new_param(g, dtype)}
        self.grads = {"g": None}

    def forward(self, x, training=True):
        self._c = x - x.mean(axis=1, keepdims=True)
        return self.params["g"] * self._c

    def backward(self, dy):
        g = self.params["g"]
        self.grads["g"] = (dy * self._c).sum(axis=0)
        return dy * (g - g.mean())  # bug: right for dy = 1 only


xc = rng.standard_normal((4, 6))
center = CenterScale(6, rng=1, dtype=np.float64)
print("dy = ones:  ", check_layer(center, xc, dy=np.ones((4, 6))))
print("dy = random:", check_layer(center, xc))

# %% [markdown]
# **What to notice:** with `dy = 1` the buggy `dx` is exactly right (it is the case
# we derived), so the check passes; a random `dy` exposes it at once. `check_layer`
# draws `dy ~ N(0, 1)` by default (seeded by its `rng` argument, so a failure is
# reproducible). Replace the last line of `backward` by
# `return g * dy - (g * dy).mean(axis=1, keepdims=True)` and both checks pass.
#
# One more pitfall: a finite difference that straddles a kink (ReLU at 0, max
# pooling with a tie) measures the average of two slopes. With random real-valued
# inputs an entry lands within `h = 1e-5` of a kink with probability about 1e-5,
# so it is rare, but if a ReLU network fails by a large error on one entry only,
# check whether an input sits on a kink.
#
# ## A loss of your own: `check_function`
#
# Losses and penalties in npae are pure functions returning `(value, gradient, ...)`.
# `check_function(f, *inputs, wrt=...)` checks the returned gradients, in order,
# against the inputs listed in `wrt`. Here is the log-cosh loss, a smooth cousin of
# the absolute error:
#
# $$ L = \frac{1}{N}\sum_i \log\cosh(p_i - t_i), \qquad
#    \frac{\partial L}{\partial p_i} = \frac{\tanh(p_i - t_i)}{N}
#    = -\frac{\partial L}{\partial t_i}. $$
#
# `log cosh r = |r| + log(1 + e^{-2|r|}) - log 2` never overflows, unlike
# `np.log(np.cosh(r))` for `|r| > 710`.


# %%
def log_cosh(pred, target):
    """Mean log-cosh error: ``(value, dpred, dtarget)``."""
    r = pred - target
    a = np.abs(r)
    value = float(np.mean(a + np.log1p(np.exp(-2 * a)) - np.log(2.0)))
    dpred = np.tanh(r) / r.size
    return value, dpred, -dpred


pred, target = rng.standard_normal((3, 4)), rng.random((3, 4))
print(check_function(log_cosh, pred, target, wrt=(0, 1)))
print("far from the target:", log_cosh(pred + 1000.0, target)[0])

# %% [markdown]
# ## A whole model: `check_model`
#
# `check_model(model, x)` runs `model.loss(x)` (forward and backward through
# decoder and encoder) and checks the gradient of every parameter, by name. First
# a small dense autoencoder built by npae:

# %%
xm = np.random.default_rng(4).random((6, 8))
ae = dense_autoencoder(8, [6], 3, rng=0, dtype=np.float64)
print(check_model(ae, xm))

# %% [markdown]
# And the payoff: your own layer plugs into a model like any built-in one (it
# only needs `params`, `grads`, `forward`, `backward`), and `check_model` checks it
# in context. Here under a BCE loss, whose gradient skips the final sigmoid.

# %%
encoder = Sequential(Dense(8, 6, rng=1, dtype=np.float64), SwishBetaFixed(6, dtype=np.float64),
                     Dense(6, 3, rng=2, dtype=np.float64))
decoder = Sequential(Dense(3, 8, rng=3, dtype=np.float64), Sigmoid())
mine = Autoencoder(encoder, decoder, loss="bce")
print(check_model(mine, xm))

# %% [markdown]
# It passes, but with less room than the layer check: its largest error, 8.3e-10
# on `β`, is several times the 1e-10 of the layer check above. The rounding error
# of a difference quotient is about `ε |L| / h`: with the BCE loss at 0.709 and
# `h = 1e-5` that is about 1.6e-11, and the check divides it by the gradient's
# size, here below 1e-2 for `β` (its largest entry is 7e-3): about 2e-9, the order
# of the 8.3e-10 measured. Small gradients next to a large loss leave less margin.
# When a check lands near the threshold, **vary `h`**: rounding error falls as `h`
# grows (until truncation, `O(h²)`, takes over), while a bug's error does not move.
# The same model with the first, buggy `SwishBeta`:

# %%
buggy = Autoencoder(
    Sequential(Dense(8, 6, rng=1, dtype=np.float64), SwishBeta(6, dtype=np.float64),
               Dense(6, 3, rng=2, dtype=np.float64)),
    Sequential(Dense(3, 8, rng=3, dtype=np.float64), Sigmoid()), loss="bce")
print(f"{'h':>6} {'fixed: max error':>17} {'buggy: max error':>17}")
for h in (1e-7, 1e-6, 1e-5, 1e-4):
    print(f"{h:6.0e} {check_model(mine, xm, h=h).max_error:17.1e} "
          f"{check_model(buggy, xm, h=h).max_error:17.1e}")

# %% [markdown]
# **What to notice:** the correct model's error moves with `h`, about tenfold per
# decade, until it levels off where truncation takes over; the buggy model's error
# stays put at a large value. Which array fails in the buggy model? Every
# parameter *below* the Swish, since they all receive the wrong `dx`:

# %%
print(check_model(buggy, xm))

# %% [markdown]
# ## Summary
#
# - Write the forward formula, derive each gradient on paper, then code `backward`.
# - Check in float64 with `check_layer(layer, x)`: every array below 1e-7 passes;
#   a real bug shows up orders of magnitude above it, in the array that is wrong.
# - Central differences (error `O(h²)`) with `h = 1e-5` in float64 leave a wide gap
#   between rounding noise and bugs; float32 leaves none.
# - A random upstream gradient tests the whole Jacobian, not one lucky combination.
#
# **Exercises.** (1) Plant a different bug in `SwishBetaFixed.backward` (drop the
# `x * x`, or forget `.sum(axis=0)`) and predict which line of the report fails.
# (2) Write a `Scale` layer `y = x * g + b` with per-feature `g` and `b` and check it.
# (3) Add a Huber loss to the `check_function` example; what happens exactly at the
# switch point `|r| = δ`?

# %% [markdown]
# ## Next: the exercises
#
# npae hands out the backward passes of its own layers, losses and penalties as
# exercises, from Dense and ReLU up to Conv2D, the contractive penalty and the VAE's
# reparameterization. `npae exercises list` shows them; `npae exercises make hw/`
# writes one file per exercise (the forward written, each `backward` raising
# `NotImplementedError`; `--hints` adds the formulas); and `npae exercises check hw/`
# grades your answers against npae's own and against central differences, naming the
# gradient that is wrong and how, e.g. `dW wrong: off by a factor 2; dx and db right`.
