"""Reference posteriors for three formula models (``jaxmh.model``), by long NumPyro NUTS runs.

For each model the script builds the jaxmh model (so the design arrays ``y``,
``X``, each bar term's ``index`` and ``Z``, and the priors are exactly
jaxmh's), writes the same posterior in NumPyro from ``m.data``, ``m.layout``
and the priors::

    y ~ N(X b + sum_f sum_k Z_f[:, k] u_f[index_f, k], sigma)
    u_f[l] = diag(sd_f) L_f z_f[l],  z_f[l] ~ N(0, I)     (non-centred)
    L_f ~ LKJCholesky(k, eta)                              (correlated terms, k > 1)

each jaxmh prior mapped to the NumPyro distribution with the same parameters
(``Normal(loc, scale)``, ``Exponential(rate)``, ``HalfNormal``, ``HalfCauchy``,
``StudentT``, ``HalfStudentT`` (folded), ``Uniform``, ``LKJ(eta)``), runs NUTS
in float64 (default 4 chains x 2,000 warm-up + 20,000 draws,
``target_accept_prob=0.95``), and saves per parameter, under jaxmh's names
(group-level effects per level as ``TERM|GROUP[label]``), the posterior mean,
sd, the MCSE of the mean and of the sd (ArviZ ``mcse``), bulk and tail ESS
and R-hat (ArviZ), with the divergences and the run's settings, to
``tests/data/formula_reference.json``.

Models:

``sleepstudy``
    ``Reaction ~ Days + (Days | Subject)`` (correlated intercept and slope).
``penicillin``
    ``diameter ~ 1 + (1 | plate) + (1 | sample)`` (two crossed factors).
``categorical``
    ``y ~ x * f + (1 | g)`` on data simulated here (fixed seed) and written to
    ``tests/data/formula_categorical.csv``: ``x`` numeric, ``f`` a text factor
    with levels ``a``, ``b``, ``c``, ``g`` 30 groups ``g01``..``g30`` of 10 rows.

A run with R-hat >= 1.01 or divergences is rerun with a higher
``target_accept_prob`` (0.99, then 0.995; penicillin starts at 0.99, as a
short trial run at 0.95 had a divergence); if it still has them the JSON says
so (``"clean": false``).

:func:`numpyro_model` (the NumPyro twin of a jaxmh formula model, centred or
non-centred) is also used by ``benchmarks/formula.py``, and with
:func:`jaxmh_draws` by ``benchmarks/families_reference.py`` for the
non-Gaussian families (``m.layout.family`` ``"bernoulli"`` / ``"binomial"``:
``y ~ Binomial(trials, logit^-1(eta))``; ``"poisson"``: ``y ~ Poisson(exp(eta))``;
``eta`` the same linear predictor plus ``m.data["offset"]``; no ``sigma``).

Usage: ``python benchmarks/formula_reference.py [--chains 4] [--warmup 2000]
[--samples 20000] [--models sleepstudy,penicillin,categorical]
[--out tests/data/formula_reference.json]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpyro  # noqa: E402

if __name__ == "__main__":   # the reference runs in float64; benchmarks/formula.py imports this module in its own dtype
    numpyro.enable_x64()

import arviz as az  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from _common import machine, write_json  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

import jaxmh  # noqa: E402
from jaxmh import priors as P  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, os.pardir, "tests", "data")
DEFAULT_OUT = os.path.join(DATA_DIR, "formula_reference.json")
CATEGORICAL_CSV = os.path.join(DATA_DIR, "formula_categorical.csv")
CATEGORICAL_SEED = 20240613

MODELS = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "jaxmh.datasets.columns('sleepstudy')"),
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "jaxmh.datasets.columns('penicillin')"),
    "categorical": ("y ~ x * f + (1 | g)", "tests/data/formula_categorical.csv"),
}


#: penicillin's sd(Intercept|sample) (6 levels) gives an occasional divergence at 0.95 (1 in 4,000 draws in a
#: short trial run), so its long run starts at 0.99.
TARGET_ACCEPTS = {"penicillin": (0.99, 0.995, 0.999)}


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def simulate_categorical(seed: int = CATEGORICAL_SEED) -> dict:
    """``y ~ x * f + (1 | g)`` data: 30 groups x 10 rows, ``f`` in a/b/c, ``x`` ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    num_groups, per_group = 30, 10
    n = num_groups * per_group
    g = np.repeat([f"g{j + 1:02d}" for j in range(num_groups)], per_group)
    f = rng.choice(np.array(["a", "b", "c"]), size=n)
    x = np.round(rng.normal(0.0, 1.0, size=n), 3)
    level = {"a": 0, "b": 1, "c": 2}
    fi = np.array([level[v] for v in f])
    b0, bx = 2.0, 0.8
    bf = np.array([0.0, 1.0, -0.5])      # f[b], f[c]
    bxf = np.array([0.0, -0.6, 0.4])     # x:f[b], x:f[c]
    u = rng.normal(0.0, 0.7, size=num_groups)
    gi = np.repeat(np.arange(num_groups), per_group)
    y = b0 + bx * x + bf[fi] + bxf[fi] * x + u[gi] + rng.normal(0.0, 1.0, size=n)
    return {"y": np.round(y, 4), "x": x, "f": f, "g": g}


def write_categorical_csv(path: str = CATEGORICAL_CSV, seed: int = CATEGORICAL_SEED) -> str:
    cols = simulate_categorical(seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["y", "x", "f", "g"])
        for row in zip(cols["y"], cols["x"], cols["f"], cols["g"]):
            w.writerow([repr(float(row[0])), repr(float(row[1])), row[2], row[3]])
    return path


def build(name: str, csv_path: str = CATEGORICAL_CSV):
    """The jaxmh model ``name`` (the categorical one read back from its CSV, as a test would)."""
    formula = MODELS[name][0]
    if name == "categorical":
        return jaxmh.model(formula, csv_path)
    return jaxmh.model(formula, jaxmh.datasets.columns(name))


# ---------------------------------------------------------------------------
# The NumPyro twin of a jaxmh formula model
# ---------------------------------------------------------------------------
#: The likelihoods :func:`numpyro_model` knows (``m.layout.family``).
FAMILIES = ("gaussian", "bernoulli", "binomial", "poisson")


def _family(m) -> str:
    """``m.layout.family`` (``"gaussian"`` for a layout without one)."""
    return getattr(m.layout, "family", "gaussian")


def to_numpyro(prior):
    """The NumPyro distribution with the same parameters as a jaxmh prior."""
    if isinstance(prior, P.Normal):
        return dist.Normal(prior.loc, prior.scale)
    if isinstance(prior, P.Exponential):
        return dist.Exponential(prior.rate)
    if isinstance(prior, P.HalfNormal):
        return dist.HalfNormal(prior.scale)
    if isinstance(prior, P.HalfCauchy):
        return dist.HalfCauchy(prior.scale)
    if isinstance(prior, P.StudentT):
        return dist.StudentT(prior.df, prior.loc, prior.scale)
    if isinstance(prior, P.HalfStudentT):
        return dist.FoldedDistribution(dist.StudentT(prior.df, 0.0, prior.scale))
    if isinstance(prior, P.Uniform):
        return dist.Uniform(prior.low, prior.high)
    raise TypeError(f"no NumPyro counterpart for prior {prior!r}")


def numpyro_model(m, centered=False):
    """``model()`` for NumPyro: the posterior of the jaxmh formula model ``m``.

    Sites: the fixed effects, the sds and (Gaussian family only) ``sigma``
    under jaxmh's names; per correlated term ``L(GROUP)`` (LKJ Cholesky
    factor); the group-level effects as a deterministic ``u(GROUP)``
    (levels, k) (non-centred: from standard normals ``z(GROUP)``; centred:
    sampled directly; ``centered`` is a bool for every term, or a collection
    of grouping factors' names to centre, the others non-centred).

    The likelihood follows ``m.layout.family``: ``"gaussian"``
    ``y ~ N(eta, sigma)``; ``"bernoulli"`` and ``"binomial"``
    ``y ~ Binomial(m.data["trials"], logits=eta)``; ``"poisson"``
    ``y ~ Poisson(exp(eta))``, where ``eta = X b + sum_f sum_k Z_f[:, k]
    u_f[index_f, k]`` plus ``m.data["offset"]`` for the non-Gaussian
    families."""
    layout, data = m.layout, m.data
    family = _family(m)
    if family not in FAMILIES:
        raise ValueError(f"no NumPyro likelihood for family {family!r}; known: {FAMILIES}")
    chosen = data["priors"]
    dtype = jnp.result_type(float)
    y = jnp.asarray(data["y"], dtype)
    X = jnp.asarray(data["X"], dtype)
    factors = [(jnp.asarray(f["index"]), jnp.asarray(f["Z"], dtype)) for f in data["factors"]]
    if family != "gaussian":
        trials = jnp.asarray(data["trials"], dtype)
        offset = jnp.asarray(data["offset"], dtype)

    def model():
        eta = jnp.zeros(y.shape[0], dtype)
        if layout.fixed:
            b = jnp.stack([numpyro.sample(k, to_numpyro(chosen[k])) for k in layout.fixed])
            eta = X @ b
        for term, (index, Z) in zip(layout.terms, factors):
            k, num = len(term.columns), len(term.labels)
            centre = centered if isinstance(centered, bool) else term.factor in centered
            sd = jnp.stack([numpyro.sample(s, to_numpyro(chosen[s])) for s in term.sds])
            if term.correlated:
                L = numpyro.sample(f"L({term.factor})", dist.LKJCholesky(k, chosen[f"cor({term.factor})"].eta))
                scale_tril = sd[:, None] * L
                if centre:
                    u = numpyro.sample(f"u({term.factor})",
                                       dist.MultivariateNormal(jnp.zeros(k, dtype), scale_tril=scale_tril)
                                       .expand([num]).to_event(1))
                else:
                    z = numpyro.sample(f"z({term.factor})", dist.Normal(0.0, 1.0).expand([num, k]).to_event(2))
                    u = numpyro.deterministic(f"u({term.factor})", z @ scale_tril.T)
            else:
                if centre:
                    u = numpyro.sample(f"u({term.factor})",
                                       dist.Normal(jnp.zeros((num, k), dtype), sd).to_event(2))
                else:
                    z = numpyro.sample(f"z({term.factor})", dist.Normal(0.0, 1.0).expand([num, k]).to_event(2))
                    u = numpyro.deterministic(f"u({term.factor})", z * sd)
            eta = eta + jnp.sum(Z * u[index], axis=-1)
        if family == "gaussian":
            sigma = numpyro.sample("sigma", to_numpyro(chosen["sigma"]))
            numpyro.sample("y", dist.Normal(eta, sigma), obs=y)
            return
        eta = eta + offset
        if family == "poisson":
            numpyro.sample("y", dist.Poisson(jnp.exp(eta)), obs=y)
        else:                              # bernoulli (trials all 1) and binomial
            numpyro.sample("y", dist.Binomial(total_count=trials, logits=eta), obs=y)

    return model


def jaxmh_draws(m, samples: dict) -> dict:
    """NumPyro's draws (chain, draw, ...) as jaxmh's leaves: fixed effects, sds, ``cor(...)``, ``sigma``
    (Gaussian family only), and each ``TERM|GROUP`` as (chain, draw, levels)."""
    layout = m.layout
    out = {k: np.asarray(samples[k]) for k in layout.fixed}
    for term in layout.terms:
        for s in term.sds:
            out[s] = np.asarray(samples[s])
        u = np.asarray(samples[f"u({term.factor})"])
        for j, e in enumerate(term.effects):
            out[e] = u[..., j]
        if term.cors:
            L = np.asarray(samples[f"L({term.factor})"])
            omega = L @ np.swapaxes(L, -1, -2)
            k = len(term.columns)
            it = iter(term.cors)
            for i in range(k):
                for j in range(i):
                    out[next(it)] = omega[..., i, j]
    if _family(m) == "gaussian":
        out["sigma"] = np.asarray(samples["sigma"])
    return out


def rows(m, draws: dict) -> dict:
    """``{row name: (chain, draw) array}`` with group-level effects per level as ``TERM|GROUP[label]``."""
    coords = m.layout.coords
    out = {}
    for k, v in draws.items():
        if v.ndim == 2:
            out[k] = v
        else:
            for j, label in enumerate(coords[k]):
                out[f"{k}[{label}]"] = v[..., j]
    return out


# ---------------------------------------------------------------------------
# The reference runs
# ---------------------------------------------------------------------------
def run_nuts(m, *, chains: int, warmup: int, samples: int, seed: int, target_accept: float,
             centered=False, chain_method: str = "sequential", init_strategy=None):
    """NUTS on :func:`numpyro_model`; ``init_strategy`` None for NumPyro's default (``init_to_uniform``)."""
    options = {} if init_strategy is None else {"init_strategy": init_strategy}
    kernel = NUTS(numpyro_model(m, centered), target_accept_prob=target_accept, **options)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=samples, num_chains=chains, chain_method=chain_method,
                progress_bar=False)
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), extra_fields=("diverging", "num_steps"))
    samples_ = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples_)
    seconds = time.perf_counter() - start
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return samples_, extra, seconds


def summarize(table: dict) -> dict:
    params = {}
    for name, x in table.items():
        x = np.asarray(x, np.float64)
        params[name] = {
            "mean": float(x.mean()),
            "sd": float(x.std(ddof=1)),
            "mcse_mean": float(az.mcse(x, method="mean")),
            "mcse_sd": float(az.mcse(x, method="sd")),
            "ess_bulk": float(az.ess(x, method="bulk")),
            "ess_tail": float(az.ess(x, method="tail")),
            "rhat": float(az.rhat(x)),
        }
    return params


def reference(name: str, *, chains: int, warmup: int, samples: int, seed: int,
              target_accepts=(0.95, 0.99, 0.995)) -> dict:
    m = build(name)
    formula, source = MODELS[name]
    for attempt, ta in enumerate(target_accepts):
        draws, extra, seconds = run_nuts(m, chains=chains, warmup=warmup, samples=samples, seed=seed + attempt,
                                         target_accept=ta)
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
    return {
        "formula": formula,
        "data": source,
        "num_rows": int(m.layout.num_rows),
        "priors": {k: str(v) for k, v in m.data["priors"].items()},
        "priors_repr": {k: repr(v) for k, v in m.data["priors"].items()},
        "fixed": list(m.layout.fixed),
        "coords": {k: list(v) for k, v in m.layout.coords.items()},
        "sampler": "NumPyro NUTS, non-centred group effects (u = diag(sd) L z), LKJCholesky for correlations, "
                   "float64",
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=20240613)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    write_categorical_csv()
    models = {}
    for name in args.models.split(","):
        models[name] = reference(name, chains=args.chains, warmup=args.warmup, samples=args.samples,
                                 seed=args.seed, target_accepts=TARGET_ACCEPTS.get(name, (0.95, 0.99, 0.995)))
    payload = {
        "description": "Reference posteriors of jaxmh formula models by long NumPyro NUTS runs "
                       "(benchmarks/formula_reference.py); parameters by jaxmh's names, group-level effects "
                       "per level as TERM|GROUP[label]; mcse_mean/mcse_sd/ess/rhat by ArviZ",
        "categorical_data": {"path": "tests/data/formula_categorical.csv", "seed": CATEGORICAL_SEED,
                             "simulation": "x ~ N(0,1) (3 dp); f uniform on a/b/c; 30 groups g01..g30 x 10 rows; "
                                           "y = 2 + 0.8 x + (0, 1, -0.5)[f] + (0, -0.6, 0.4)[f] x + u_g + e, "
                                           "u_g ~ N(0, 0.7^2), e ~ N(0, 1) (4 dp)"},
        "versions": {"numpyro": numpyro.__version__, "arviz": az.__version__, "jaxmh": jaxmh.__version__,
                     **machine()},
        "models": models,
    }
    write_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
