"""The ``npae`` command.

Subcommands::

    npae gradcheck              check every built-in gradient (float64), exit 1 on a failure
    npae tour --out DIR         the course in two minutes: every family, figures, index.html
    npae tour --quick           ten seconds: one small autoencoder and its figures
    npae compare-pca            linear autoencoder vs PCA vs SVD, as a table or JSON
    npae train                  train a dense autoencoder variant and save it
    npae bench                  run the benchmark suite
    npae exercises list|make|check|check-all|schema   backprop exercises and their grader
    npae tutorial list          every tutorial with its one-line topic
    npae tutorial run NAME      run a tutorial (``--fast``: the small data, seconds)
    npae tutorial copy DIR      the tutorials as scripts in DIR (``--notebooks``: also .ipynb)

Each takes ``--backend numpy|cupy``.

Exit status: 0 on success; 1 when a gradient check fails or training diverges (the
loss or the held-out loss became NaN/Inf: the reason goes to stderr and nothing is
saved; lower ``--lr``); 2 for a usage error or bad input (a message, no traceback).
``npae exercises check`` exits with the number of failed exercises (at most 255).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from npae.train import divergence_reported_by_caller, report_failed_runs

EPILOG = ("exit status: 0 success, 1 a failed check or a diverged training run (the reason "
          "on stderr, nothing saved), 2 a usage error or bad input")


def _gradcheck(args: argparse.Namespace) -> int:
    from npae.checks import run_all

    reports = run_all(seed=args.seed, only=args.only)
    if not reports:
        print(f"npae gradcheck: no check name contains {args.only!r}", file=sys.stderr)
        return 1
    width = max(len(r.title) for r in reports) if reports else 10
    print(f"{'check':<{width}}  {'array':<14} {'max rel error':>13}  result")
    failed = 0
    for r in reports:
        for i, (key, err) in enumerate(r.errors.items()):
            ok = err < r.threshold
            print(f"{r.title if i == 0 else '':<{width}}  {key:<14} {err:13.2e}  "
                  f"{'pass' if ok else 'FAIL'}")
        for note in r.notes:
            print(f"{'':<{width}}  ! {note}")
        failed += not r.passed
    print(f"\n{len(reports) - failed} of {len(reports)} checks passed "
          f"(float64 central differences, threshold {reports[0].threshold:g})")
    return 1 if failed else 0


def _tour(args: argparse.Namespace) -> int:
    from npae import tour

    if args.quick:
        return tour.quick(Path(args.out), epochs=args.epochs or 40, seed=args.seed,
                          verbose=args.verbose)
    return tour.full(Path(args.out), seed=args.seed, verbose=args.verbose, epochs=args.epochs)


def _compare_pca(args: argparse.Namespace) -> int:
    from npae import data, linear

    X = data.load(args.data, split="train")[0]
    X = X.reshape(len(X), -1)
    if args.limit is not None:
        X = X[: args.limit]
    Xte = data.load(args.data, split="test")[0]
    Xte = Xte.reshape(len(Xte), -1)
    kwargs = {} if args.epochs is None else {"epochs": args.epochs}
    with divergence_reported_by_caller():
        table = linear.compare(X, ks=args.ks, rng=args.seed, X_test=Xte, **kwargs)
    # a stage of 0 epochs has an empty history: only the stages that diverged count
    diverged = [h for hs in table.histories.values() for h in hs if h.diverged]
    if report_failed_runs("compare-pca", diverged, "; no table printed"):
        return 1
    if args.json:
        print(json.dumps({"data": args.data, "n_train": len(X), "n_test": len(Xte),
                          "rows": table.rows}, indent=2))
    else:
        print(f"data: {args.data} ({len(X)} training, {len(Xte)} test images)\n")
        print(table)
    return 0


def _train(args: argparse.Namespace) -> int:
    from npae import data, models
    from npae.optim import Adam

    X = data.load(args.data, split="train")[0]
    X = X.reshape(len(X), -1)
    Xte = data.load(args.data, split="test")[0]
    Xte = Xte.reshape(len(Xte), -1)
    cls = models.Autoencoder
    if args.model != "plain":
        cls = models.MODELS[{"denoising": "DenoisingAutoencoder", "sparse": "SparseAutoencoder",
                             "contractive": "ContractiveAutoencoder"}[args.model]]
    # the KL sparsity penalty compares mean activations with rho: the code must lie in (0, 1)
    code = "sigmoid" if args.model == "sparse" else "identity"
    ae = models.dense_autoencoder(X.shape[1], args.hidden, args.latent, rng=args.seed,
                                  code_activation=code, model=cls)
    with divergence_reported_by_caller():
        hist = ae.fit(X, epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=Adam(args.lr), validation=Xte, verbose=args.verbose)
    if report_failed_runs("train", [hist], f"; {args.out} not written"):
        return 1
    print(f"{args.model} autoencoder on {args.data}: final train loss {hist['loss'][-1]:.5f}, "
          f"held-out loss {hist['val_loss'][-1]:.5f}")
    ae.save(args.out)
    print(f"saved {args.out}")
    return 0


def _tutorial(args: argparse.Namespace) -> int:
    from npae import tutorials

    if args.action == "list":
        for t in tutorials.find_tutorials():
            print(f"{t.name:<40} {t.topic}")
        return 0
    if args.action == "copy":
        try:
            written = tutorials.copy(args.dir, notebooks=args.notebooks, force=args.force)
        except ModuleNotFoundError as err:  # --notebooks without jupytext: say what to install
            print(f"npae {err}", file=sys.stderr)
            return 2
        scripts = sum(p.suffix == ".py" for p in written) - 1  # _common.py is no tutorial
        notebooks = sum(p.suffix == ".ipynb" for p in written)
        print(f"wrote {scripts} tutorials to {args.dir}"
              + (f" as scripts and {notebooks} notebooks" if notebooks else " as scripts")
              + f" (with _common.py); run one there: python {written[1].name} --fast")
        return 0
    return tutorials.run(tutorials.resolve(args.name), fast=args.fast)


def _bench(args: argparse.Namespace) -> int:
    try:
        from benchmarks.__main__ import main as bench_main  # type: ignore[import-not-found]
    except ImportError:
        # the suite times npae against PyTorch on the developer's machine: a tool for the
        # checkout (and its `bench` extra), not part of the installed course
        print("npae bench: the benchmark suite ships with the source checkout, not the "
              "installed package: git clone the repository, pip install -e '.[bench]', "
              "then run `npae bench` (or `python -m benchmarks`) at its root", file=sys.stderr)
        return 2
    return bench_main(args.rest)


def _exercises(args: argparse.Namespace) -> int:
    from npae.exercises.command import run

    return run(args)


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    return parse


_positive = _int_at_least(1)
_nonnegative = _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from npae import __version__

    p = argparse.ArgumentParser(prog="npae", description=__doc__.split("\n")[0],
                                epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"npae {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, func, help: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help, description=help, epilog=EPILOG)
        s.add_argument("--backend", choices=["numpy", "cupy"], default=None,
                       help="array backend (default: numpy, or $NPAE_BACKEND)")
        s.add_argument("--seed", type=_nonnegative, default=0, help="random seed (>= 0)")
        s.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                       help="0 silences progress bars, 2 adds a line per epoch")
        s.set_defaults(func=func)
        return s

    s = add("gradcheck", _gradcheck, "check every built-in gradient against finite differences")
    s.add_argument("--only", help="run only the checks whose name contains this text")
    s = add("tour", _tour, "the course in two minutes on the digits: gradient checks, the "
            "PCA table, one model of each family with its figure, and index.html")
    s.add_argument("--out", default="npae-tour", help="folder for figures and the model")
    s.add_argument("--epochs", type=_positive, default=None,
                   help="epochs for every model (default: each model's own; --quick: 40)")
    s.add_argument("--quick", action="store_true",
                   help="ten seconds: one 64-32-2 autoencoder, three figures, the model")
    s = add("compare-pca", _compare_pca, "linear autoencoder vs PCA vs SVD reconstruction error")
    s.add_argument("--data", default="digits", choices=["digits", "mnist", "fashion-mnist"])
    s.add_argument("--ks", type=_positive, nargs="+", default=[2, 4, 6],
                   help="latent dimensions to compare")
    s.add_argument("--epochs", type=_positive, default=None, help="training epochs per k")
    s.add_argument("--limit", type=_positive, default=None,
                   help="use only the first N (>= 1) training images")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s = add("train", _train, "train a dense autoencoder and save it")
    s.add_argument("--model", default="plain",
                   choices=["plain", "denoising", "sparse", "contractive"])
    s.add_argument("--data", default="digits", choices=["digits", "mnist", "fashion-mnist"])
    s.add_argument("--hidden", type=_positive, nargs="*", default=[32],
                   help="hidden layer widths (none for a single layer each way)")
    s.add_argument("--latent", type=_positive, default=8, help="code size")
    s.add_argument("--epochs", type=_positive, default=20)
    s.add_argument("--batch-size", type=_positive, default=64)
    s.add_argument("--lr", type=_positive_float, default=1e-3,
                   help="Adam learning rate; too large a rate diverges (exit status 1)")
    s.add_argument("--out", default="model.npz")
    s = add("tutorial", _tutorial, "list the tutorials, run one, or copy them into a folder")
    actions = s.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every tutorial with its one-line topic")
    r = actions.add_parser("run", help="run one tutorial as a script")
    r.add_argument("name", help="its number (01), file name, or a unique part of it")
    r.add_argument("--fast", action="store_true", help="fast mode: the 8x8 digits, few epochs")
    c = actions.add_parser("copy", help="write the tutorials into DIR as .py scripts to edit")
    c.add_argument("dir", metavar="DIR")
    c.add_argument("--notebooks", action="store_true",
                   help="also write each as a .ipynb notebook (needs jupytext)")
    c.add_argument("--force", action="store_true", help="overwrite files already in DIR")
    s = add("bench", _bench, "run the benchmark suite (python -m benchmarks)")
    s.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the suite")
    s = add("exercises", _exercises, "backprop exercises: list them, write a student folder, "
            "grade it (check's exit status: the number of failed exercises, at most 255)")
    act = s.add_subparsers(dest="action", required=True)
    e_list = act.add_parser("list", help="the exercises, their topic and difficulty")
    e_make = act.add_parser("make", help="write one stub per exercise and a README into DIR")
    e_make.add_argument("dir", metavar="DIR")
    e_make.add_argument("--hints", action="store_true", help="put the formulas in the stubs")
    e_make.add_argument("--force", action="store_true", help="overwrite existing stubs")
    e_check = act.add_parser("check", help="grade the stubs in DIR; exit status = failures")
    e_check.add_argument("dir", metavar="DIR")
    e_check.add_argument("--json", action="store_true", help="print the grade as JSON")
    e_check.add_argument("--seed", type=_nonnegative, default=0, help="seeds the cases")
    e_check.add_argument("--time-limit", type=_positive_float, default=30.0,
                         help="seconds per exercise (default 30)")
    e_all = act.add_parser("check-all", help="grade a class: one folder per student in "
                           "SUBMISSIONS; a CSV of scores and a summary table")
    e_all.add_argument("dir", metavar="SUBMISSIONS")
    e_all.add_argument("--csv", metavar="FILE", help="write the scores here (a row per student)")
    e_all.add_argument("--json", action="store_true", help="print every grade as JSON")
    e_all.add_argument("--jobs", type=_positive, default=1, help="students graded at once")
    e_all.add_argument("--seed", type=_nonnegative, default=0, help="seeds the cases")
    e_all.add_argument("--time-limit", type=_positive_float, default=30.0,
                       help="seconds per exercise (default 30)")
    for e in (e_check, e_all):
        e.add_argument("--allow-npae", action="store_true",
                       help="grade files that use npae's own implementation (still flagged)")
    act.add_parser("schema", help="print the JSON schema of check --json")
    for e in (e_make, e_check, e_all):
        e.add_argument("--only", nargs="+", metavar="NAME", help="only these exercises")
    for e in (e_list, e_make, e_check, e_all):
        e.add_argument("--register", action="append", metavar="FILE_OR_MODULE",
                       help="import this file or module first (its exercises are added)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from npae import backend

    try:  # --backend, else $NPAE_BACKEND: a backend that cannot run is a one-line error
        if args.backend:
            backend.use(args.backend)
        else:
            backend.current()  # applies $NPAE_BACKEND now, not halfway through the command
    except (ValueError, RuntimeError) as err:
        print(f"npae: {err}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, RuntimeError) as err:
        # A user's mistake (missing data, bad value, unwritable path): the message, no traceback.
        print(f"npae {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
