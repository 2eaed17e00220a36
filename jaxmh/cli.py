"""Command line: ``jaxmh compare`` (the tutorial's comparison end to end) and ``jaxmh study``.

This is the only module that prints or writes files.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

__all__ = ["main"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _nonnegative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxmh", description="Bayesian hierarchical models with Metropolis MCMC in JAX.")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser(
        "compare",
        help="the tutorial's comparison: pooled vs unpooled vs hierarchical",
        description=(
            "Simulate the tutorial's data (75 individuals x 5 observations), or read a CSV, fit the "
            "pooled, unpooled and hierarchical models with the tutorial's random-walk Metropolis "
            "settings, print a table and write the shrinkage figure."
        ),
    )
    c.add_argument("--seed", type=int, default=1, help="random seed (data simulation and sampling); default 1")
    c.add_argument("--data", metavar="CSV",
                   help="long-format CSV to use instead of simulating; 'tutorial' uses the bundled "
                        "dataset made by the tutorial's R code with set.seed(1)")
    c.add_argument("--truth", metavar="CSV", help="CSV with columns i, alpha, beta (true values) for --data")
    c.add_argument("--x", default="x", help="predictor column of --data (default x)")
    c.add_argument("--y", default="y", help="outcome column of --data (default y)")
    c.add_argument("--group", default="i", help="group column of --data (default i)")
    c.add_argument("--groups", type=_positive, default=75, help="simulated individuals (default 75)")
    c.add_argument("--group-size", type=_positive, default=5, help="observations per individual (default 5)")
    c.add_argument("--models", nargs="+", default=["pooled", "unpooled", "hierarchical"],
                   choices=["pooled", "unpooled", "hierarchical"])
    c.add_argument("--method", default="rwm", choices=["rwm", "adaptive", "blocked"],
                   help="sampler: the tutorial's random-walk Metropolis (rwm, default), adaptive joint "
                        "random walk, or group-blocked Metropolis-within-Gibbs (blocked)")
    c.add_argument("--chains", type=_positive, default=4, help="chains per model (default 4)")
    c.add_argument("--samples", type=_positive, default=8000, help="draws kept per chain (default 8000)")
    c.add_argument("--warmup", type=_nonnegative, default=2000, help="warm-up steps dropped (default 2000)")
    c.add_argument("--out", default="shrinkage.png", help="where to write the figure (default shrinkage.png)")
    c.add_argument("--no-plot", action="store_true", help="do not write the figure")
    _study_parser(sub)
    return parser


def _study_parser(sub) -> None:
    s = sub.add_parser(
        "study",
        help="the comparison over many simulated datasets (a simulation study)",
        description=(
            "Simulate many datasets from the tutorial's process, fit the models to every one "
            "(datasets and chains vectorised, only running moments kept), and report the "
            "distribution of RMSEs per model and how often partial pooling wins."
        ),
    )
    s.add_argument("--datasets", type=_positive, default=200, help="number of datasets (default 200)")
    s.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    s.add_argument("--groups", type=_positive, default=75, help="individuals per dataset (default 75)")
    s.add_argument("--group-size", type=_positive, default=5, help="observations per individual (default 5)")
    s.add_argument("--models", nargs="+", default=["pooled", "unpooled", "hierarchical"],
                   choices=["pooled", "unpooled", "hierarchical"])
    s.add_argument("--method", default=None, choices=["rwm", "adaptive", "blocked"],
                   help="sampler for every model (default: blocked for models with groups, adaptive "
                        "for pooled; rwm is the tutorial's)")
    s.add_argument("--chains", type=_positive, default=4, help="chains per model and dataset (default 4)")
    s.add_argument("--samples", type=_positive, default=8000, help="draws kept per chain (default 8000)")
    s.add_argument("--warmup", type=_nonnegative, default=2000, help="warm-up steps (default 2000)")
    s.add_argument("--batch", type=_positive, default=256, help="datasets per compiled batch (default 256)")
    s.add_argument("--out", default="study.png", help="figure of the RMSE distributions (default study.png)")
    s.add_argument("--json", metavar="PATH", help="also write every dataset's results as JSON")
    s.add_argument("--no-plot", action="store_true", help="do not write the figure")


def _study(args) -> int:
    import json
    import time

    import jax

    from jaxmh.plots import study_rmse
    from jaxmh.study import study

    print(f"study: {args.datasets} datasets of {args.groups} individuals x {args.group_size} "
          f"observations, seed {args.seed}; {args.chains} chains x {args.warmup + args.samples} "
          f"iterations ({args.warmup} warm-up) per model and dataset\n")
    start = time.perf_counter()
    result = study(
        jax.random.key(args.seed), args.datasets, num_groups=args.groups, group_size=args.group_size,
        models=args.models, method=args.method, num_chains=args.chains, num_samples=args.samples,
        num_warmup=args.warmup, batch_size=args.batch,
    )
    seconds = time.perf_counter() - start
    print(result.table())
    print(f"\n{args.datasets} datasets x {len(args.models)} models in {seconds:.1f} s "
          f"({args.datasets / seconds:.2f} datasets per second)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result.to_dict(), f)
        print(f"wrote {args.json}")
    if not args.no_plot:
        folder = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(folder, exist_ok=True)
        study_rmse(result).savefig(args.out, dpi=120)
        print(f"wrote {args.out}")
    return 0


def _load(args):
    import jax

    from jaxmh import data as data_mod, datasets

    if args.data is None:
        data, truth = data_mod.simulate(jax.random.key(args.seed), args.groups, args.group_size)
        source = f"simulated: {args.groups} individuals x {args.group_size} observations, seed {args.seed}"
        return data, truth, source
    if args.data == "tutorial":
        data, truth = datasets.tutorial()
        return data, truth, "the tutorial's R dataset (set.seed(1))"
    data = data_mod.from_csv(args.data, x=args.x, y=args.y, group=args.group)
    truth = data_mod.read_truth_csv(args.truth, data, group=args.group) if args.truth else None
    return data, truth, args.data


def _compare(args) -> int:
    import jax

    from jaxmh.comparison import compare
    from jaxmh.plots import shrinkage

    data, truth, source = _load(args)
    print(f"data: {source} ({data.num_obs} rows, {data.num_groups} groups)")
    sampler = {"rwm": "random-walk Metropolis (the tutorial's)", "adaptive": "adaptive random-walk Metropolis",
               "blocked": "group-blocked Metropolis-within-Gibbs"}[args.method]
    print(f"sampler: {sampler}, {args.chains} chains x {args.warmup + args.samples} "
          f"iterations ({args.warmup} warm-up dropped)\n")
    result = compare(
        jax.random.key(args.seed), data, truth, models=args.models, num_chains=args.chains,
        num_samples=args.samples, num_warmup=args.warmup, method=args.method,
    )
    print(result.table())
    if truth is None:
        print("\n(no --truth given: RMSEs are not available)")
    elif not args.no_plot:
        fig = shrinkage(result)
        folder = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(folder, exist_ok=True)
        fig.savefig(args.out, dpi=120)
        print(f"\nwrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jaxmh`` command."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "compare":
            return _compare(args)
        if args.command == "study":
            return _study(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"jaxmh {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
