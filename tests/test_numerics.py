"""The log-sum-exp family against an independent high-precision computation.

The reference is Python's :mod:`decimal` at 400 significant digits: every float64
input converts to a ``Decimal`` exactly, and the losses are evaluated from their
definitions (``-sum t log softmax(z)``, ``-t log s(z) - (1 - t) log(1 - s(z))``), with
none of the library's rearrangements. 400 digits is enough for the hardest rows here:
a row whose loss is ``log(1 + e^{-700})``, about ``1e-304``, is the difference of two
log-sum-exps near 700, so the reference keeps about 90 correct digits of it.

The rows go from balanced (all logits equal, ties) to saturated (gaps up to 700, where
``e^{-700}`` is still a normal float64: below about 708 the exponential would be
subnormal and lose relative precision of its own). The tolerances are forward error
bounds of the library's evaluation, in units of ``u = eps / 2`` (one rounding), derived
in each test's docstring; a loss that rounded ``1 + r`` before its logarithm (the
failure of issue #24) misses them by many orders of magnitude on a confident row.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npae.layers.activations import softplus
from npae.losses import bce_with_logits, softmax_cross_entropy
from npae.models import dense_vae

U = np.finfo(np.float64).eps / 2  # unit roundoff: one correctly rounded operation
#: Rounding errors of NumPy's exp, log1p and log: within 2 ulp (4 u) on every
#: platform NumPy supports (its own SIMD kernels promise < 4 ulp in float64 at worst).
F = 16
PREC = 400


def _d(x: float) -> Decimal:
    return Decimal(float(x))  # exact: a float64 is a dyadic rational


def _ref_softmax_ce(z: np.ndarray, t: np.ndarray) -> tuple[list[Decimal], list[list[Decimal]]]:
    """Per row ``-sum_c t_c log softmax(z)_c`` and the gradient ``(sum t) p - t`` of it."""
    values, grads = [], []
    with localcontext() as ctx:
        ctx.prec = PREC
        for row, trow in zip(z, t):
            zs, ts = [_d(v) for v in row], [_d(v) for v in trow]
            lse = sum(v.exp() for v in zs).ln()
            values.append(sum(tc * (lse - zc) for tc, zc in zip(ts, zs)))
            total = sum(ts)
            grads.append([total * (zc - lse).exp() - tc for tc, zc in zip(ts, zs)])
    return values, grads


def _ref_bce_logits(z: np.ndarray, t: np.ndarray) -> list[Decimal]:
    """Per entry ``-t log s - (1 - t) log(1 - s)`` with ``s = 1 / (1 + e^{-z})``."""
    out = []
    with localcontext() as ctx:
        ctx.prec = PREC
        for zi, ti in zip(z.ravel(), t.ravel()):
            s = 1 / (1 + (-_d(zi)).exp())
            out.append(-_d(ti) * s.ln() - (1 - _d(ti)) * (1 - s).ln())
    return out


def _rel(computed: float, exact: Decimal) -> float:
    with localcontext() as ctx:
        ctx.prec = PREC
        if exact == 0:
            return 0.0 if computed == 0 else float("inf")
        return float(abs(_d(computed) - exact) / abs(exact))


#: A logit's gap below its row's largest: ties, balanced, moderate, saturated.
gaps = st.one_of(st.just(0.0), st.floats(0, 1), st.floats(0, 40), st.floats(0, 700))


@st.composite
def logit_rows(draw, max_n: int = 4, max_c: int = 8) -> np.ndarray:
    n, c = draw(st.integers(1, max_n)), draw(st.integers(2, max_c))
    rows = []
    for _ in range(n):
        top = draw(st.floats(-50, 50))
        row = [top] + [top - draw(gaps) for _ in range(c - 1)]
        rows.append([row[i] for i in draw(st.permutations(range(c)))])
    return np.array(rows)


def _gap(z: np.ndarray) -> float:
    return float((z.max(axis=1, keepdims=True) - z).max())


SATURATED = [
    ("balanced", [0.0, 0.0, 0.0]),
    ("gap 1", [1.0, 0.0, -0.5]),
    ("gap 12 (issue 24)", [7.70419556, -4.4769021]),
    ("gap 37", [20.0, -17.0]),
    ("gap 100", [3.0, -97.0, -60.0]),
    ("gap 700", [350.0, -350.0]),
    ("gap 700, three classes", [-1.0, -701.0, -650.5]),
]


@pytest.mark.parametrize("name, row", SATURATED, ids=[s[0] for s in SATURATED])
def test_softmax_ce_keeps_full_precision_on_confident_rows(name, row):
    """Every class of each row as the label, the right one included, whose loss is
    ``log(1 + r)`` with ``r`` as small as ``e^{-700}``: relative error within the
    bound of :func:`test_softmax_ce_value_and_gradient_against_high_precision`."""
    z = np.array([row])
    G, C = _gap(z), z.shape[1]
    for y in range(C):
        value, dz = softmax_cross_entropy(z, np.array([y]), "sum")
        ref_v, ref_g = _ref_softmax_ce(z, np.eye(C)[[y]])
        bound = (G + C + F + 4) * U
        assert _rel(value, ref_v[0]) <= bound, (name, y, value, ref_v[0])
        for c in range(C):
            assert _rel(dz[0, c], ref_g[0][c]) <= bound, (name, y, c, dz[0, c], ref_g[0][c])


@given(z=logit_rows(), data=st.data())
def test_softmax_ce_value_and_gradient_against_high_precision(z, data):
    r"""Integer labels, float64: value and every gradient entry to a relative error of
    ``(G + C + N + F + 4) u``, ``G`` the largest gap ``m - z_c``, ``F u`` the library
    functions' rounding (exp, then log1p, each within ``F/2 u``).

    Derivation, per row: ``z_c - m`` is rounded once, an absolute error of at most
    ``u G``, which exp turns into a relative one, plus exp's own; the ``C - 2``
    additions of positive terms add ``(C - 2) u`` to ``r``; ``log1p`` has condition
    number ``r / ((1 + r) log1p(r)) <= 1`` and adds its rounding; ``-(z_y - m) >= 0``
    is one rounding, and a sum of non-negative terms has at most the largest relative
    error of its terms plus one ``u`` per addition (``N - 1`` over the rows, one for
    ``/ D``). The gradient's entries are ``p_c = e_c / (1 + r)``, ``p_y - 1`` with
    ``p_y <= 1/2`` (no cancellation), and ``-r / (1 + r)`` in a confident row's label
    column: the same terms, with a division in place of log1p.
    """
    n, c = z.shape
    # the largest logit as the label half the time: a confident, correct row
    y = np.array([data.draw(st.one_of(st.just(int(row.argmax())), st.integers(0, c - 1)))
                  for row in z])
    value, dz = softmax_cross_entropy(z, y, "sum")
    ref_v, ref_g = _ref_softmax_ce(z, np.eye(c)[y])
    bound = (_gap(z) + c + n + F + 4) * U
    with localcontext() as ctx:
        ctx.prec = PREC
        total = sum(ref_v)
    assert _rel(value, total) <= bound
    for i in range(n):
        for j in range(c):
            assert _rel(dz[i, j], ref_g[i][j]) <= bound, (i, j, dz[i, j], ref_g[i][j])


@given(z=logit_rows(), data=st.data())
def test_softmax_ce_soft_labels_against_high_precision(z, data):
    r"""Probability labels: the value ``sum_c t_c (log1p(r) - (z_c - m))`` is a sum of
    non-negative terms, so its bound is the integer case's with ``2C`` roundings for
    the products and sums over classes: ``(G + 2C + N + F + 6) u`` relative.

    A gradient entry ``T p_c - t_c`` (``T = sum_c t_c``) may cancel: what is exact is
    the relative error of each of its two terms, so the bound is
    ``(G + 2C + F + 6) u (T p_c + t_c)``, the condition number of the difference.
    """
    n, c = z.shape
    w = np.array(data.draw(st.lists(st.lists(st.floats(0, 1), min_size=c, max_size=c),
                                    min_size=n, max_size=n)))
    w[:, 0] += 1e-3  # no all-zero row
    t = w / w.sum(axis=1, keepdims=True)
    value, dz = softmax_cross_entropy(z, t, "sum")
    ref_v, ref_g = _ref_softmax_ce(z, t)
    G = _gap(z)
    with localcontext() as ctx:
        ctx.prec = PREC
        total = sum(ref_v)
    assert _rel(value, total) <= (G + 2 * c + n + F + 6) * U
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    scale = t.sum(axis=1, keepdims=True) * p + t
    for i in range(n):
        for j in range(c):
            err = float(abs(_d(dz[i, j]) - ref_g[i][j]))
            assert err <= (G + 2 * c + F + 6) * U * scale[i, j], (i, j, dz[i, j], ref_g[i][j])


logits_700 = st.one_of(st.floats(-700, 700), st.floats(-40, 40), st.floats(-1, 1),
                       st.sampled_from([0.0, 700.0, -700.0, 36.7, -36.7]))
targets = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0, 1),
                    st.floats(1 - 1e-6, 1), st.floats(0, 1e-6))
#: A confident logit and a target that (nearly) agrees with it: the entry is tiny.
confident = st.one_of(
    st.tuples(st.floats(1, 700), st.one_of(st.just(1.0), st.floats(1 - 1e-6, 1))),
    st.tuples(st.floats(-700, -1), st.one_of(st.just(0.0), st.floats(0, 1e-6))))
pairs_700 = st.one_of(st.tuples(logits_700, targets), confident)


@given(pairs=st.lists(pairs_700, min_size=1, max_size=16))
def test_bce_with_logits_against_high_precision(pairs):
    r"""Value of the float64 BCE with logits to a relative error of ``(M + F + 4) u``.

    Per entry ``z (1[z >= 0] - t) + log1p(e^{-|z|})``: ``1 - t`` is one rounding (exact
    for ``t >= 1/2``), the product one more; ``-|z|`` is exact, exp and log1p (condition
    number <= 1) add ``F u``; the two terms are non-negative, so their sum adds one
    ``u`` and no cancellation. Summing ``M`` non-negative entries in two groups adds at
    most ``M u``, the division by ``D`` one more. A target near 1 with a large logit is
    the case ``max(z, 0) - z t`` got wrong: the entry ``z (1 - t)`` is far below ``z``.
    """
    z = np.array([p[0] for p in pairs])[None, :]
    t = np.array([p[1] for p in pairs])[None, :]
    ref = _ref_bce_logits(z, t)
    with localcontext() as ctx:
        ctx.prec = PREC
        total = sum(ref)
    for reduction, D in (("sum", 1), ("mean", z.size)):
        value, _ = bce_with_logits(z, t, reduction)
        with localcontext() as ctx:
            ctx.prec = PREC
            assert _rel(value, total / D) <= (z.size + F + 4) * U, (reduction, value)


@given(pairs=st.lists(pairs_700, min_size=1, max_size=12))
def test_vae_bernoulli_log_likelihood_against_high_precision(pairs):
    """The VAE's ``log p(x | z)`` (Bernoulli, from the decoder's logits) is minus the
    sum of the BCE entries: same bound as the BCE's, ``(M + F + 4) u`` relative."""
    z = np.array([p[0] for p in pairs])[None, :]
    x = np.array([p[1] for p in pairs])[None, :]
    vae = dense_vae(z.shape[1], [3], 2, rng=0, dtype=np.float64)
    log_px = vae._log_px(z, x)
    with localcontext() as ctx:
        ctx.prec = PREC
        total = -sum(_ref_bce_logits(z, x))
    assert log_px.shape == (1,)
    assert _rel(log_px[0], total) <= (z.size + F + 4) * U


@given(a=logits_700)
def test_softplus_against_high_precision(a):
    """``softplus(a) = max(a, 0) + log1p(e^{-|a|})``: two non-negative terms, exp and
    log1p each within ``F/2 u`` and one addition, so ``(F + 1) u`` relative."""
    with localcontext() as ctx:
        ctx.prec = PREC
        exact = (1 + _d(a).exp()).ln()
    assert _rel(float(softplus(np.array([a]))[0]), exact) <= (F + 1) * U


def test_the_old_log_sum_exp_misses_the_bound():
    """The bound has teeth: ``log(sum exp(z - m))`` (the formula before issue #24), on
    the row of the issue, is off by far more than the bound allows."""
    z = np.array([[7.70419556, -4.4769021]])
    shifted = z - z.max()
    old = float(np.log(np.exp(shifted).sum()))  # label 0 is the max: loss log(1 + r)
    ref_v, _ = _ref_softmax_ce(z, np.eye(2)[[0]])
    bound = (_gap(z) + 2 + F + 4) * U
    assert _rel(old, ref_v[0]) > 1e3 * bound
    assert _rel(softmax_cross_entropy(z, np.array([0]), "sum")[0], ref_v[0]) <= bound
