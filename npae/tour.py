# Long module: one short function per section of the tour's page, kept in the page's order.
"""``npae tour``: the whole course in two minutes, on the 8x8 digits.

(Past 450 lines: one short function per section of the page, kept in the page's order.)

The full tour runs, in order, what each lecture topic is about, small enough for two
CPU cores in well under two minutes:

1. every built-in gradient against central differences (the summary of ``npae gradcheck``);
2. the linear autoencoder against PCA and the SVD (``npae compare-pca``'s table);
3. one trained model per family, each with the figure that defines it: vanilla
   (reconstructions, the 2-D code), denoising (noisy / clean / denoised), sparse (mean
   activation per unit, the filters), contractive (the encoder's Jacobian norm against a
   plain autoencoder's), convolutional (reconstructions per bottleneck size), and the VAE
   (samples from the prior, the decoded 2-D latent grid);
4. what a code is used for: a classifier on it (linear probe, 5-NN, fine-tuning),
   retrieval by nearest codes, inpainting by a denoising autoencoder, and compression
   (bits per image against error, beside PCA).

Each model trains under its own progress bar, the tables are printed, and ``index.html``
in the output folder shows every figure and table with a sentence on what to notice and
the tutorial that explains it. ``npae tour --quick`` is the ten-second version: one
64-32-2 autoencoder, three figures and the saved model.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from npae.train import Callback, divergence_reported_by_caller, report_failed_runs

__all__ = ["quick", "full", "Section", "write_index"]

SIDE = 8  # the digits are 8x8


class Section(NamedTuple):
    """One part of ``index.html``: a title, the tutorial that explains it (``"03"``), what
    to notice, figure file names, and an optional table (header, rows of strings)."""

    title: str
    tutorial: str
    notice: str
    figures: tuple[str, ...] = ()
    table: tuple[tuple[str, ...], list[tuple[str, ...]]] | None = None


class _EpochBar(Callback):
    """One progress bar per model, advancing by epochs (fit's own bar is per batch)."""

    def __init__(self, desc: str, epochs: int, verbose: int) -> None:
        self.desc, self.epochs, self.verbose = desc, epochs, verbose

    def on_train_begin(self, model: Any) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.epochs, desc=f"{self.desc:<28}", unit="epoch",
                        disable=self.verbose == 0, leave=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Any) -> bool:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.4f}", refresh=False)
        return False

    def on_train_end(self, model: Any) -> None:
        self.bar.close()


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from npae import data

    train, test = data.load("digits", split="train"), data.load("digits", split="test")
    return train.flat, train.labels, test.flat, test.labels


def quick(out: Path, *, epochs: int = 40, seed: int = 0, verbose: int = 1) -> int:
    """Today's ten-second tour: a 64-32-2 autoencoder, three figures and the model."""
    from npae import viz
    from npae.models import dense_autoencoder
    from npae.optim import Adam

    out.mkdir(parents=True, exist_ok=True)
    X, _, Xte, yte = _digits()
    print(f"digits: {len(X)} training and {len(Xte)} test images of 8x8 pixels")
    ae = dense_autoencoder(X.shape[1], [32], 2, rng=seed)
    t = time.perf_counter()
    with divergence_reported_by_caller():
        hist = ae.fit(X, epochs=epochs, batch_size=32, optimizer=Adam(3e-3),
                      validation=Xte, verbose=verbose)
    if report_failed_runs("tour", [hist], "; no figures or model written"):
        return 1
    mse = ae.evaluate(Xte)["reconstruction"]
    mean_mse = float(((Xte - X.mean(0)) ** 2).mean())
    print(f"trained a 64-32-2 autoencoder for {epochs} epochs in "
          f"{time.perf_counter() - t:.1f} s")
    print(f"held-out reconstruction MSE {mse:.4f} (predicting the mean image: {mean_mse:.4f})")
    rec = ae.reconstruct(Xte[:10])
    viz.reconstruction_grid(Xte[:10], rec, image_shape=(8, 8), path=out / "reconstructions.png")
    viz.latent_scatter(ae.encode(Xte), yte, path=out / "latent.png")
    viz.loss_curves(hist, path=out / "loss.png")
    ae.save(out / "model.npz")
    for name in ("reconstructions.png", "latent.png", "loss.png", "model.npz"):
        print(f"wrote {out / name}")
    return 0


# --------------------------------------------------------------------------- full tour
class _Tour:
    """State of one full tour: the data, the output folder, the sections written so far."""

    def __init__(self, out: Path, seed: int, verbose: int, epochs: int | None) -> None:
        self.out, self.seed, self.verbose, self.epochs = out, seed, verbose, epochs
        self.X, self.y, self.Xte, self.yte = _digits()
        self.sections: list[Section] = []
        self.shared: dict[str, Any] = {}  # what several sections use (a trained model)

    def train(self, model: Any, name: str, epochs: int, X: Any = None, **kw: Any) -> bool:
        """Fit ``model`` under its own progress bar; False (reported) if it diverged."""
        from npae.optim import Adam

        n = self.epochs or epochs
        X = self.X if X is None else X
        hist = model.fit(X, epochs=n, batch_size=kw.pop("batch_size", 64),
                         optimizer=Adam(kw.pop("lr", 3e-3)), verbose=0, rng=self.seed,
                         callbacks=[_EpochBar(name, n, self.verbose)], **kw)
        return not report_failed_runs("tour", [hist], f" ({name}); the tour stops here")

    def mse(self, model: Any, X: Any, target: Any = None) -> float:
        rec = np.asarray(model.reconstruct(X), dtype=np.float64)
        ref = np.asarray(X if target is None else target, dtype=np.float64)
        return float(np.mean((rec - ref) ** 2))

    def add(self, section: Section) -> None:
        self.sections.append(section)
        for name in section.figures:
            print(f"wrote {self.out / name}")


def _gradients(t: _Tour) -> bool:
    from npae.checks import run_all

    reports = run_all(seed=t.seed)
    passed = sum(r.passed for r in reports)
    worst = max(reports, key=lambda r: r.max_error)
    line = (f"{passed} of {len(reports)} gradient checks pass (float64 central differences, "
            f"threshold {reports[0].threshold:g}); worst relative error "
            f"{worst.max_error:.1e} ({worst.title})")
    print(f"\n== gradients\n{line}")
    t.add(Section("Every gradient, checked", "09",
                  f"{line}. Every backward pass in npae is written by hand; this is the "
                  "check that each one is the derivative of its forward pass.",
                  table=(("check", "max relative error", "result"),
                         [(r.title, f"{r.max_error:.1e}", "pass" if r.passed else "FAIL")
                          for r in reports])))
    return passed == len(reports)


def _linear(t: _Tour) -> bool:
    from npae import linear

    kw = {} if t.epochs is None else {"epochs": t.epochs}

    table = linear.compare(t.X, ks=(2, 4, 6), X_test=t.Xte, rng=t.seed, **kw)
    diverged = [h for hs in table.histories.values() for h in hs if h.diverged]
    if report_failed_runs("tour", diverged, " (linear autoencoder); the tour stops here"):
        return False
    print(f"\n== linear autoencoder, PCA and SVD (test MSE per pixel)\n{table}")
    header = ("k", "linear AE", "PCA", "SVD", "SVD, uncentred", "max angle (deg)")
    rows = [(str(r["latent_dim"]), f"{r['ae_mse']:.4f}", f"{r['pca_mse']:.4f}",
             f"{r['svd_mse']:.4f}", f"{r['svd_uncentred_mse']:.4f}",
             f"{r['max_angle_deg']:.2f}") for r in table]
    t.add(Section("The linear autoencoder is PCA", "02",
                  "The linear autoencoder reaches PCA's error at every k, and the SVD of the "
                  "centred data is PCA by another route (the same column); only forgetting "
                  "to centre costs more. The last column: the autoencoder's subspace is "
                  "PCA's to about a degree, though its weights are not the components.",
                  table=(header, rows)))
    return True


def _vanilla(t: _Tour) -> bool:
    from npae import viz
    from npae.models import dense_autoencoder

    ae = dense_autoencoder(64, [32], 2, rng=t.seed)
    if not t.train(ae, "vanilla 64-32-2", 40, batch_size=32, validation=t.Xte):
        return False
    mse, mean_mse = t.mse(ae, t.Xte), float(((t.Xte - t.X.mean(0)) ** 2).mean())
    print(f"vanilla: test MSE {mse:.4f} with a 2-number code (the mean image: {mean_mse:.4f})")
    viz.reconstruction_grid(t.Xte[:10], ae.reconstruct(t.Xte[:10]), image_shape=(SIDE, SIDE),
                            title="test digits and their reconstructions from 2 numbers",
                            path=t.out / "vanilla_reconstructions.png")
    viz.latent_scatter(ae.encode(t.Xte), t.yte, title="the 2-D code of the test digits",
                       path=t.out / "vanilla_latent.png")
    t.add(Section("Vanilla autoencoder: 64 pixels through 2 numbers", "01",
                  f"Test MSE {mse:.4f} against {mean_mse:.4f} for always answering the mean "
                  "image. The reconstructions are blurry prototypes, and in the 2-D code the "
                  "digits of one class gather together although the network never saw a label.",
                  ("vanilla_reconstructions.png", "vanilla_latent.png")))
    return True


def _denoising(t: _Tour) -> bool:
    from npae import viz
    from npae.models import DenoisingAutoencoder, dense_autoencoder
    from npae.noise import make_noise

    noise = {"kind": "gaussian", "sigma": 0.5, "clip": True}
    dae = dense_autoencoder(64, [64], 16, rng=t.seed, model=DenoisingAutoencoder, noise=noise)
    if not t.train(dae, "denoising 64-64-16", 40):
        return False
    noisy = make_noise(noise)(t.Xte, np.random.default_rng(t.seed)).astype(np.float32)
    before, after = float(np.mean((noisy - t.Xte) ** 2)), t.mse(dae, noisy, t.Xte)
    print(f"denoising: MSE to the clean test digits {before:.4f} (noisy) -> {after:.4f} "
          "(denoised)")
    viz.reconstruction_grid(t.Xte[:10], dae.reconstruct(noisy[:10]), noisy=noisy[:10],
                            row_labels=("clean", "noisy input", "denoised"),
                            image_shape=(SIDE, SIDE), title="Gaussian noise, sigma 0.5",
                            path=t.out / "denoising.png")
    t.add(Section("Denoising autoencoder: clean digits out of noisy ones", "03",
                  f"Trained to map a corrupted digit to the clean one, it cuts the error to the "
                  f"clean digits from {before:.4f} (the noisy input) to {after:.4f}: it has "
                  "learned what digits look like, not just to copy its input.",
                  ("denoising.png",)))
    return True


def _sparse(t: _Tour) -> bool:
    from npae import viz
    from npae.models import SparseAutoencoder, dense_autoencoder
    from npae.viz import NpaeFigure

    rho, code = 0.05, 100
    plain = dense_autoencoder(64, [], code, code_activation="sigmoid", rng=t.seed)
    sparse = dense_autoencoder(64, [], code, code_activation="sigmoid", rng=t.seed,
                               model=SparseAutoencoder, rho=rho, beta=1.0)
    if not (t.train(plain, "plain 64-100 (overcomplete)", 40)
            and t.train(sparse, "sparse 64-100, rho 0.05", 40)):
        return False
    act = {name: np.asarray(m.encode(t.Xte), dtype=np.float64).mean(axis=0)
           for name, m in (("plain", plain), ("sparse", sparse))}
    print(f"sparse: mean activation of the {code} code units {act['sparse'].mean():.3f} "
          f"(target rho = {rho}); plain autoencoder {act['plain'].mean():.3f}")
    fig = NpaeFigure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    for name, a in act.items():
        ax.plot(np.sort(a)[::-1], "o-" if name == "sparse" else "s-", ms=3, label=name)
    ax.axhline(rho, color="k", lw=0.8, ls="--", label=f"rho = {rho}")
    ax.set_xlabel("code unit (sorted)")
    ax.set_ylabel("mean activation on the test digits")
    ax.legend()
    fig.savefig(t.out / "sparse_activation.png", dpi=100)
    viz.weight_grid(sparse.encoder.layers[0].params["W"], image_shape=(SIDE, SIDE), n=50,
                    ncols=10, title="sparse autoencoder: what 50 code units look for",
                    path=t.out / "sparse_filters.png")
    t.add(Section("Sparse autoencoder: more units than pixels, few of them on", "04",
                  f"With 100 code units for 64 pixels, the plain autoencoder keeps its units "
                  f"half on (mean activation {act['plain'].mean():.2f}); the KL penalty pulls "
                  f"them towards rho = {rho} ({act['sparse'].mean():.3f}): each digit turns "
                  "on a few units. Below, the input weights of 50 units, the pattern each "
                  "one responds to.",
                  ("sparse_activation.png", "sparse_filters.png")))
    return True


def _contractive(t: _Tour) -> bool:
    from npae.models import ContractiveAutoencoder, dense_autoencoder
    from npae.penalties import encoder_jacobian
    from npae.viz import NpaeFigure

    plain = dense_autoencoder(64, [], 16, code_activation="sigmoid", rng=t.seed)
    cae = dense_autoencoder(64, [], 16, code_activation="sigmoid", rng=t.seed,
                            model=ContractiveAutoencoder, lam=0.03)
    if not (t.train(plain, "plain 64-16", 40) and t.train(cae, "contractive 64-16", 40)):
        return False
    norms = {name: np.sqrt((np.asarray(encoder_jacobian(t.Xte, m.encoder),
                                       dtype=np.float64) ** 2).sum(axis=(1, 2)))
             for name, m in (("plain", plain), ("contractive", cae))}
    mses = {"plain": t.mse(plain, t.Xte), "contractive": t.mse(cae, t.Xte)}
    print(f"contractive: mean ||dh/dx||_F on the test digits {norms['contractive'].mean():.3f} "
          f"(plain {norms['plain'].mean():.3f}); test MSE {mses['contractive']:.4f} "
          f"(plain {mses['plain']:.4f})")
    fig = NpaeFigure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    bins = np.linspace(0, max(n.max() for n in norms.values()), 40)
    for name, n in norms.items():
        ax.hist(n, bins=bins, alpha=0.6, label=f"{name} (mean {n.mean():.2f})")
    ax.set_xlabel("Frobenius norm of the encoder's Jacobian dh/dx, per test digit")
    ax.set_ylabel("test digits")
    ax.legend()
    fig.savefig(t.out / "contractive_jacobian.png", dpi=100)
    t.add(Section("Contractive autoencoder: a code that moves little", "05",
                  f"Penalising the Jacobian of the code shrinks its norm from "
                  f"{norms['plain'].mean():.2f} to {norms['contractive'].mean():.2f} on average, "
                  f"for a test MSE of {mses['contractive']:.4f} against {mses['plain']:.4f}: "
                  "the code ignores most directions a digit can be pushed in.",
                  ("contractive_jacobian.png",)))
    return True


def _convolutional(t: _Tour) -> bool:
    from npae import viz
    from npae.models import conv_autoencoder

    images, test = t.X.reshape(-1, 1, SIDE, SIDE), t.Xte.reshape(-1, 1, SIDE, SIDE)
    rows, labels, mses = [t.Xte[:10]], ["input"], {}
    for c in (2, 8):
        ae = conv_autoencoder((1, SIDE, SIDE), (16, 32), bottleneck=(c, 1, 1), rng=t.seed)
        if not t.train(ae, f"convolutional, code {c}", 10, X=images, batch_size=32):
            return False
        mses[c] = t.mse(ae, test)
        rows.append(np.asarray(ae.reconstruct(test[:10])).reshape(10, -1))
        labels.append(f"code {c}")
    print("convolutional: test MSE " + ", ".join(f"{v:.4f} with a code of {c}"
                                                for c, v in mses.items()))
    viz.image_grid(np.concatenate(rows).reshape(-1, SIDE, SIDE), ncols=10,
                   titles=[f"{lab}" if i == 0 else "" for lab in labels for i in range(10)],
                   path=t.out / "conv_reconstructions.png")
    t.add(Section("Convolutional autoencoder: reconstructions per bottleneck", "06",
                  "Rows: test digits, then the reconstructions through a code of 2 and of 8 "
                  f"numbers (test MSE {mses[2]:.4f} and {mses[8]:.4f}). Stride-2 convolutions "
                  "and their transposes; a wider bottleneck keeps the strokes, a narrow one "
                  "only the prototype.",
                  ("conv_reconstructions.png",)))
    return True


def _vae(t: _Tour) -> bool:
    from npae import viz
    from npae.models import dense_vae

    vae = dense_vae(64, (128,), 2, rng=t.seed)
    if not t.train(vae, "VAE 64-128-2", 30, lr=1e-3):
        return False
    samples = np.asarray(vae.sample(30, rng=t.seed))
    viz.image_grid(samples.reshape(-1, SIDE, SIDE), ncols=10,
                   path=t.out / "vae_samples.png")
    viz.latent_manifold(vae.decode, n=15, image_shape=(SIDE, SIDE),
                        title="decoded grid over the prior", path=t.out / "vae_manifold.png")
    elbo = float(vae.elbo(t.Xte))
    print(f"VAE: test ELBO {elbo:.2f} nats per digit")
    t.add(Section("Variational autoencoder: a generative model", "07",
                  "Draws z ~ N(0, I) decoded into new digits (top), and a grid of codes spread "
                  "evenly over the prior's probability (bottom): the 2-D latent space is "
                  "continuous, one digit morphing into the next, with no holes where the "
                  f"decoder produces noise. Test ELBO {elbo:.1f} nats per digit.",
                  ("vae_samples.png", "vae_manifold.png")))
    return True


# ------------------------------------------------------------- the second half: using codes
def _code_model(t: _Tour) -> Any:
    """The 64-32-8 autoencoder with a sigmoid code that the last four sections share
    (trained once, on the first call)."""
    from npae.models import dense_autoencoder

    if "code_ae" not in t.shared:
        ae = dense_autoencoder(64, [32], 8, code_activation="sigmoid", loss="bce", rng=t.seed)
        if not t.train(ae, "autoencoder 64-32-8", 40, batch_size=32):
            return None
        t.shared["code_ae"] = ae
    return t.shared["code_ae"]


def _classifier(t: _Tour) -> bool:
    from npae import features
    from npae.linear import PCA
    from npae.models import classifier_from

    ae = _code_model(t)
    if ae is None:
        return False
    pca = PCA(8).fit(t.X)
    codes = {"autoencoder, 8 numbers": (ae.encode(t.X), ae.encode(t.Xte)),
             "PCA, 8 numbers": (pca.transform(t.X), pca.transform(t.Xte)),
             "raw pixels, 64 numbers": (t.X, t.Xte)}
    rows = []
    for name, (Z, Zt) in codes.items():
        Z, Zt = (np.asarray(a, dtype=np.float64) for a in (Z, Zt))
        probe = features.linear_probe(Z, t.y, Zt, t.yte, epochs=40, rng=t.seed)
        knn = features.knn_accuracy(Z, t.y, Zt, t.yte, k=5)
        rows.append((name, f"{100 * probe:.1f}", f"{100 * knn:.1f}"))
    clf = classifier_from(ae, 10, rng=t.seed)   # fine-tuned: the encoder learns too
    if not t.train(clf, "classifier, fine-tuned", 30, y=t.y, batch_size=32):
        return False
    fine = 100 * clf.score(t.Xte, t.yte)
    rows.append(("the encoder fine-tuned with a linear head", f"{fine:.1f}", ""))
    print("\n== a classifier on a code (test accuracy, %)")
    for name, p, k in rows:
        print(f"{name:<42} linear {p:>5}  5-NN {k:>5}")
    t.shared["probe_ae"] = float(rows[0][1])
    t.add(Section("A classifier on a code", "10",
                  f"The autoencoder never saw a label, yet a linear classifier reads the "
                  f"digit off its 8 numbers {rows[0][1]} % of the time (PCA's 8 numbers: "
                  f"{rows[1][1]} %; all 64 pixels: {rows[2][1]} %). Fine-tuning the encoder "
                  f"with the labels reaches {fine:.1f} %: a code trained to reconstruct is a "
                  "good start, not a classifier.",
                  table=(("code", "linear probe (%)", "5-NN (%)"), rows)))
    return True


def _retrieval(t: _Tour) -> bool:
    from npae import features, viz
    from npae.linear import PCA

    ae = _code_model(t)
    if ae is None:
        return False
    pca = PCA(8).fit(t.X)
    spaces = {"autoencoder code": np.asarray(ae.encode(t.Xte), dtype=np.float64),
              "PCA code": pca.transform(t.Xte), "raw pixels": t.Xte}
    prec = {name: 100 * features.retrieval_precision(Z, t.yte, k=10)
            for name, Z in spaces.items()}
    print("retrieval: precision@10 " + ", ".join(f"{v:.1f} % ({k})" for k, v in prec.items()))
    queries = np.random.default_rng(t.seed).choice(len(t.Xte), 5, replace=False)
    Z = spaces["autoencoder code"]
    nn = np.asarray(features.nearest_neighbours(Z[queries], Z, 9))[:, 1:]  # 0 is the query
    strips = np.concatenate([np.concatenate([t.Xte[q][None], t.Xte[h]]) for q, h in
                             zip(queries, nn)])
    viz.image_grid(strips.reshape(-1, SIDE, SIDE), ncols=9,
                   titles=["query" if i % 9 == 0 else "" for i in range(len(strips))],
                   path=t.out / "retrieval.png")
    t.add(Section("Retrieval: the nearest codes", "10",
                  "Each row: a test digit, then the 8 test digits whose 8-number codes are "
                  f"nearest. Precision@10 (the share of the 10 nearest that show the same "
                  f"digit, over every query): {prec['autoencoder code']:.1f} % with the "
                  f"autoencoder's code, {prec['PCA code']:.1f} % with PCA's, "
                  f"{prec['raw pixels']:.1f} % with all 64 pixels.",
                  ("retrieval.png",)))
    return True


def _inpainting(t: _Tour) -> bool:
    from npae import viz
    from npae.models import DenoisingAutoencoder, dense_autoencoder
    from npae.noise import BlockMaskNoise

    holes = BlockMaskNoise(1, 3, image_shape=(SIDE, SIDE))
    dae = dense_autoencoder(64, [64], 16, rng=t.seed, model=DenoisingAutoencoder, noise=holes)
    if not t.train(dae, "inpainting DAE 64-64-16", 40):
        return False
    Xh, mask = holes.draw(t.Xte, np.random.default_rng(t.seed))
    Xh, mask = np.asarray(Xh, dtype=np.float32), np.asarray(mask, dtype=bool)
    filled = np.where(mask, np.asarray(dae.reconstruct(Xh)), Xh)
    mean_fill = np.where(mask, t.X.mean(axis=0), Xh)
    err = {name: float(((f - t.Xte) ** 2)[mask].mean())
           for name, f in (("DAE", filled), ("mean image", mean_fill), ("zeros", Xh))}
    print("inpainting: MSE inside the 3x3 holes " + ", ".join(f"{v:.4f} ({k})"
                                                             for k, v in err.items()))
    viz.reconstruction_grid(t.Xte[:10], filled[:10], noisy=Xh[:10],
                            row_labels=("clean", "with a hole", "filled"),
                            image_shape=(SIDE, SIDE), title="a 3x3 hole, filled by a DAE",
                            path=t.out / "inpainting.png")
    t.add(Section("Inpainting: a denoising autoencoder fills holes", "12",
                  f"Trained to undo a random 3x3 hole, the DAE fills the holes of test digits "
                  f"with an error of {err['DAE']:.4f} per hole pixel, against "
                  f"{err['mean image']:.4f} for the mean image and {err['zeros']:.4f} for "
                  "leaving them black; the pixels it was given are kept as they are.",
                  ("inpainting.png",)))
    return True


def _compression(t: _Tour) -> bool:
    from npae.linear import PCA

    ae = _code_model(t)
    if ae is None:
        return False

    def quantize(z: np.ndarray, lo: Any, hi: Any, b: int) -> np.ndarray:
        levels = 2 ** b - 1
        return lo + np.round(np.clip((z - lo) / (hi - lo), 0, 1) * levels) / levels * (hi - lo)

    z = np.asarray(ae.encode(t.Xte), dtype=np.float64)
    pca = PCA(8).fit(t.X)
    ztr, zte = pca.transform(t.X), pca.transform(t.Xte)
    rows = []
    errors = {}
    for b in (2, 4, 8):
        x_ae = np.asarray(ae.decode(quantize(z, 0.0, 1.0, b).astype(np.float32)))
        x_pca = pca.inverse_transform(quantize(zte, ztr.min(0), ztr.max(0), b))
        errors[b] = (float(np.mean((x_ae - t.Xte) ** 2)), float(np.mean((x_pca - t.Xte) ** 2)))
        rows.append((f"8 numbers x {b} bits", str(8 * b), f"{errors[b][0]:.4f}",
                     f"{errors[b][1]:.4f}"))
    print("\n== compression (bits per image; test MSE per pixel)")
    for r in rows:
        print(f"{r[0]:<20}{r[1]:>4} bits  autoencoder {r[2]}  PCA {r[3]}")
    better = all(a < p for a, p in errors.values())
    t.add(Section("Compression: bits per image against error", "12",
                  "The encoder is the compressor, each code number rounded to b bits is the "
                  "message, the decoder (sent once) rebuilds the digit; the 8-bit image "
                  "itself takes 512 bits. "
                  + ("At every bit budget here the autoencoder's code (sigmoid units, trained "
                     "for these digits) rebuilds the digits with a smaller error than PCA's "
                     "8 components rounded the same way. " if better else
                     "Compare the autoencoder's code with PCA's 8 components, rounded the "
                     "same way, at each budget. ")
                  + "It is a codec made for one kind of image.",
                  table=(("message", "bits per image", "autoencoder MSE", "PCA MSE"), rows)))
    return True


STEPS: tuple[Callable[[_Tour], bool], ...] = (_gradients, _linear, _vanilla, _denoising,
                                               _sparse, _contractive, _convolutional, _vae,
                                               _classifier, _retrieval, _inpainting,
                                               _compression)


def full(out: Path, *, seed: int = 0, verbose: int = 1, epochs: int | None = None) -> int:
    """The whole course on the digits; returns the exit status (1: a check failed or a
    training run diverged). ``epochs`` overrides every model's number of epochs (a
    smoke test); by default each model gets its own."""

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    t = _Tour(out, seed, verbose, epochs)
    print(f"digits: {len(t.X)} training and {len(t.Xte)} test images of 8x8 pixels")
    status = 0
    with divergence_reported_by_caller():
        for step in STEPS:
            if not step(t):
                status = 1
                if step is not _gradients:
                    break
    seconds = time.perf_counter() - start
    write_index(out / "index.html", t.sections, seconds)
    print(f"\nwrote {out / 'index.html'} (the tour in {seconds:.0f} s): open it in a browser")
    return status


# --------------------------------------------------------------------------- index.html
def _tutorial_links() -> dict[str, tuple[str, str]]:
    """Tutorial number -> (file URI, title), when the tutorials folder is here."""
    from npae import tutorials

    try:
        return {t.number: (t.path.resolve().as_uri(), t.topic)
                for t in tutorials.find_tutorials()}
    except OSError:
        return {}


def _table_html(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_index(path: Path, sections: list[Section], seconds: float) -> None:
    """One self-contained page: every section's figures, table, notice and tutorial link."""
    links = _tutorial_links()
    parts = []
    for s in sections:
        uri, topic = links.get(s.tutorial, ("", ""))
        where = (f'<a href="{html.escape(uri)}">tutorial {s.tutorial}: {html.escape(topic)}</a>'
                 if uri else f"tutorial {s.tutorial}")
        figs = "".join(f'<img src="{html.escape(name)}" alt="{html.escape(name)}">'
                       for name in s.figures)
        table = _table_html(*s.table) if s.table else ""
        parts.append(f"<section><h2>{html.escape(s.title)}</h2>"
                     f"<p class='notice'><b>What to notice:</b> {html.escape(s.notice)}</p>"
                     f"{table}<div class='figs'>{figs}</div>"
                     f"<p class='more'>Explained in {where} "
                     f"(<code>npae tutorial run {s.tutorial} --fast</code>).</p></section>")
    path.write_text(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>npae tour</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;"
        "line-height:1.45}img{max-width:100%;margin:.5em 1em .5em 0;vertical-align:top}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
        "padding:.2em .6em;text-align:right}.notice{background:#f4f7fb;padding:.5em}"
        "section{border-top:1px solid #ddd;margin-top:1.5em}</style></head><body>"
        "<h1>The autoencoder course in two minutes</h1>"
        f"<p>Everything below was computed by <code>npae tour</code> on scikit-learn's 8x8 "
        f"digits in {seconds:.0f} s: the gradient checks, the linear autoencoder against "
        "PCA, one model of each family with the figure that defines it, and what a code "
        "is used for.</p>"
        + "".join(parts) + "</body></html>\n", encoding="utf-8")
