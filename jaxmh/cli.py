"""Command line: ``jaxmh compare`` (the tutorial's comparison end to end), ``jaxmh fit`` (your data)
and ``jaxmh study`` (many simulated datasets).

This is the only module that prints or writes files.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import Mapping, Sequence

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


def _model_names() -> list:
    from jaxmh.models import registry

    return list(registry.MODELS)


def _method_names() -> list:
    from jaxmh import methods

    return list(methods.METHODS)


_TUTORIAL_MODEL_NAMES = ["pooled", "unpooled", "hierarchical"]


def _parser() -> argparse.ArgumentParser:
    models, samplers = _model_names(), _method_names()
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
    c.add_argument("formulas", nargs="*", metavar="FORMULA",
                   help="with --data: formula models to compare by leave-one-out instead of the tutorial's "
                        "three, e.g. 'y ~ x' 'y ~ x + (1 | g)' 'y ~ x + (x | g)'")
    c.add_argument("--seed", type=int, default=1, help="random seed (data simulation and sampling); default 1")
    c.add_argument("--family", default="gaussian", choices=["gaussian", "bernoulli", "binomial", "poisson"],
                   help="with FORMULAs: the response's family (default gaussian)")
    c.add_argument("--trials", metavar="COLUMN", help="with FORMULAs, binomial family: the column of trials")
    c.add_argument("--offset", metavar="COLUMN", help="with FORMULAs, poisson family: log-exposure column")
    c.add_argument("--drop-missing", action="store_true",
                   help="drop rows with a missing value in the columns used (default: an error naming them)")
    c.add_argument("--loo-out", default="loo.png",
                   help="without --truth: where to write the leave-one-out comparison figure (default loo.png)")
    c.add_argument("--data", metavar="CSV",
                   help="long-format CSV to use instead of simulating; 'tutorial' uses the bundled "
                        "dataset made by the tutorial's R code with set.seed(1)")
    c.add_argument("--truth", metavar="CSV", help="CSV with columns i, alpha, beta (true values) for --data")
    c.add_argument("--x", default="x", help="predictor column of --data (default x)")
    c.add_argument("--y", default="y", help="outcome column of --data (default y)")
    c.add_argument("--group", default="i", help="group column of --data (default i)")
    c.add_argument("--groups", type=_positive, default=75, help="simulated individuals (default 75)")
    c.add_argument("--group-size", type=_positive, default=5, help="observations per individual (default 5)")
    c.add_argument("--models", nargs="+", default=_TUTORIAL_MODEL_NAMES, choices=models,
                   help="models to compare (default: the tutorial's pooled, unpooled and hierarchical)")
    c.add_argument("--method", default="rwm", choices=samplers,
                   help="sampler: the tutorial's random-walk Metropolis (rwm, the default of this command, "
                        "which reproduces the tutorial), adaptive joint random walk, or group-blocked "
                        "Metropolis-within-Gibbs (blocked)")
    c.add_argument("--priors", choices=["auto", "tutorial"], default=None,
                   help="tutorial: the tutorial's priors (the default for the tutorial's data, simulated or "
                        "--data tutorial); auto: weakly informative priors scaled to the data (the default "
                        "for --data CSV; docs/priors.md)")
    c.add_argument("--chains", type=_positive, default=4, help="chains per model (default 4)")
    c.add_argument("--samples", type=_positive, default=None,
                   help="draws kept per chain (default 8000; 4000 for FORMULAs, as jaxmh fit)")
    c.add_argument("--warmup", type=_nonnegative, default=None,
                   help="warm-up steps dropped (default 2000; 1000 for FORMULAs)")
    c.add_argument("--out", default="shrinkage.png", help="where to write the figure (default shrinkage.png)")
    c.add_argument("--no-plot", action="store_true", help="do not write the figure")
    f = sub.add_parser(
        "fit",
        help="fit a model to your grouped data (a CSV file) and check the fit",
        description=(
            "Read long-format grouped data from a CSV file (or a bundled dataset), fit a model with "
            "jaxmh.fit, print the data, the priors and the summary table with convergence diagnostics, "
            "and write a caterpillar plot of the group estimates and, for models that pool, a "
            "shrinkage plot against the unpooled fit."
        ),
        epilog="examples: jaxmh fit sleepstudy 'Reaction ~ Days + (Days | Subject)'; "
               "jaxmh fit radon.csv --y log_radon --x floor --group county",
    )
    f.add_argument("data", metavar="DATA",
                   help="CSV file with a header row; or a bundled dataset: 'radon' (Minnesota radon, "
                        "columns county, floor, log_radon, log_uppm), 'tutorial' (columns i, x, y) or "
                        "'reaction_times' (simulated, columns Subject, Days, Reaction)")
    f.add_argument("formula", nargs="?", metavar="FORMULA",
                   help="an lme4-style formula, e.g. 'Reaction ~ Days + (Days | Subject)' (quote it); "
                        "then --y/--x/--group/--model are not used")
    f.add_argument("--formula", dest="formula_option", metavar="FORMULA", help="the formula, as an option")
    f.add_argument("--family", default="gaussian", choices=["gaussian", "bernoulli", "binomial", "poisson"],
                   help="with a formula: gaussian (default), bernoulli (0/1 or two text values; logit), "
                        "binomial (successes out of --trials; logit) or poisson (counts; log)")
    f.add_argument("--trials", metavar="COLUMN",
                   help="binomial: the column of trials (or one whole number for every row)")
    f.add_argument("--offset", metavar="COLUMN",
                   help="poisson: a column added to the linear predictor, on the log scale (log exposure)")
    f.add_argument("--scale", choices=["link", "response"], default="link",
                   help="bernoulli/binomial/poisson: print and plot the group levels on the link scale "
                        "(log-odds, log-rate; default) or the response scale (probabilities, rates, ratios)")
    f.add_argument("--y", help="outcome column")
    f.add_argument("--x", help="predictor column")
    f.add_argument("--group", help="group label column (any labels: names or numbers)")
    f.add_argument("--model", default="hierarchical", choices=models,
                   help="hierarchical (varying intercepts and slopes, default), intercepts (varying "
                        "intercepts, one slope), unpooled (separate fits) or pooled (one line)")
    f.add_argument("--method", default=None, choices=samplers,
                   help="sampler; default: group-blocked Metropolis-within-Gibbs (blocked) for models "
                        "with groups, adaptive random walk for pooled")
    f.add_argument("--priors", choices=["auto", "tutorial"], default="auto",
                   help="default priors: auto (weakly informative, scaled to the data; docs/priors.md) "
                        "or tutorial (the tutorial's, for data of its scale); default auto")
    f.add_argument("--prior", action="append", default=[], metavar="NAME=PRIOR",
                   help="replace one default prior, e.g. --prior 'sigma=half-normal(1)' --prior "
                        "'mu_alpha=normal(0,10)' (quote it: the shell reads parentheses); PRIOR is "
                        "normal(loc,scale), uniform(low,high), half-normal(scale), half-cauchy(scale) or "
                        "exponential(rate); may be repeated")
    f.add_argument("--drop-missing", action="store_true",
                   help="drop rows whose x or y is empty or NA instead of stopping")
    f.add_argument("--chains", type=_positive, default=4, help="chains (default 4)")
    f.add_argument("--samples", type=_positive, default=None,
                   help="draws kept per chain (default 20000; 4000 with a formula, whose sampler mixes faster)")
    f.add_argument("--warmup", type=_nonnegative, default=None,
                   help="warm-up steps that tune the sampler, then dropped (default 2000; 1000 with a formula)")
    f.add_argument("--thin", type=_positive, default=1, help="keep every THIN-th draw (default 1)")
    f.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    f.add_argument("--out", default=".", metavar="DIR",
                   help="folder for caterpillar.png and shrinkage.png (default: current folder)")
    f.add_argument("--no-plots", action="store_true", help="do not write the figures")
    f.add_argument("--ppc", action="store_true",
                   help="formula models: also write ppc.png, the data against data replicated from the fit "
                        "(posterior predictive check)")
    f.add_argument("--save", metavar="NPZ", help="write the draws to this .npz file (numpy.load, no pickle)")
    f.add_argument("--netcdf", metavar="PATH", help="write the draws as ArviZ InferenceData (needs arviz)")
    _study_parser(sub, models, samplers)
    return parser


def _study_parser(sub, models: list, samplers: list) -> None:
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
    s.add_argument("--models", nargs="+", default=_TUTORIAL_MODEL_NAMES, choices=models,
                   help="models (default: the tutorial's pooled, unpooled and hierarchical), with the "
                        "tutorial's priors")
    s.add_argument("--method", default=None, choices=samplers,
                   help="sampler for every model (default: blocked for models with groups, adaptive "
                        "for pooled; rwm is the tutorial's)")
    s.add_argument("--chains", type=_positive, default=4, help="chains per model and dataset (default 4)")
    s.add_argument("--samples", type=_positive, default=8000, help="draws kept per chain (default 8000)")
    s.add_argument("--warmup", type=_nonnegative, default=2000, help="warm-up steps (default 2000)")
    s.add_argument("--batch", type=_positive, default=64, help="datasets per compiled batch (default 64)")
    s.add_argument("--out", default="study.png", help="figure of the RMSE distributions (default study.png)")
    s.add_argument("--json", metavar="PATH", help="also write every dataset's results as JSON")
    s.add_argument("--no-plot", action="store_true", help="do not write the figure")


def _study(args) -> int:
    import json
    import time

    import jax

    from functools import partial

    from jaxmh.models import registry
    from jaxmh.plots import study_rmse
    from jaxmh.study import study

    print(f"study: {args.datasets} datasets of {args.groups} individuals x {args.group_size} "
          f"observations, seed {args.seed}; {args.chains} chains x {args.warmup + args.samples} "
          f"iterations ({args.warmup} warm-up) per model and dataset")
    print("priors: " + _TUTORIAL_PRIORS_TEXT)
    if args.method:
        print(f"sampler: {_sampler(args.method)} for every model")
    else:  # each model's own default, as jaxmh.fit chooses it (a model built on a small simulated dataset)
        from jaxmh import data as data_mod, methods

        sample_data, _ = data_mod.simulate(jax.random.key(0), max(args.groups, 2), args.group_size)
        chosen = {m: methods.default(registry.builder(m)(sample_data, priors="tutorial")) for m in args.models}
        print("sampler: " + "; ".join(f"{m}: {_sampler(how)}" for m, how in chosen.items())
              + " (jaxmh.fit's defaults; --method rwm for the tutorial's sampler)")
    print()
    start = time.perf_counter()
    result = study(
        jax.random.key(args.seed), args.datasets, num_groups=args.groups, group_size=args.group_size,
        models=[partial(registry.builder(m), priors="tutorial") for m in args.models], method=args.method,
        num_chains=args.chains, num_samples=args.samples,
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
    data = data_mod.from_csv(args.data, x=args.x, y=args.y, group=args.group, drop_missing=args.drop_missing)
    truth = data_mod.read_truth_csv(args.truth, data, group=args.group) if args.truth else None
    return data, truth, args.data


def _sampler(name: str) -> str:
    """How headers name a sampler (:data:`jaxmh.methods.METHODS`, its description up to the colon)."""
    from jaxmh import methods

    return methods.METHODS[name].about.split(":")[0]
_TUTORIAL_PRIORS_TEXT = ("the tutorial's: mu_alpha, mu_beta ~ normal(0, 3); sigma_alpha, sigma_beta, sigma ~ "
                         "uniform(0, 10); unpooled and pooled alpha, beta ~ uniform(-100, 100)")


def _priors_line(model_priors: dict, scheme: str, given: tuple = ()) -> str:
    """``priors (...): name ~ prior, ...`` for a header; ``given`` names the ones set by --prior."""
    from jaxmh.priors import text

    about = ("data-scaled defaults, docs/priors.md; --priors tutorial for the tutorial's" if scheme == "auto"
             else "the tutorial's; --priors auto for priors scaled to the data")
    return (f"priors [{about}]: "
            + ", ".join(f"{k} ~ {text(v)}{' (--prior)' if k in given else ''}" for k, v in model_priors.items()))


def _build_quietly(builder, *args, **kwargs):
    """``(model, notes)``: its prior-data conflict warnings as '! ' lines to print, not raised."""
    import warnings

    from jaxmh.prior_checks import PriorWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PriorWarning)
        model = builder(*args, **kwargs)
    notes = []
    for w in caught:
        if issubclass(w.category, PriorWarning):
            notes.append(f"! {w.message}")
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return model, notes


def _build(builder, *args, **kwargs):
    """Build a model; its prior-data conflict warnings are printed as '! ' lines, not raised."""
    model, notes = _build_quietly(builder, *args, **kwargs)
    for note in notes:
        print(note)
    return model


def _compare(args) -> int:
    import warnings

    import jax

    from jaxmh import default_priors
    from jaxmh.comparison import compare
    from jaxmh.models import registry
    from jaxmh.prior_checks import PriorWarning
    from jaxmh.plots import shrinkage

    if args.formulas:
        args.samples, args.warmup = args.samples or 4000, 1000 if args.warmup is None else args.warmup
        return _compare_formulas(args)
    args.samples, args.warmup = args.samples or 8000, 2000 if args.warmup is None else args.warmup
    if args.family != "gaussian" or args.trials or args.offset:
        raise ValueError("--family, --trials and --offset apply to formula models: give the formulas to compare "
                         "(e.g. jaxmh compare --data my.csv 'y ~ x' 'y ~ x + (1 | g)')")
    data, truth, source = _load(args)
    scheme = args.priors or ("auto" if args.data not in (None, "tutorial") else "tutorial")
    print(f"data: {source} ({data.num_obs} rows, {data.num_groups} groups)")
    if scheme == "tutorial":
        print("priors: " + _TUTORIAL_PRIORS_TEXT)
    else:
        print("priors: data-scaled defaults (docs/priors.md):")
        for name in args.models:
            print(f"  {name}: " + ", ".join(f"{k} ~ {v}" for k, v in
                                            default_priors.default_priors(name, data).items()))
    print(f"sampler: {_sampler(args.method)}, {args.chains} chains x {args.warmup + args.samples} "
          f"iterations ({args.warmup} warm-up dropped)\n")
    for name in args.models:  # say what the priors make of the data before sampling
        _build(registry.builder(name), data, priors=scheme)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PriorWarning)  # printed above
        result = compare(
            jax.random.key(args.seed), data, truth, models=[registry.builder(m) for m in args.models],
            num_chains=args.chains,
            num_samples=args.samples, num_warmup=args.warmup, method=args.method, priors=scheme,
        )
    print(result.table())
    other = [f"{f.model}: {_sampler(f.method)}" for f in result.fits if f.method not in (None, args.method)]
    if other:  # the method does not apply to these models: they ran with their own default
        print(f"({args.method} does not apply to every model; these ran with their default sampler: "
              + "; ".join(other) + ")")
    if args.method == "rwm" and not all(result.converged(f) for f in result.fits):
        print("(the tutorial's sampler uses one untuned proposal sd for every parameter; "
              "--method blocked tunes the sampler to the data)")
    if truth is None:
        print("\n(no --truth given: RMSEs are not available"
              + ("; the models are compared by how well they predict left-out rows instead)\n"
                 if len(result.fits) > 1 else ")"))
        if len(result.fits) > 1:
            extra = {"header": f"{'min ESS':>8}  {'max R-hat':>9}  {'seconds':>7}   "}
            extra.update({f.model: f"{f.min_ess_bulk:8.0f}  {f.max_rhat:9.3f}  {f.seconds:7.1f}  "
                                   f"{' ' if result.converged(f) else '!'}" for f in result.fits})
            _loo_report({f.model: f.result for f in result.fits}, args, extra)
        names = [f.model for f in result.fits]
        if not args.no_plot and "hierarchical" in names and "unpooled" in names:
            from jaxmh import plots
            by = {f.model: f.result for f in result.fits}
            fig = plots.partial_pooling(by["hierarchical"], by["unpooled"], ["alpha", "beta"],
                                        group_sizes=data.group_sizes, identified=_identified(data))
            _write(args.out, lambda p: fig.savefig(p, dpi=110))
    elif not args.no_plot:
        fig = shrinkage(result)
        folder = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(folder, exist_ok=True)
        fig.savefig(args.out, dpi=120)
        print(f"\nwrote {args.out}")
    return 0


def _loo_report(results: dict, args, extra: dict | None = None) -> None:
    """Print the models' PSIS-LOO ranking (with their convergence columns) and write its figure."""
    import warnings

    from jaxmh import plots
    from jaxmh.psis_loo import LooWarning
    from jaxmh.ranking import compare_models

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LooWarning)
        ranking = compare_models(results)
    print("leave-one-out (PSIS-LOO; elpd_diff to the best, se_diff paired; higher elpd predicts better):")
    print(ranking.table(extra))
    for w in caught:
        print(f"! {w.message}")
    if not args.no_plot:
        fig = plots.loo_compare(ranking)
        _write(args.loo_out, lambda p: fig.savefig(p, dpi=120))


def _compare_formulas(args) -> int:
    """``jaxmh compare --data CSV FORMULA FORMULA ...``: fit each formula model, rank them by PSIS-LOO."""
    import time
    import warnings

    import jax

    from jaxmh.fitting import fit
    from jaxmh.summary import ESS_PER_CHAIN, RHAT_THRESHOLD, summary
    from jaxmh.models.formula import model as formula_model

    if args.data is None or args.truth:
        raise ValueError("formulas are compared on data: give --data CSV (or a bundled dataset's name), "
                         "without --truth")
    if len(args.formulas) < 2:
        raise ValueError("give at least two formulas to compare")
    table, source = _formula_data(args.data)
    kwargs = {"family": args.family, "drop_missing": args.drop_missing}
    if args.trials:
        kwargs["trials"] = int(args.trials) if args.trials.strip().isdigit() else args.trials
    if args.offset:
        kwargs["offset"] = args.offset
    print(f"data: {source}; family: {args.family}")
    print(f"sampler: {_sampler('gibbs')}, {args.chains} chains x {args.warmup + args.samples} iterations "
          f"({args.warmup} warm-up dropped); priors: data-scaled defaults (docs/formulas.md)")
    results, extra = {}, {"header": f"{'min ESS':>8}  {'max R-hat':>9}  {'seconds':>7}   "}
    unconverged = False
    for i, formula in enumerate(args.formulas):
        m = _build(formula_model, formula, table, **kwargs)
        start = time.perf_counter()
        r = fit(jax.random.key(args.seed + i), m, num_chains=args.chains, num_samples=args.samples,
                num_warmup=args.warmup, progress=False)
        seconds = time.perf_counter() - start
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = summary(r, warn=False).to_dict()
        rhat = max(v["rhat"] for v in s.values())
        ess = min(v["ess_bulk"] for v in s.values())
        bad = rhat > RHAT_THRESHOLD or ess < ESS_PER_CHAIN * args.chains
        results[formula] = r
        extra[formula] = f"{ess:8.0f}  {rhat:9.3f}  {seconds:7.1f}  {'!' if bad else ' '}"
        unconverged |= bad
        print(f"  fitted {formula}: {seconds:.1f} s")
    print()
    _loo_report(results, args, extra)
    if unconverged:
        print(f"! not converged (marked !): max R-hat > {RHAT_THRESHOLD} or min bulk ESS < "
              f"{ESS_PER_CHAIN * args.chains}; its elpd is not yet to be trusted: run longer (--samples)")
    return 0


# ---------------------------------------------------------------------------------------------
# jaxmh fit
# ---------------------------------------------------------------------------------------------
#: Bundled datasets ``jaxmh fit`` accepts by name: (file, default x, y, group, description).
_FIT_BUNDLED = {
    "radon": ("radon_mn.csv", "floor", "log_radon", "county",
              "Minnesota radon (Gelman & Hill 2006), bundled"),
    "tutorial": ("tutorial_data.csv", "x", "y", "i", "the tutorial's R dataset (set.seed(1)), bundled"),
    "reaction_times": ("reaction_times.csv", "Days", "Reaction", "Subject",
                       "simulated reaction times (ms), 18 subjects x 10 days, bundled"),
}
def _csv_header(path: str) -> list:
    import csv

    try:
        with open(path, newline="") as handle:
            return next(csv.reader(handle), [])
    except OSError:
        return []


def _fit_data(args):
    """``(GroupedData, x, y, group, description)`` from the DATA argument and the column options."""
    from importlib import resources

    from jaxmh import data as data_mod

    if not os.path.exists(args.data) and args.data in _FIT_BUNDLED:
        filename, x, y, group, about = _FIT_BUNDLED[args.data]
        x, y, group = args.x or x, args.y or y, args.group or group
        with resources.as_file(resources.files("jaxmh.datasets") / filename) as path:
            data = data_mod.from_csv(path, x=x, y=y, group=group, drop_missing=args.drop_missing)
        return data, x, y, group, f"{args.data} ({about})"
    if os.path.isdir(args.data):
        raise ValueError(f"{args.data} is a directory, not a CSV file")
    missing = [f"--{k}" for k in ("y", "x", "group") if getattr(args, k) is None]
    if missing and os.path.exists(args.data):
        raise ValueError(f"name the columns to use with {', '.join(missing)}; "
                         f"{args.data} has columns {_csv_header(args.data)}")
    if missing:
        raise FileNotFoundError(f"data file not found: {args.data} (bundled datasets: "
                                f"{', '.join(sorted(_FIT_BUNDLED))})")
    data = data_mod.from_csv(args.data, x=args.x, y=args.y, group=args.group, drop_missing=args.drop_missing)
    return data, args.x, args.y, args.group, args.data


def _fit_priors(model: str, specs: Sequence[str]) -> dict:
    """``{name: prior}`` from ``--prior NAME=PRIOR`` options, checked."""
    from jaxmh import default_priors, priors

    allowed, out = tuple(default_priors.ROLES[model]), {}
    for spec in specs:
        name, text, prior = _prior_spec(spec, out, "--prior 'sigma=half-normal(1)'")
        if name not in allowed:
            raise ValueError(f"--prior {name}: the {model} model has no parameter {name!r} with a prior; "
                             f"it has {', '.join(allowed)}")
        out[name] = priors.check(prior, f"--prior {name}", scale=default_priors.is_scale(model, name))
    return out


def _prior_spec(spec: str, seen: Mapping, example: str) -> tuple:
    """``(name, text, prior)`` of one ``--prior NAME=PRIOR`` (``seen``: the names given before it)."""
    from jaxmh import priors

    name, sep, text = spec.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"--prior {spec!r}: expected NAME=PRIOR, e.g. {example}")
    if name in seen:
        raise ValueError(f"--prior {name} is given twice")
    try:
        return name, text, priors.parse(text)
    except ValueError as err:
        raise ValueError(f"--prior {name}: {err}") from None


def _identified(data) -> dict:
    """Per group: can its own rows identify an intercept / a slope (the unpooled estimates)?"""
    import numpy as np

    g, n = data.group, data.num_groups
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    np.minimum.at(lo, g, data.x)
    np.maximum.at(hi, g, data.x)
    varies = hi > lo                            # two distinct x values: intercept and slope
    return {"alpha": varies | ((lo == 0) & (hi == 0)), "beta": varies}


def _labelled(summary, rows: list, rename: dict):
    from jaxmh.summary import Summary

    index = [summary.names.index(r) for r in rows]
    columns = {k: v[index] for k, v in summary.columns.items()}
    return Summary([rename.get(r, r) for r in rows], columns, summary.num_chains, summary.num_draws,
                   summary.prob)


def _write(path: str, write) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        write(path)
    except OSError as err:
        raise ValueError(f"cannot write {path}: {err.strerror or err}") from None
    print(f"wrote {path}")


def _formula_data(name: str):
    """``(data, description)``: a bundled dataset's columns by name, else the path itself."""
    from jaxmh import datasets

    if not os.path.exists(name) and name in datasets.NAMES:
        return datasets.columns(name), f"{name} (bundled; jaxmh/datasets/README.md gives its source)"
    if os.path.isdir(name):
        raise ValueError(f"{name} is a directory, not a CSV file")
    if not os.path.exists(name):
        raise FileNotFoundError(f"data file not found: {name} (bundled datasets: {', '.join(sorted(datasets.NAMES))})")
    return name, name


def _formula_priors(specs: Sequence[str]) -> dict:
    """``{class or parameter: prior}`` from ``--prior NAME=PRIOR`` (names are checked by the model)."""
    from jaxmh import priors

    out = {}
    for spec in specs:
        name, text, prior = _prior_spec(spec, out, "--prior 'sigma=half_normal(50)' or --prior 'cor=lkj(2)'")
        shown = f"--prior {name}={text.strip()}"
        if name == "cor" or name.startswith("cor("):
            if not isinstance(prior, priors.LKJ):
                raise ValueError(f"{shown}: {name} is a correlation matrix and takes lkj(eta), e.g. --prior "
                                 f"'{name}=lkj(2)'; got {priors.text(prior)}")
        elif isinstance(prior, priors.LKJ):
            raise ValueError(f"{shown}: lkj(eta) is the prior of a correlation matrix (cor or cor(GROUP)); "
                             f"{name} takes a prior on a number")
        elif name in ("sigma", "sd") or name.startswith("sd("):
            try:
                priors.check(prior, name, scale=True)
            except ValueError:
                raise ValueError(f"{shown}: {name} is a scale (> 0) and needs a prior on the positive half-line: "
                                 "half_normal(scale), half_cauchy(scale), half_student_t(df, scale), "
                                 "exponential(rate) or uniform(low, high) with low >= 0") from None
        out[name] = prior
    return out


def _fit_formula(args, formula: str) -> int:
    import jax
    import numpy as np

    from jaxmh import fit, methods, model as build, plots, response_scale, summary
    from jaxmh.summary import ESS_PER_CHAIN, RHAT_THRESHOLD

    if args.netcdf and importlib.util.find_spec("arviz") is None:
        raise ValueError("--netcdf needs ArviZ, which is not installed: pip install arviz")
    given = _formula_priors(args.prior)
    data, source = _formula_data(args.data)
    trials = args.trials
    if trials is not None and trials.strip().isdigit():
        trials = int(trials)
    m = build(formula, data, priors=given, drop_missing=args.drop_missing, family=args.family, trials=trials,
              offset=args.offset)
    layout = m.layout
    factors = {}
    for t in layout.terms:
        factors.setdefault(t.factor, t)
    levels = "; ".join(f"{name}: {len(t.labels)} levels" for name, t in factors.items())
    print(f"data: {source}: {layout.num_rows} rows" + (f"; {levels}" if levels else ""))
    if layout.dropped:
        print(f"dropped {layout.dropped} {'row' if layout.dropped == 1 else 'rows'} with missing values in the "
              "columns the formula uses (--drop-missing)")
    print(f"formula: {layout.formula}")
    from jaxmh import families
    family = families.get(layout.family)
    extras = [f"trials: {args.trials}" if args.trials is not None else "",
              f"offset: {args.offset} (log scale)" if args.offset else "", layout.note]
    print(f"family: {family.name} ({family.link} link)" + "".join(f"; {e}" for e in extras if e))
    chosen = m.data["priors"]

    def class_of(k: str) -> str:
        if k in layout.fixed:
            return "Intercept" if k == "Intercept" else "b"
        return "sd" if k.startswith("sd(") else "cor" if k.startswith("cor(") else k

    print("priors: " + "; ".join(f"{k} ~ {v}" + (" (given)" if k in given or class_of(k) in given else "")
                                 for k, v in chosen.items())
          + ("" if given else " (defaults scaled to the data: docs/formulas.md)"))
    method = args.method or methods.default(m)
    print(f"sampler: {_sampler(method)}, {args.chains} chains x ({args.warmup} warm-up + "
          f"{args.samples * args.thin} steps{f', thinned by {args.thin}' if args.thin > 1 else ''}), "
          f"seed {args.seed}\n")
    result = fit(jax.random.key(args.seed), m, method=method, num_chains=args.chains, num_samples=args.samples,
                 num_warmup=args.warmup, thin=args.thin)
    table = summary(result, warn=False)
    order = list(layout.fixed) + [s for t in layout.terms for s in t.sds] + \
        [c for t in layout.terms for c in t.cors] + ["sigma"]
    print(_labelled(table, [n for n in order if n in table.names], {}).table())
    response = args.scale == "response" and family.link != "identity"
    if args.scale == "response" and not response:
        print("\n(--scale response: the gaussian family's link is the identity; the table is on the response scale)")
    shown = summary(result, warn=False, scale="response") if response else table
    if response:
        print(f"\n{response_scale.describe(layout)}")
        print(_labelled(shown, [n for n in layout.fixed if n in shown.names], {}).table())
    for name, t in factors.items():
        rows = [n for u in layout.terms if u.factor == name for e in u.effects
                for n in shown.names if n.startswith(e + "[")]
        what = "response scale, as above" if response else \
            "deviations from the fixed effects" + (", link scale" if family.link != "identity" else "")
        print(f"\nper {name} ({what}; levels in order of first appearance):")
        print(_labelled(shown, rows, {}).table())
    flagged = table.flagged
    limit = ESS_PER_CHAIN * table.num_chains
    if flagged:
        worst = "; ".join(f"{n} ({', '.join(w)})" for n, w in list(flagged.items())[:6])
        more = f"; and {len(flagged) - 6} more" if len(flagged) > 6 else ""
        print(f"\n! not converged: {len(flagged)} of {len(table)} parameters have R-hat > {RHAT_THRESHOLD} or "
              f"bulk/tail ESS < {limit}: {worst}{more}. Run longer (--samples) before trusting them.")
    else:
        print(f"\nconverged: all {len(table)} parameters have R-hat <= {RHAT_THRESHOLD} and bulk and "
              f"tail ESS >= {limit}")
    if not args.no_plots and factors:
        print()
        for name, t in factors.items():
            params = [e for u in layout.terms if u.factor == name for e in u.effects]
            fig = plots.caterpillar(result, params, list(t.labels), scale="response" if response else "link")
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
            _write(os.path.join(args.out, f"caterpillar_{safe}.png"), lambda p: fig.savefig(p, dpi=110))
    if args.ppc:
        fig = plots.ppc(result, key=jax.random.key(args.seed + 1))
        _write(os.path.join(args.out, "ppc.png"), lambda p: fig.savefig(p, dpi=110))
    if args.save:
        arrays = {k: np.asarray(v) for k, v in result.draws.items()}
        arrays.update({f"labels:{k}": np.array(v, dtype=str) for k, v in layout.coords.items()})
        _write(args.save, lambda p: np.savez(p, **arrays))
    if args.netcdf:
        _write(args.netcdf, result.to_arviz().to_netcdf)
    return 0


def _fit(args) -> int:
    import warnings

    formula = args.formula_option or args.formula
    if args.formula and args.formula_option:
        raise ValueError("give the formula once: as FORMULA or as --formula")
    if args.samples is None:
        args.samples = 4000 if formula is not None else 20000
    if args.warmup is None:
        args.warmup = 1000 if formula is not None else 2000
    if formula is not None:
        return _fit_formula(args, formula)
    for flag, value in (("--family", args.family != "gaussian"), ("--trials", args.trials),
                        ("--offset", args.offset), ("--scale", args.scale != "link"), ("--ppc", args.ppc)):
        if value:
            raise ValueError(f"{flag} applies to a model given by a formula, e.g. jaxmh fit cbpp "
                             "'incidence ~ C(period) + (1 | herd)' --family binomial --trials size")

    import jax
    import numpy as np

    from jaxmh import fit, methods, models, plots, summary
    from jaxmh.models import registry
    from jaxmh.prior_checks import PriorWarning, describe_reached
    from jaxmh.summary import ESS_PER_CHAIN, RHAT_THRESHOLD

    if args.netcdf and importlib.util.find_spec("arviz") is None:  # checked before sampling
        print("jaxmh fit: error: --netcdf needs ArviZ, which is not installed: pip install arviz",
              file=sys.stderr)
        return 2
    priors = _fit_priors(args.model, args.prior)
    data, x, y, group, source = _fit_data(args)
    labels = list(data.labels) if data.labels is not None else [str(g) for g in range(data.num_groups)]
    entry = registry.MODELS[args.model]
    if entry.partial_pooling and data.num_groups < 2:
        raise ValueError(f"the {args.model} model needs at least 2 groups to estimate how groups vary; "
                         f"column {group!r} has only {data.num_groups} ({labels[0]!r}); "
                         "use --model pooled for a single group")
    sizes = data.group_sizes
    print(f"data: {source}: {data.num_obs} rows, {data.num_groups} groups ({group}), "
          f"{sizes.min()} to {sizes.max()} rows per group")
    dropped = getattr(data, "dropped_rows", ())
    if dropped:
        shown = ", ".join(map(str, dropped[:10])) + (", ..." if len(dropped) > 10 else "")
        print(f"dropped {len(dropped)} row(s) with a missing {x!r} or {y!r} (--drop-missing): rows {shown}")
    print(f"model: {args.model}: " + entry.equation.format(x=x, y=y) + f", g = {group}")
    model, notes = _build_quietly(entry.builder, data, priors=args.priors,
                                  **{f"prior_{k}": v for k, v in priors.items()})
    print(_priors_line(model.priors, args.priors, tuple(priors)))
    for note in notes:
        print(note)
    method = args.method or methods.default(model)
    about = _sampler(method) if method != "rwm" else \
        f"random-walk Metropolis (untuned, sd {model.default_step_size:g})"
    print(f"sampler: {about}, {args.chains} chains x ({args.warmup} warm-up + "
          f"{args.samples * args.thin} steps{f', thinned by {args.thin}' if args.thin > 1 else ''}), "
          f"seed {args.seed}\n")

    result = fit(jax.random.key(args.seed), model, method=method, num_chains=args.chains,
                 num_samples=args.samples, num_warmup=args.warmup, thin=args.thin)
    table = summary(result, warn=False)
    group_rows = [n for n in table.names if n.split("[")[0] in model.group_params and "[" in n]
    other_rows = [n for n in table.names if n not in group_rows]
    rename = {n: f"{n.split('[')[0]}[{labels[int(n.split('[')[1][:-1])]}]" for n in group_rows}
    if other_rows:
        print(_labelled(table, other_rows, rename).table())
    if group_rows:
        print(f"\nper {group} ({', '.join(model.group_params)}; groups in order of first appearance):")
        print(_labelled(table, group_rows, rename).table())
    flagged = table.flagged
    limit = ESS_PER_CHAIN * table.num_chains
    if table.reached:
        print("\n! prior bound: " + describe_reached({rename.get(n, n): v for n, v in table.reached.items()})
              .replace("Use a wider prior (or the data-scaled defaults)",
                       "Use a wider prior (--prior NAME=PRIOR, or --priors auto)"))
    if flagged:
        worst = "; ".join(f"{rename.get(n, n)} ({', '.join(w)})" for n, w in list(flagged.items())[:6])
        more = f"; and {len(flagged) - 6} more" if len(flagged) > 6 else ""
        advice = ("The posterior reaches a bound of its prior (above): widen those priors; running longer "
                  "will not help." if table.reached else "Run longer (--samples) before trusting them.")
        print(f"\n! not converged: {len(flagged)} of {len(table)} parameters have R-hat > {RHAT_THRESHOLD} or "
              f"bulk/tail ESS < {limit}: {worst}{more}. {advice}")
    else:
        print(f"\nconverged: all {len(table)} parameters have R-hat <= {RHAT_THRESHOLD} and bulk and "
              f"tail ESS >= {limit}")

    if not args.no_plots:
        print()
        if model.split is not None:
            fig = plots.caterpillar(result, list(model.group_params), labels)
            _write(os.path.join(args.out, "caterpillar.png"), lambda p: fig.savefig(p, dpi=110))
        else:
            print(f"(the {args.model} model has no per-group parameters: no caterpillar plot)")
        if entry.partial_pooling:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PriorWarning)  # the model above's priors are what matter
                reference = models.unpooled(data, priors=args.priors)
            unpooled = fit(jax.random.key(args.seed + 1), reference, num_chains=args.chains,
                           num_samples=min(args.samples, 2000), num_warmup=args.warmup)
            fig = plots.partial_pooling(result, unpooled, list(model.group_params), group_sizes=sizes,
                                        identified=_identified(data))
            _write(os.path.join(args.out, "shrinkage.png"), lambda p: fig.savefig(p, dpi=110))
    draws = {k: np.asarray(v) for k, v in result.draws.items()}
    if args.save:
        arrays = dict(draws, group_labels=np.array(labels, dtype=str))
        _write(args.save, lambda p: np.savez(p, **arrays))
    if args.netcdf:
        import arviz

        idata = result.to_arviz()
        if model.split is not None:  # name the group dimension and its coordinates after the data
            dims = {k: [group] for k in model.group_params}
            idata.posterior = arviz.from_dict(posterior=draws, dims=dims, coords={group: labels}).posterior
        _write(args.netcdf, idata.to_netcdf)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jaxmh`` command."""
    args = _parser().parse_args(argv)
    from jaxmh import compilation_cache

    compilation_cache.enable()  # compiled samplers are reused by the next run (JAXMH_CACHE_DIR=off: no)
    try:
        if args.command == "compare":
            return _compare(args)
        if args.command == "study":
            return _study(args)
        if args.command == "fit":
            return _fit(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"jaxmh {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
