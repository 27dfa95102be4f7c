"""SGD and Adam against the published update rules, worked out by hand in the test.

Objective: the quadratic ``f(p) = 0.5 ||A p - c||^2``, gradient ``A^T (A p - c)``,
minimised at the least-squares solution.

SGD (with ``g = grad + wd p``, velocity ``v_0 = 0``; Sutskever et al. 2013, in the
form PyTorch uses): ``v_t = m v_{t-1} + g_t``, ``p_t = p_{t-1} - lr v_t``, and for
Nesterov ``p_t = p_{t-1} - lr (g_t + m v_t)``.

Adam (Kingma & Ba 2015, Algorithm 1, with ``g = grad + wd p``):
``m_t = b1 m_{t-1} + (1 - b1) g_t``, ``v_t = b2 v_{t-1} + (1 - b2) g_t^2``,
``m_hat = m_t / (1 - b1^t)``, ``v_hat = v_t / (1 - b2^t)``,
``p_t = p_{t-1} - lr m_hat / (sqrt(v_hat) + eps)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npae.optim import SGD, Adam


class Quadratic:
    """``f(p) = 0.5 ||A p - c||^2`` with one parameter array ``p`` named "w"."""

    def __init__(self, seed: int = 0, n: int = 6, d: int = 4, dtype=np.float64) -> None:
        r = np.random.default_rng(seed)
        self.A = r.normal(size=(n, d)).astype(dtype)
        self.c = r.normal(size=n).astype(dtype)
        self.p = r.normal(size=d).astype(dtype)
        self.grad = None

    def gradient_at(self, p: np.ndarray) -> np.ndarray:
        return self.A.T @ (self.A @ p - self.c)

    def backward(self) -> None:
        self.grad = self.gradient_at(self.p)

    def parameters(self):
        yield "w", self.p, self.grad


def run_steps(opt, problem: Quadratic, steps: int) -> list[np.ndarray]:
    """Take ``steps`` optimizer steps; return the parameter after each (copies)."""
    out = []
    for _ in range(steps):
        problem.backward()
        opt.step(problem.parameters())
        out.append(problem.p.copy())
    return out


def sgd_by_hand(p0, grad_fn, lr, momentum=0.0, nesterov=False, wd=0.0, steps=2):
    p, v, out = p0.copy(), np.zeros_like(p0), []
    for _ in range(steps):
        g = grad_fn(p) + wd * p
        v = momentum * v + g
        step = g + momentum * v if nesterov else v
        p = p - lr * step
        out.append(p)
    return out


def adam_by_hand(p0, grad_fn, lr, b1, b2, eps, wd=0.0, steps=2):
    p, m, v, out = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), []
    for t in range(1, steps + 1):
        g = grad_fn(p) + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


@pytest.mark.parametrize("momentum, nesterov, wd", [
    (0.0, False, 0.0), (0.0, False, 0.1), (0.9, False, 0.0), (0.9, False, 0.05),
    (0.5, True, 0.0), (0.9, True, 0.1)])
def test_sgd_matches_the_update_rule(momentum, nesterov, wd):
    q = Quadratic(seed=1)
    expected = sgd_by_hand(q.p, q.gradient_at, 0.05, momentum, nesterov, wd, steps=3)
    got = run_steps(SGD(0.05, momentum=momentum, nesterov=nesterov, weight_decay=wd), q, 3)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-15)


def test_sgd_one_plain_step_by_hand():
    """p = 1, grad = 2 (f = p^2), lr = 0.1: p - 0.1 * 2 = 0.8; with wd = 0.5: g = 2.5, 0.75."""
    p = np.array([1.0])
    SGD(0.1).step([("p", p, np.array([2.0]))])
    assert p[0] == pytest.approx(0.8, abs=1e-15)
    p = np.array([1.0])
    SGD(0.1, weight_decay=0.5).step([("p", p, np.array([2.0]))])
    assert p[0] == pytest.approx(0.75, abs=1e-15)


def test_nesterov_first_step_by_hand():
    """v_1 = g, so the first Nesterov step is p - lr (1 + m) g."""
    p = np.array([1.0, -2.0])
    SGD(0.1, momentum=0.9, nesterov=True).step([("p", p, np.array([1.0, 1.0]))])
    np.testing.assert_allclose(p, [1 - 0.19, -2 - 0.19], rtol=1e-15)


@pytest.mark.parametrize("eps", [1e-8, 0.3])  # a large eps shows any slip in its bias handling
@pytest.mark.parametrize("wd", [0.0, 0.1])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.8)])
def test_adam_one_and_two_steps_match_the_paper(eps, wd, betas):
    q = Quadratic(seed=2)
    expected = adam_by_hand(q.p, q.gradient_at, 0.01, *betas, eps, wd, steps=2)
    got = run_steps(Adam(0.01, betas=betas, eps=eps, weight_decay=wd), q, 2)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-12, atol=1e-15)


def test_adam_first_step_is_lr_times_sign():
    """At t = 1, m_hat = g and v_hat = g^2, so the step is lr g / (|g| + eps) ~ lr sign(g)."""
    p = np.zeros(3)
    Adam(0.1, eps=1e-12).step([("p", p, np.array([5.0, -0.001, 2e3]))])
    np.testing.assert_allclose(p, [-0.1, 0.1, -0.1], rtol=1e-8)


@given(seed=st.integers(0, 2**32 - 1), lr=st.floats(1e-4, 0.1), momentum=st.floats(0, 0.99),
       nesterov=st.booleans(), b1=st.floats(0, 0.99), b2=st.floats(0, 0.9999))
def test_random_hyperparameters_match_the_rules(seed, lr, momentum, nesterov, b1, b2):
    q = Quadratic(seed=seed)
    p0 = q.p.copy()
    nesterov = nesterov and momentum > 0
    got = run_steps(SGD(lr, momentum=momentum, nesterov=nesterov), q, 3)
    for e, g in zip(sgd_by_hand(p0, q.gradient_at, lr, momentum, nesterov, steps=3), got):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
    q.p[...] = p0
    got = run_steps(Adam(lr, betas=(b1, b2)), q, 3)
    for e, g in zip(adam_by_hand(p0, q.gradient_at, lr, b1, b2, 1e-8, steps=3), got):
        np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("opt", [SGD(0.02), SGD(0.01, momentum=0.9),
                                 SGD(0.01, momentum=0.9, nesterov=True), Adam(0.05)],
                         ids=["sgd", "momentum", "nesterov", "adam"])
def test_optimizers_reach_the_least_squares_solution(opt):
    q = Quadratic(seed=3, n=10, d=3)
    solution = np.linalg.lstsq(q.A, q.c, rcond=None)[0]
    run_steps(opt, q, 2000)
    np.testing.assert_allclose(q.p, solution, atol=1e-5)


def test_updates_are_in_place_and_state_is_kept_by_name():
    a, b = np.ones(3), np.ones(2)
    ga, gb = np.full(3, 1.0), np.full(2, -1.0)
    opt = SGD(0.1, momentum=0.5)
    opt.step([("a", a, ga), ("b", b, gb)])
    opt.step([("a", a, ga), ("b", b, gb)])
    # a: v = 1 then 1.5; p = 1 - 0.1 - 0.15. b mirrors it with the opposite sign.
    np.testing.assert_allclose(a, 0.75, rtol=1e-15)
    np.testing.assert_allclose(b, 1.25, rtol=1e-15)
    assert set(opt.state) == {"a", "b"}
    np.testing.assert_array_equal(ga, 1.0)  # the gradient array is not used as the velocity
    adam = Adam(0.1)
    p = np.zeros(2)
    ref = p
    adam.step([("p", p, np.ones(2))])
    assert p is ref and adam.state["p"]["t"] == 1


@pytest.mark.parametrize("opt", [SGD(0.1), SGD(0.1, momentum=0.9), Adam()])
def test_float32_parameters_and_state_stay_float32(opt):
    q = Quadratic(seed=4, dtype=np.float32)
    run_steps(opt, q, 3)
    assert q.p.dtype == np.float32
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32


def test_missing_gradient_is_refused():
    with pytest.raises(ValueError, match=r"SGD: parameter 'w' has no gradient.*model\.loss"):
        SGD(0.1).step([("w", np.ones(2), None)])
    with pytest.raises(ValueError, match=r"Adam: parameter 'w' has no gradient"):
        Adam().step([("w", np.ones(2), None)])


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(0), r"^SGD: lr must be a positive finite number, got 0$"),
    (lambda: SGD(-0.1), r"^SGD: lr must be a positive finite number, got -0\.1$"),
    (lambda: SGD(math.nan), r"^SGD: lr must be a positive finite number, got nan$"),
    (lambda: SGD(math.inf), r"^SGD: lr must be a positive finite number, got inf$"),
    (lambda: SGD(np.float32(-1e-3)), r"^SGD: lr must be a positive finite number, got "
                                     r"np\.float32\(-0\.001\)$"),
    (lambda: SGD(0.1, momentum=1.0), r"^SGD: momentum must be a number in \[0, 1\), got 1\.0$"),
    (lambda: SGD(0.1, momentum=-0.5), r"^SGD: momentum must be a number in \[0, 1\), got -0\.5"),
    (lambda: SGD(0.1, momentum=math.nan), r"^SGD: momentum must be a number in \[0, 1\), "
                                          r"got nan$"),
    (lambda: SGD(0.1, nesterov=True), r"^SGD: nesterov=True needs momentum > 0$"),
    (lambda: SGD(0.1, weight_decay=-1e-4), r"^SGD: weight_decay must be a finite number >= 0, "
                                           r"got -0\.0001$"),
    (lambda: SGD(0.1, weight_decay=math.nan), r"^SGD: weight_decay must be a finite number "
                                              r">= 0, got nan$"),
    (lambda: SGD(0.1, weight_decay=math.inf), r"^SGD: weight_decay .* got inf$"),
    (lambda: Adam(0), r"^Adam: lr must be a positive finite number, got 0$"),
    (lambda: Adam(betas=(1.0, 0.999)), r"^Adam: betas\[0\] must be a number in \[0, 1\), "
                                       r"got 1\.0$"),
    (lambda: Adam(betas=(0.9, -0.1)), r"^Adam: betas\[1\] must be a number in \[0, 1\), "
                                      r"got -0\.1$"),
    (lambda: Adam(betas=(0.9, math.nan)), r"^Adam: betas\[1\] .* got nan$"),
    (lambda: Adam(betas=(0.9,)), r"^Adam: betas must be a pair \(beta1, beta2\) of numbers "
                                 r"in \[0, 1\), got \(0\.9,\)$"),
    (lambda: Adam(betas=(0.9, 0.99, 0.999)), r"^Adam: betas must be a pair"),
    (lambda: Adam(eps=0), r"^Adam: eps must be a positive finite number, got 0$"),
    (lambda: Adam(eps=-1e-8), r"^Adam: eps must be a positive finite number, got -1e-08$"),
    (lambda: Adam(eps=math.inf), r"^Adam: eps must be a positive finite number, got inf$"),
    (lambda: Adam(weight_decay=-1), r"^Adam: weight_decay must be a finite number >= 0, "
                                    r"got -1$"),
])
def test_bad_hyperparameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make, message", [
    # not numbers at all: a TypeError naming optimizer, argument, expectation and value,
    # never Python's raw "'<=' not supported between ..." from a comparison
    (lambda: SGD("0.1"), r"^SGD: lr must be a positive finite number, got '0\.1'$"),
    (lambda: SGD(None), r"^SGD: lr must be a positive finite number, got None$"),
    (lambda: SGD(True), r"^SGD: lr must be a positive finite number, got True$"),
    (lambda: Adam(np.array([1e-3])), r"^Adam: lr must be a positive finite number, "
                                     r"got array\(\[0\.001\]\)$"),
    (lambda: SGD(0.1, momentum=None), r"^SGD: momentum must be a number in \[0, 1\), "
                                      r"got None$"),
    (lambda: SGD(0.1, momentum="0.9"), r"^SGD: momentum must be a number in \[0, 1\), "
                                       r"got '0\.9'$"),
    (lambda: SGD(0.1, momentum=0.9, nesterov="yes"), r"^SGD: nesterov must be True or "
                                                      r"False, got 'yes'$"),
    (lambda: SGD(0.1, weight_decay=None), r"^SGD: weight_decay must be a finite number >= 0, "
                                          r"got None$"),
    (lambda: Adam(weight_decay=False), r"^Adam: weight_decay must be a finite number >= 0, "
                                       r"got False$"),
    (lambda: Adam(betas=None), r"^Adam: betas must be a pair \(beta1, beta2\) of numbers "
                               r"in \[0, 1\), got None$"),
    (lambda: Adam(betas=0.9), r"^Adam: betas must be a pair .* got 0\.9$"),
    (lambda: Adam(betas="ab"), r"^Adam: betas must be a pair .* got 'ab'$"),
    (lambda: Adam(betas=(0.9, None)), r"^Adam: betas\[1\] must be a number in \[0, 1\), "
                                      r"got None$"),
    (lambda: Adam(eps=None), r"^Adam: eps must be a positive finite number, got None$"),
    (lambda: Adam(eps="1e-8"), r"^Adam: eps must be a positive finite number, got '1e-8'$"),
])
def test_non_numeric_hyperparameters_raise_type_error(make, message):
    with pytest.raises(TypeError, match=message):
        make()


@pytest.mark.parametrize("number", [np.float32(1e-3), np.float64(1e-3), np.float16(1e-3),
                                    np.int64(1), 1, 1e-3])
def test_any_real_number_type_is_a_valid_hyperparameter(number):
    """NumPy scalars (what ``arr.mean()`` or ``np.float32(lr)`` give) are real numbers too."""
    adam = Adam(number, betas=(np.float32(0.9), np.float64(0.999)), eps=np.float32(1e-8),
                weight_decay=np.float32(0.0))
    sgd = SGD(number, momentum=np.float32(0.5), nesterov=np.bool_(True),
              weight_decay=np.int64(0))
    # stored as Python floats, so an update never promotes a float32 parameter
    for value in (adam.lr, adam.b1, adam.b2, adam.eps, adam.weight_decay, sgd.lr, sgd.momentum,
                  sgd.weight_decay):
        assert type(value) is float
    assert adam.lr == float(number) and sgd.lr == float(number)
    assert adam.b1 == float(np.float32(0.9)) and sgd.nesterov is True
    for opt in (adam, sgd):
        p = np.ones(3, np.float32)
        opt.step([("w", p, np.full(3, 0.5, np.float32))])
        assert p.dtype == np.float32 and np.all(p < 1)  # one step downhill, still float32
