"""Reference posteriors for three non-Gaussian formula models, by long NumPyro NUTS runs.

The counterpart of ``benchmarks/formula_reference.py`` (whose functions it
imports) for the families ``binomial``, ``poisson`` and ``bernoulli``.  For
each model the script builds the jaxmh model (so the design arrays ``y``,
``X``, each bar term's ``index`` and ``Z``, ``trials``, ``offset`` and the
priors are exactly jaxmh's), writes the same posterior in NumPyro from
``m.data``, ``m.layout`` and the priors
(``formula_reference.numpyro_model``)::

    eta = X b + sum_f sum_k Z_f[:, k] u_f[index_f, k] + offset
    y ~ Binomial(trials, logit^-1(eta))        (binomial; bernoulli: trials = 1)
    y ~ Poisson(exp(eta))                      (poisson)
    u_f[l] = sd_f * z_f[l],  z_f[l] ~ N(0, 1)  (non-centred; every term here is (1 | GROUP))

each jaxmh prior mapped to the NumPyro distribution with the same parameters,
runs NUTS in float64 (default 4 chains x 2,000 warm-up + 20,000 draws,
``target_accept_prob=0.95``, grouseticks 0.99; chains started at the prior
medians, ``init_to_median``), and saves per parameter, under jaxmh's names
(group-level effects per level as ``TERM|GROUP[label]``), the posterior mean,
sd, the MCSE of the mean and of the sd (ArviZ ``mcse``), bulk and tail ESS
and R-hat (ArviZ), with the divergences and the run's settings, to
``tests/data/families_reference.json``, in the format of
``tests/data/formula_reference.json`` plus each model's ``family`` and the
keyword arguments that build it (``model_kwargs``: ``family``, ``trials``).

Models:

``cbpp``
    ``incidence ~ C(period) + (1 | herd)``, ``family="binomial"``,
    ``trials="size"``: lme4's ``cbpp`` (56 herd-periods, 15 herds x up to 4
    periods; bundled, ``jaxmh.datasets.columns("cbpp")``).
``grouseticks``
    ``TICKS ~ C(YEAR) + cHEIGHT + (1 | BROOD) + (1 | LOCATION)``,
    ``family="poisson"``: lme4's ``grouseticks`` (403 chicks, 118 broods and
    63 locations, two crossed grouping factors; bundled).
``bernoulli``
    ``y ~ x + (1 | respondent) + (1 | item)``, ``family="bernoulli"``, on data
    simulated here (fixed seed) and written to
    ``tests/data/families_bernoulli.csv``: 100 respondents ``r001``..``r100``
    x 30 items ``i01``..``i30`` (3,000 rows), ``x ~ N(0, 1)`` rounded to 3
    dp, ``logit P(y = 1) = -0.3 + 0.8 x + u_respondent + v_item``,
    ``u ~ N(0, 1)``, ``v ~ N(0, 0.7^2)``.  The simulation and its true values
    (including each level's effect) are recorded in the JSON
    (``bernoulli_data``).

A run with R-hat >= 1.01 or divergences is rerun with a higher
``target_accept_prob`` (0.99, then 0.995) and the next seed; if it still has
them the JSON says so (``"clean": false``).

Why ``init_to_median`` and grouseticks at 0.99: in trial runs of grouseticks
(4 x 1,000 draws after 1,000 or 2,000 warm-up, with priors like jaxmh's
defaults) from NumPyro's default start (uniform on (-2, 2), unconstrained),
one chain of four at times settled during warm-up in the neck of a funnel
(``sd(Intercept|BROOD)`` near 0.02 against a posterior of about
0.84 +- 0.13; with BROOD's effects centred instead, ``sd(Intercept|LOCATION)``
near 0.01 against 0.51 +- 0.23), with a step size a
quarter of the other chains' and every tree at the depth limit (R-hat 1.5);
started at the prior medians (standardised effects 0, sds at their prior
median) no chain did.  At 0.95 the default start gave 6 divergences in
4 x 1,000 draws; at 0.99 from the medians there were none.

Usage: ``python benchmarks/families_reference.py [--chains 4] [--warmup 2000]
[--samples 20000] [--models cbpp,grouseticks,bernoulli]
[--out tests/data/families_reference.json]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpyro  # noqa: E402

if __name__ == "__main__":   # the reference runs in float64
    numpyro.enable_x64()

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
from _common import machine, write_json  # noqa: E402
from formula_reference import DATA_DIR, jaxmh_draws, rows, run_nuts, summarize  # noqa: E402
from numpyro.infer import init_to_median  # noqa: E402

import jaxmh  # noqa: E402

DEFAULT_OUT = os.path.join(DATA_DIR, "families_reference.json")
BERNOULLI_CSV = os.path.join(DATA_DIR, "families_bernoulli.csv")
BERNOULLI_SEED = 20240614

#: name: (formula, data source as written in the JSON, keyword arguments of ``jaxmh.model``)
MODELS = {
    "cbpp": ("incidence ~ C(period) + (1 | herd)", "jaxmh.datasets.columns('cbpp')",
             {"family": "binomial", "trials": "size"}),
    "grouseticks": ("TICKS ~ C(YEAR) + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                    "jaxmh.datasets.columns('grouseticks')", {"family": "poisson"}),
    "bernoulli": ("y ~ x + (1 | respondent) + (1 | item)", "tests/data/families_bernoulli.csv",
                  {"family": "bernoulli"}),
}

#: Target acceptance probabilities tried in turn (the next one after a run with divergences or R-hat >= 1.01);
#: grouseticks starts at 0.99 (see the module docstring).
TARGET_ACCEPTS = {"grouseticks": (0.99, 0.995, 0.999)}

#: Draws per chain for a model too slow for ``--samples`` within the run's time budget (none needed so far).
SAMPLES = {}

#: The simulated Bernoulli data's design and true values.
BERNOULLI_TRUTH = {"num_respondents": 100, "num_items": 30, "Intercept": -0.3, "x": 0.8,
                   "sd(Intercept|respondent)": 1.0, "sd(Intercept|item)": 0.7}


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def simulate_bernoulli(seed: int = BERNOULLI_SEED) -> tuple[dict, dict]:
    """Respondents x items 0/1 data for ``y ~ x + (1 | respondent) + (1 | item)``.

    Parameters
    ----------
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    columns : dict
        ``y`` (0/1 ints), ``x`` (N(0, 1), 3 dp), ``respondent`` (``r001``..),
        ``item`` (``i01``..); one row per respondent and item, respondents
        outermost.
    truth : dict
        :data:`BERNOULLI_TRUTH` plus the drawn level effects
        ``Intercept|respondent`` and ``Intercept|item`` (``{label: value}``).
    """
    t = BERNOULLI_TRUTH
    rng = np.random.default_rng(seed)
    num_r, num_i = t["num_respondents"], t["num_items"]
    r_labels = [f"r{j + 1:03d}" for j in range(num_r)]
    i_labels = [f"i{j + 1:02d}" for j in range(num_i)]
    ri = np.repeat(np.arange(num_r), num_i)
    ii = np.tile(np.arange(num_i), num_r)
    x = np.round(rng.normal(0.0, 1.0, size=num_r * num_i), 3)
    u = rng.normal(0.0, t["sd(Intercept|respondent)"], size=num_r)
    v = rng.normal(0.0, t["sd(Intercept|item)"], size=num_i)
    eta = t["Intercept"] + t["x"] * x + u[ri] + v[ii]
    y = (rng.uniform(size=eta.shape) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    cols = {"y": y, "x": x, "respondent": np.array(r_labels)[ri], "item": np.array(i_labels)[ii]}
    truth = dict(t, **{"Intercept|respondent": dict(zip(r_labels, u.tolist())),
                       "Intercept|item": dict(zip(i_labels, v.tolist()))})
    return cols, truth


def write_bernoulli_csv(path: str = BERNOULLI_CSV, seed: int = BERNOULLI_SEED) -> dict:
    """Write :func:`simulate_bernoulli`'s data to ``path`` (columns ``y, x, respondent, item``); return the truth."""
    cols, truth = simulate_bernoulli(seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["y", "x", "respondent", "item"])
        for y, x, r, i in zip(cols["y"], cols["x"], cols["respondent"], cols["item"]):
            w.writerow([int(y), repr(float(x)), r, i])
    return truth


def data_of(name: str, csv_path: str = BERNOULLI_CSV):
    """The data ``jaxmh.model`` gets for model ``name`` (the Bernoulli data as its CSV path, as a test reads it)."""
    if name == "bernoulli":
        return csv_path
    return jaxmh.datasets.columns(name)


def build(name: str, csv_path: str = BERNOULLI_CSV):
    """The jaxmh model ``name``."""
    formula, _, kwargs = MODELS[name]
    return jaxmh.model(formula, data_of(name, csv_path), **kwargs)


# ---------------------------------------------------------------------------
# The reference runs
# ---------------------------------------------------------------------------
def reference(name: str, *, chains: int, warmup: int, samples: int, seed: int,
              target_accepts=(0.95, 0.99, 0.995), reduced: str = "") -> dict:
    """NUTS on model ``name`` (rerun at the next ``target_accepts`` until clean); its JSON entry."""
    m = build(name)
    formula, source, kwargs = MODELS[name]
    for attempt, ta in enumerate(target_accepts):
        draws, extra, seconds = run_nuts(m, chains=chains, warmup=warmup, samples=samples, seed=seed + attempt,
                                         target_accept=ta, init_strategy=init_to_median())
        divergences = int(np.sum(np.asarray(extra["diverging"])))
        params = summarize(rows(m, jaxmh_draws(m, draws)))
        max_rhat = max(p["rhat"] for p in params.values())
        min_ess = min(p["ess_bulk"] for p in params.values())
        steps = np.asarray(extra["num_steps"])
        print(f"{name}: target_accept {ta}: {chains} x {samples} draws in {seconds:.0f} s, {divergences} divergences, "
              f"max R-hat {max_rhat:.4f}, min bulk ESS {min_ess:.0f}, mean leapfrog steps {steps.mean():.1f}",
              flush=True)
        clean = max_rhat < 1.01 and divergences == 0
        if clean:
            break
    note = "clean: R-hat < 1.01 and no divergences" if clean else \
        f"NOT clean: {divergences} divergences / max R-hat {max_rhat:.4f} even at target_accept_prob {ta}"
    if reduced:
        note += "; " + reduced
    return {
        "formula": formula,
        "data": source,
        "family": kwargs["family"],
        "model_kwargs": dict(kwargs),
        "num_rows": int(m.layout.num_rows),
        "priors": {k: str(v) for k, v in m.data["priors"].items()},
        "priors_repr": {k: repr(v) for k, v in m.data["priors"].items()},
        "fixed": list(m.layout.fixed),
        "coords": {k: list(v) for k, v in m.layout.coords.items()},
        "sampler": "NumPyro NUTS, non-centred group effects (u = sd z), float64, chains started at the prior "
                   "medians (init_to_median)",
        "chains": chains,
        "warmup": warmup,
        "draws": samples,
        "seed": seed + attempt,
        "target_accept_prob": ta,
        "seconds": round(seconds, 1),
        "mean_leapfrog_steps": float(steps.mean()),
        "divergences": divergences,
        "max_rhat": max_rhat,
        "min_ess_bulk": min_ess,
        "clean": bool(clean),
        "note": note,
        "params": params,
    }


def main(argv=None) -> dict:
    """Run the reference for ``--models`` and write the JSON (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=20240614)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    truth = write_bernoulli_csv()
    models = {}
    for name in args.models.split(","):
        samples = min(args.samples, SAMPLES.get(name, args.samples))
        reduced = f"{samples} draws per chain instead of {args.samples}, for time" if samples < args.samples else ""
        models[name] = reference(name, chains=args.chains, warmup=args.warmup, samples=samples, seed=args.seed,
                                 target_accepts=TARGET_ACCEPTS.get(name, (0.95, 0.99, 0.995)), reduced=reduced)
    payload = {
        "description": "Reference posteriors of non-Gaussian jaxmh formula models by long NumPyro NUTS runs "
                       "(benchmarks/families_reference.py); parameters by jaxmh's names, group-level effects "
                       "per level as TERM|GROUP[label]; mcse_mean/mcse_sd/ess/rhat by ArviZ; build each model "
                       "as jaxmh.model(formula, data, **model_kwargs)",
        "bernoulli_data": {"path": "tests/data/families_bernoulli.csv", "seed": BERNOULLI_SEED,
                           "simulation": "100 respondents r001..r100 x 30 items i01..i30 (respondents outermost); "
                                         "x ~ N(0,1) (3 dp); u_r ~ N(0, 1), v_i ~ N(0, 0.7^2); "
                                         "y ~ Bernoulli(logit^-1(-0.3 + 0.8 x + u_r + v_i)) (0/1); "
                                         "numpy default_rng(seed): x, then u, then v, then the uniforms for y",
                           "truth": truth},
        "versions": {"numpyro": numpyro.__version__, "arviz": az.__version__, "jaxmh": jaxmh.__version__,
                     **machine()},
        "models": models,
    }
    write_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
