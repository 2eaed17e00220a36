"""Sampling efficiency: minimum bulk ESS per second over all parameters.

On the tutorial's hierarchical model (the R set.seed(1) data, 75 x 5) and on a
ragged dataset (85 groups of 1-100 observations from the same process), in the
same run:

* jaxmh ``rwm``: the tutorial's sampler (joint random walk, sd 0.1);
* jaxmh ``adaptive``: joint random walk with tuned per-coordinate scales;
* jaxmh ``blocked``: group-blocked Metropolis-within-Gibbs with interweaving;
* BlackJAX random-walk Metropolis with the tutorial's settings;
* NumPyro NUTS on the centred and on the non-centred model.

Every sampler runs 4 chains (NumPyro vectorised, its faster mode here); the random-walk samplers 2,000 warm-up + 10,000
kept steps, NUTS 1,000 + 1,000.  Each is run twice with the same shapes: the
first run's extra time is reported as compilation, the second is timed.
ESS is jaxmh's bulk ESS (identical to ArviZ's).  Usage:
``python benchmarks/efficiency.py [--json out.json] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax
import jax.numpy as jnp
import numpy as np
from _common import machine, write_json

import jaxmh
from jaxmh.diagnostics import ess_bulk, rhat

CHAINS = 4


def ragged_data(seed: int = 0, num_groups: int = 85) -> jaxmh.data.GroupedData:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 101, num_groups)
    alpha, beta = rng.normal(2, 1, num_groups), rng.normal(-2, 1, num_groups)
    group = np.repeat(np.arange(num_groups), sizes)
    x = rng.normal(size=group.size)
    y = alpha[group] + beta[group] * x + rng.normal(0, 2, group.size)
    return jaxmh.data.GroupedData(x, y, group)


def worst(draws: dict) -> tuple[float, float, str]:
    """Min bulk ESS, max R-hat and the name of the worst-mixing parameter."""
    best = (np.inf, 0.0, "")
    max_r = 0.0
    for name, v in draws.items():
        v = np.asarray(v, dtype=np.float64)
        e = np.atleast_1d(ess_bulk(v))
        max_r = max(max_r, float(np.nanmax(np.atleast_1d(rhat(v)))))
        i = int(np.argmin(e))
        if e[i] < best[0]:
            best = (float(e[i]), 0.0, name if v.ndim == 2 else f"{name}[{i}]")
    return best[0], max_r, best[2]


def timed_twice(run):
    """(result of second run, compile seconds, run seconds)."""
    t0 = time.perf_counter()
    jax.block_until_ready(run(0))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(run(1))
    second = time.perf_counter() - t0
    return out, max(first - second, 0.0), second


def jaxmh_run(model, method, warmup, samples):
    def run(seed):
        return jaxmh.fit(jax.random.key(seed), model, method=method, num_chains=CHAINS,
                         num_samples=samples, num_warmup=warmup).draws
    return run


def blackjax_run(model, warmup, samples):
    import blackjax

    algo = blackjax.additive_step_random_walk(model.logdensity, blackjax.mcmc.random_walk.normal(0.1))

    @jax.jit
    def loop(key, positions):
        states = jax.vmap(algo.init)(positions)

        def one(states, key):
            states, _ = jax.vmap(algo.step)(jax.random.split(key, CHAINS), states)
            return states, states.position

        keys = jax.random.split(key, warmup + samples)
        _, draws = jax.lax.scan(one, states, keys)
        return jax.tree.map(lambda d: jnp.swapaxes(d[warmup:], 0, 1), draws)

    def run(seed):
        return loop(jax.random.key(seed), model.init(jax.random.key(100 + seed), CHAINS))
    return run


def numpyro_run(data, centred, warmup, samples):
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    x, y, g, G = jnp.asarray(data.x), jnp.asarray(data.y), jnp.asarray(data.group), data.num_groups

    def model():
        mu_a = numpyro.sample("mu_alpha", dist.Normal(0, 3))
        mu_b = numpyro.sample("mu_beta", dist.Normal(0, 3))
        s_a = numpyro.sample("sigma_alpha", dist.Uniform(0, 10))
        s_b = numpyro.sample("sigma_beta", dist.Uniform(0, 10))
        sigma = numpyro.sample("sigma", dist.Uniform(0, 10))
        with numpyro.plate("groups", G):
            if centred:
                alpha = numpyro.sample("alpha", dist.Normal(mu_a, s_a))
                beta = numpyro.sample("beta", dist.Normal(mu_b, s_b))
            else:
                alpha = numpyro.deterministic("alpha", mu_a + s_a * numpyro.sample("z_alpha", dist.Normal(0, 1)))
                beta = numpyro.deterministic("beta", mu_b + s_b * numpyro.sample("z_beta", dist.Normal(0, 1)))
        numpyro.sample("y", dist.Normal(alpha[g] + beta[g] * x, sigma), obs=y)

    mcmc = MCMC(NUTS(model), num_warmup=warmup, num_samples=samples, num_chains=CHAINS,
                chain_method="vectorized", progress_bar=False)
    names = ["alpha", "beta", "mu_alpha", "mu_beta", "sigma_alpha", "sigma_beta", "sigma"]

    def run(seed):
        mcmc.run(jax.random.key(seed))
        s = mcmc.get_samples(group_by_chain=True)
        return {k: s[k] for k in names}
    return run, mcmc


def bench(name, data, quick):
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    warm, keep = (500, 2500) if quick else (2000, 10000)
    nuts_warm, nuts_keep = (500, 500) if quick else (1000, 1000)
    rows = []
    cases = [
        ("jaxmh rwm (tutorial)", jaxmh_run(model, "rwm", warm, keep), keep),
        ("jaxmh adaptive", jaxmh_run(model, "adaptive", warm, keep), keep),
        ("jaxmh blocked", jaxmh_run(model, "blocked", warm, keep), keep),
        ("BlackJAX rwm (tutorial)", blackjax_run(model, warm, keep), keep),
    ]
    for centred in (True, False):
        run, mcmc = numpyro_run(data, centred, nuts_warm, nuts_keep)
        cases.append((f"NumPyro NUTS {'centred' if centred else 'non-centred'}", run, nuts_keep, mcmc))
    for case in cases:
        label, run, kept = case[:3]
        draws, compile_s, run_s = timed_twice(run)
        ess, max_r, worst_name = worst(draws)
        extra = ""
        if len(case) == 4:
            div = int(np.sum(np.asarray(case[3].get_extra_fields()["diverging"])))
            extra = f"{div} divergences"
        rows.append(dict(dataset=name, sampler=label, draws_per_chain=kept, compile_s=compile_s,
                         run_s=run_s, min_ess_bulk=ess, worst=worst_name, max_rhat=max_r,
                         ess_per_s=ess / run_s, note=extra))
        print(f"{name:<10}{label:<26}{compile_s:>9.2f}{run_s:>9.2f}{ess:>10.0f}{ess / run_s:>11.1f}"
              f"{max_r:>9.3f}  {worst_name:<14}{extra}", flush=True)
    blocked = next(r for r in rows if r["sampler"] == "jaxmh blocked")["ess_per_s"]
    best_nuts = max(r["ess_per_s"] for r in rows if r["sampler"].startswith("NumPyro"))
    tutorial = next(r for r in rows if r["sampler"] == "jaxmh rwm (tutorial)")["ess_per_s"]
    print(f"{name}: blocked / best NUTS = {blocked / best_nuts:.1f}x, blocked / tutorial rwm = "
          f"{blocked / tutorial:.0f}x\n", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    args = parser.parse_args(argv)
    info = machine()
    print(f"# {info['cpu']} ({info['cores']} cores), jax {info['jax']}")
    print(f"{'dataset':<10}{'sampler':<26}{'compile':>9}{'run s':>9}{'min ESS':>10}{'ESS/s':>11}"
          f"{'max R^':>9}  worst")
    tutorial, _ = jaxmh.datasets.tutorial()
    rows = bench("tutorial", tutorial, args.quick) + bench("ragged", ragged_data(), args.quick)
    write_json(args.json, {"machine": info, "results": rows})


if __name__ == "__main__":
    main()
