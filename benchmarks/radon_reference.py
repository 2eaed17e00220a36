"""Reference posterior for the Minnesota radon varying intercept and slope model.

Runs NumPyro's NUTS (the ``bench`` extra: ``pip install -e ".[bench]"``) on
posteriordb's ``radon_mn-radon_variable_intercept_slope_centered`` posterior,

    log_radon_n ~ N(alpha[c_n] + beta[c_n] * floor_n, sigma_y^2)
    alpha_j ~ N(mu_alpha, sigma_alpha^2),  beta_j ~ N(mu_beta, sigma_beta^2)
    mu_alpha, mu_beta ~ N(0, 10^2),  sigma_y, sigma_alpha, sigma_beta ~ half-normal(1),

written non-centred for NUTS (the same posterior), in float64, and saves per
parameter the mean, sd, the MCSE of the mean and of the sd (computed with
``jaxmh.diagnostics``), bulk ESS and R-hat, plus the run's settings and
versions, to ``tests/data/radon_reference.json``.  jaxmh calls ``sigma_y``
``sigma``; the file uses jaxmh's names (``alpha[0]`` is the first county,
0-based).  ``tests/test_radon.py`` checks ``jaxmh.fit`` against it.

Usage: ``python benchmarks/radon_reference.py [--chains 4] [--warmup 2000]
[--samples 10000] [--out tests/data/radon_reference.json]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import numpyro

numpyro.enable_x64()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from _common import machine, write_json  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

import jaxmh  # noqa: E402
from jaxmh import diagnostics  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, os.pardir, "tests", "data", "radon_reference.json")


def model(x, group, num_groups, y=None):
    mu_a = numpyro.sample("mu_alpha", dist.Normal(0.0, 10.0))
    mu_b = numpyro.sample("mu_beta", dist.Normal(0.0, 10.0))
    s_a = numpyro.sample("sigma_alpha", dist.HalfNormal(1.0))
    s_b = numpyro.sample("sigma_beta", dist.HalfNormal(1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("county", num_groups):
        alpha = numpyro.deterministic("alpha", mu_a + s_a * numpyro.sample("z_alpha", dist.Normal(0.0, 1.0)))
        beta = numpyro.deterministic("beta", mu_b + s_b * numpyro.sample("z_beta", dist.Normal(0.0, 1.0)))
    numpyro.sample("y", dist.Normal(alpha[group] + beta[group] * x, sigma), obs=y)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    data, counties = jaxmh.datasets.radon()
    kernel = NUTS(model, target_accept_prob=0.9)
    mcmc = MCMC(kernel, num_warmup=args.warmup, num_samples=args.samples, num_chains=args.chains,
                chain_method="sequential", progress_bar=False)
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(args.seed), jnp.asarray(data.x), jnp.asarray(data.group),
             data.num_groups, y=jnp.asarray(data.y), extra_fields=("diverging",))
    seconds = time.perf_counter() - start
    draws = mcmc.get_samples(group_by_chain=True)
    divergences = int(np.sum(mcmc.get_extra_fields(group_by_chain=True)["diverging"]))

    params = {}
    for name in ("mu_alpha", "mu_beta", "sigma", "sigma_alpha", "sigma_beta", "alpha", "beta"):
        x = np.asarray(draws[name], dtype=np.float64)
        cols = {"mean": x.mean(axis=(0, 1)), "sd": x.std(axis=(0, 1), ddof=1),
                "mcse_mean": diagnostics.mcse_mean(x), "mcse_sd": diagnostics.mcse_sd(x),
                "ess_bulk": diagnostics.ess_bulk(x), "rhat": diagnostics.rhat(x)}
        rows = [name] if x.ndim == 2 else [f"{name}[{j}]" for j in range(x.shape[2])]
        for j, row in enumerate(rows):
            params[row] = {k: float(np.ravel(v)[j]) for k, v in cols.items()}
    max_rhat = max(p["rhat"] for p in params.values())
    min_ess = min(p["ess_bulk"] for p in params.values())
    print(f"NUTS: {args.chains} x {args.samples} draws in {seconds:.0f} s, {divergences} divergences, "
          f"max R-hat {max_rhat:.4f}, min bulk ESS {min_ess:.0f}")
    if max_rhat >= 1.01 or divergences:
        raise SystemExit("the reference run did not converge cleanly (R-hat >= 1.01 or divergences); not saved")
    payload = {
        "posterior": "posteriordb radon_mn-radon_variable_intercept_slope_centered (jaxmh names: sigma = sigma_y)",
        "sampler": f"NumPyro NUTS (non-centred), target_accept_prob 0.9, float64, "
                   f"{args.chains} chains x {args.warmup} warm-up + {args.samples} draws, seed {args.seed}",
        "divergences": divergences,
        "max_rhat": max_rhat,
        "min_ess_bulk": min_ess,
        "counties": list(counties),
        "versions": {"numpyro": numpyro.__version__, "jaxmh": jaxmh.__version__, **machine()},
        "params": params,
    }
    write_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
