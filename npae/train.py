"""The training loop: minibatches, history, progress bar, callbacks, divergence guard."""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from npae.arguments import as_generator, is_int
from npae.backend import get_array_module
from npae.optim import Adam

__all__ = ["Trainable", "SupervisedTrainable", "History", "Callback", "EarlyStopping", "fit",
           "divergence_reported_by_caller", "report_failed_runs"]


@runtime_checkable
class Trainable(Protocol):
    """What :func:`fit` asks of a model (:class:`~npae.models.Autoencoder` and
    :class:`~npae.models.Classifier` follow it; so may a model of your own).

    ``batch`` below is ``(x,)``, or ``(x, y)`` for a model whose ``supervised`` is true,
    already validated by ``check_data`` (and ``check_labels``) and on the model's backend.
    """

    #: True when the model learns from labels (``fit`` then needs ``y``).
    supervised: ClassVar[bool]
    #: Loss parts shown beside the loss in the progress bar (a classifier's accuracy).
    metrics: ClassVar[tuple[str, ...]]
    #: The model's own generator: shuffling and noise when ``fit`` is given no ``rng``.
    rng: np.random.Generator

    def parameters(self) -> Iterator[tuple[str, Any, Any]]:
        """``(name, param, grad)`` of every trainable array; the optimizer updates them."""
        ...

    def check_data(self, x: Any, owner: str | None = None, name: str = "x", *,
                   training: bool = False) -> Any:
        """Validate a data set once (dtype, NaN/Inf, range) and move it to the backend."""
        ...

    def batch_loss(self, *batch: Any, rng: np.random.Generator, backward: bool
                   ) -> tuple[float, dict[str, float]]:
        """``(total, parts)`` of one validated batch; with ``backward`` the gradients are
        written into the parameters' ``grad`` arrays."""
        ...

    def evaluate_batches(self, *data: Any, batch_size: int, rng: Any) -> dict[str, float]:
        """Per-sample means of the loss parts over validated data, nothing updated."""
        ...

    def sample_weighted(self, total: float, parts: dict[str, float], w: int
                        ) -> dict[str, float]:
        """A batch of ``w`` samples' share of the per-sample means over many batches."""
        ...


@runtime_checkable
class SupervisedTrainable(Trainable, Protocol):
    """A :class:`Trainable` that learns from labels (``supervised = True``)."""

    def check_labels(self, y: Any, owner: str, name: str = "y", n: int | None = None
                     ) -> Any:
        """Validate labels once (integers in range, ``n`` of them) and move them."""
        ...


@dataclass
class History:
    """Per-epoch means: ``"loss"`` and each loss part (or metric, such as a classifier's
    ``"accuracy"``), and ``"val_..."`` for validation.

    ``stop_reason`` says why training ended early (a callback, or divergence),
    ``None`` when it ran every epoch.
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    stop_reason: str | None = None
    diverged: bool = False

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def append(self, logs: dict[str, float]) -> None:
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)


class Callback:
    """Called after every epoch; return True from ``on_epoch_end`` to stop training."""

    def on_train_begin(self, model: Any) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Any) -> bool:
        return False

    def on_train_end(self, model: Any) -> None:
        pass


class EarlyStopping(Callback):
    """Stop once ``monitor`` has gone more than ``patience`` epochs in a row without
    improving by ``min_delta`` (``patience`` non-improving epochs are tolerated).

    With ``restore_best`` the parameters of the best epoch are put back at the end.
    ``mode`` says whether lower (``"min"``) or higher (``"max"``) is better;
    ``"auto"`` means ``"max"`` for an accuracy (``"val_accuracy"``), else ``"min"``.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = True, mode: str = "auto") -> None:
        if patience < 0 or min_delta < 0:
            raise ValueError(f"EarlyStopping: patience and min_delta must be >= 0, "
                             f"got {patience} and {min_delta}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.restore_best = restore_best
        if mode == "auto":
            mode = "max" if "accuracy" in monitor else "min"
        self.sign = -1.0 if mode == "max" else 1.0  # compare sign * value: lower is better

    def on_train_begin(self, model: Any) -> None:
        self.best, self.wait, self.best_epoch, self._best_params = math.inf, 0, -1, None

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Any) -> bool:
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping: monitored value {self.monitor!r} is not logged; "
                             f"logged: {sorted(logs)} (pass validation= to fit for 'val_loss')")
        value = self.sign * logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.wait, self.best_epoch = value, 0, epoch
            if self.restore_best:
                self._best_params = [p.copy() for _, p, _ in model.parameters()]
            return False
        self.wait += 1
        return self.wait > self.patience

    def on_train_end(self, model: Any) -> None:
        if self.restore_best and self._best_params is not None:
            for (_, p, _), best in zip(model.parameters(), self._best_params):
                p[...] = best


def _what(total: float, parts: dict) -> str:
    """``nan``, or ``nan (overflow encountered in exp)`` when NumPy caught the cause."""
    return f"{total} ({parts['cause']})" if "cause" in parts else f"{total}"


def _checked(model: Trainable, X: Any, y: Any, owner: str, what: str) -> tuple:
    """The batch arrays of a data set, validated once: ``(X,)``, or ``(X, y)`` for a
    model that learns from labels (``model.supervised``)."""
    X = model.check_data(X, owner, what, training=True)
    if not model.supervised:
        if y is not None:
            raise ValueError(f"{owner}: {type(model).__name__} learns without labels; "
                             f"do not pass labels with {what}")
        return (X,)
    if y is None:
        raise ValueError(f"{owner}: {type(model).__name__} needs labels: pass y with {what}"
                         + (" (validation=(X_val, y_val))" if what == "validation" else ""))
    return X, model.check_labels(y, owner, "y" if what == "X" else f"{what} labels",
                                 X.shape[0])


def fit(model: Trainable, X: Any, epochs: int = 10, batch_size: int = 128, optimizer: Any = None,
        validation: Any = None, *, y: Any = None, callbacks: list[Callback] | tuple = (),
        verbose: int = 1, rng: Any = None, shuffle: bool = True) -> History:
    """Train ``model`` on ``X`` with shuffled minibatches.

    Parameters
    ----------
    model : Trainable
        An :class:`~npae.models.Autoencoder` or :class:`~npae.models.Classifier`, or any
        model that follows :class:`Trainable` (:class:`SupervisedTrainable` when its
        ``supervised`` is true).
    X : array (N, ...)
        Training data, floats in the model's expected range. It is validated once
        (dtype, NaN/Inf, range) and moved to the active backend once.
    epochs, batch_size : int
    optimizer : Optimizer, optional
        ``Adam()`` with its defaults when omitted.
    validation : array, or ``(X_val, y_val)`` for a supervised model, optional
        Held-out data; its loss parts (and metrics, such as a classifier's
        ``accuracy``) are logged as ``"val_..."`` every epoch.
    y : array (N,), optional
        Integer class labels, one per sample, for a supervised model (a
        :class:`~npae.models.Classifier`); refused for an autoencoder. Shuffled
        with ``X``, validated and moved once like it.
    callbacks : list of Callback
    verbose : int
        0 silences the progress bar; 1 shows it on a terminal (and stays quiet
        otherwise); 2 also prints one line per epoch.
    rng : Generator or int, optional
        Shuffling and the model's noise; the model's own generator by default.

    Returns
    -------
    History

    Notes
    -----
    Divergence guard: before each update the parameters are copied; a
    non-finite loss stops training with a warning naming the epoch and batch,
    and the parameters of the last finite step are restored.
    """
    name = type(model).__name__
    for arg, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1)):
        if not is_int(value) or value < low:
            raise ValueError(f"{name}.fit: {arg} must be an int >= {low}, got {value!r}")
    data = _checked(model, X, y, f"{name}.fit", "X")
    X = data[0]
    V = None
    if validation is not None:
        supervised = model.supervised
        if supervised and not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise ValueError(f"{name}.fit: validation must be a pair (X_val, y_val) for a model "
                             f"that learns from labels, got {type(validation).__name__}")
        V = _checked(model, *(validation if supervised else (validation, None)),
                     f"{name}.fit", "validation")
        if V[0].shape[1:] != X.shape[1:]:
            raise ValueError(f"{name}.fit: validation samples must have the shape of the "
                             f"training samples, {tuple(X.shape[1:])}, got "
                             f"{tuple(V[0].shape[1:])}")
    optimizer = optimizer or Adam()
    g = model.rng if rng is None else as_generator(rng)
    xp = get_array_module(X)
    history = History()
    n = X.shape[0]
    n_batches = math.ceil(n / batch_size)
    params = [p for _, p, _ in model.parameters()]
    last_good = [xp.empty_like(p) for p in params]

    def diverge(what: str, restore: bool) -> None:
        if restore:
            for p, good in zip(params, last_good):
                p[...] = good
        history.diverged = True
        history.stop_reason = (f"diverged: {what}; parameters restored to the last finite "
                               "step (lower the learning rate?)")
        warnings.warn(f"{name}.fit {history.stop_reason}", RuntimeWarning, stacklevel=3)

    def finite_loss(batch, backward):
        try:
            with np.errstate(over="raise", invalid="raise"):
                return model.batch_loss(*batch, rng=g if backward else as_generator(0),
                                   backward=backward)
        except FloatingPointError as err:
            return math.nan, {"cause": str(err)}

    stepped = False
    for cb in callbacks:
        cb.on_train_begin(model)
    for epoch in range(int(epochs)):
        order = g.permutation(n) if shuffle else None
        if order is not None and xp is not np:
            order = xp.asarray(order)  # one transfer per epoch, never per batch
        sums: dict[str, float] = {}
        bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                   disable=True if verbose == 0 else None)
        for b in bar:
            sl = slice(b * batch_size, (b + 1) * batch_size)
            idx = order[sl] if order is not None else sl
            batch = tuple(a[idx] for a in data)
            total, parts = finite_loss(batch, True)
            if not math.isfinite(total):
                diverge(f"the loss became {_what(total, parts)} at epoch {epoch + 1}, "
                        f"batch {b + 1}", stepped)
                break
            for p, good in zip(params, last_good):
                good[...] = p
            optimizer.step(model.parameters())
            stepped = True
            for k, v in model.sample_weighted(total, parts, batch[0].shape[0]).items():
                sums[k] = sums.get(k, 0.0) + v
            if b % 10 == 0:
                # metrics the model reports (a classifier's accuracy) show beside the loss
                shown = {k: f"{parts[k]:.3f}" for k in model.metrics if k in parts}
                bar.set_postfix(loss=f"{total:.4g}", **shown, refresh=False)
        bar.close()
        if history.diverged:
            break
        logs = {k: v / n for k, v in sums.items()}
        if V is not None:
            logs.update({f"val_{k}": v for k, v in
                         model.evaluate_batches(*V, batch_size=1024, rng=0).items()})
            if not all(map(math.isfinite, logs.values())):
                diverge(f"the validation loss became {logs['val_loss']} after epoch "
                        f"{epoch + 1}", True)
                break
        history.append(logs)
        history.epochs_run = epoch + 1
        if verbose >= 2:
            summary = ", ".join(f"{k} {v:.5g}" for k, v in logs.items())
            print(f"epoch {epoch + 1}/{epochs}: {summary}")
        if any(cb.on_epoch_end(epoch, logs, model) for cb in callbacks):
            history.stop_reason = f"stopped by a callback after epoch {epoch + 1}"
            break
    if stepped and not history.diverged:
        final, parts = finite_loss(batch, False)
        if not math.isfinite(final):
            diverge(f"the loss became {_what(final, parts)} after the last step", True)
    for cb in callbacks:
        cb.on_train_end(model)
    return history


@contextlib.contextmanager
def divergence_reported_by_caller() -> Iterator[None]:
    """Silence :func:`fit`'s divergence warning inside the block, for a caller (the
    ``npae`` command) that reports it itself, once, with no file name and source line
    (:func:`report_failed_runs`)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*\.fit diverged", category=RuntimeWarning)
        yield


def report_failed_runs(command: str, histories: list[History], note: str = "") -> bool:
    """Report on stderr each run of ``npae <command>`` that diverged or logged no epoch;
    True if there was one."""
    failed = [h for h in histories if h.diverged or "loss" not in h]
    for h in failed:
        print(f"npae {command}: training {h.stop_reason or 'logged no epoch'}{note}",
              file=sys.stderr)
    return bool(failed)
