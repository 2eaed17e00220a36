"""Bølstad (2019), "The Benefits of Bayesian Hierarchical Modeling", step by step in jaxmh.

Hold this file beside the R post: each section below is one step of the post,
in the post's order and with its names.  Run it with

    python examples/tutorial.py            # the post's settings: 10,000 iterations, 2,000 warm-up
    python examples/tutorial.py --iterations 1000 --warmup 200   # quicker

It prints the RMSEs of the unpooled and the hierarchical model and writes the
shrinkage figure (``tutorial_shrinkage.png``).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm, uniform

import jaxmh

# ---------------------------------------------------------------------------
# 1. Simulate the data: 75 individuals with 5 observations each.
#    alpha_i ~ N(2, 1), beta_i ~ N(-2, 1), x_ij ~ N(0, 1),
#    y_ij ~ N(alpha_i + beta_i x_ij, 2^2).
#    (jaxmh.datasets.tutorial() holds the exact numbers R's set.seed(1) gives.)
# ---------------------------------------------------------------------------
n_individuals, n_observations = 75, 5


def simulate(key):
    data, truth = jaxmh.data.simulate(key, n_individuals, n_observations)
    return data, truth


# ---------------------------------------------------------------------------
# 2. The log-likelihood: sum over all observations of log N(y | alpha_i + beta_i x, sigma).
#    Parameters live in a dict (a pytree), not in one long vector.
# ---------------------------------------------------------------------------
def make_loglikelihood(data):
    x, y, i = jnp.asarray(data.x), jnp.asarray(data.y), jnp.asarray(data.group)

    def loglikelihood(p):
        return jnp.sum(norm.logpdf(y, p["alpha"][i] + p["beta"][i] * x, p["sigma"]))

    return loglikelihood


# ---------------------------------------------------------------------------
# 3. The two log-priors.
#    Unpooled: flat U(-100, 100) on every alpha_i and beta_i, sigma ~ U(0, 10).
#    Hierarchical: alpha_i ~ N(mu_alpha, sigma_alpha), beta_i ~ N(mu_beta, sigma_beta),
#    mu_alpha, mu_beta ~ N(0, 3^2), sigma_alpha, sigma_beta, sigma ~ U(0, 10).
# ---------------------------------------------------------------------------
def logprior_unpooled(p):
    return (jnp.sum(uniform.logpdf(p["alpha"], -100, 200))
            + jnp.sum(uniform.logpdf(p["beta"], -100, 200))
            + uniform.logpdf(p["sigma"], 0, 10))


def logprior_hierarchical(p):
    return (jnp.sum(norm.logpdf(p["alpha"], p["mu_alpha"], p["sigma_alpha"]))
            + jnp.sum(norm.logpdf(p["beta"], p["mu_beta"], p["sigma_beta"]))
            + norm.logpdf(p["mu_alpha"], 0, 3) + norm.logpdf(p["mu_beta"], 0, 3)
            + uniform.logpdf(p["sigma_alpha"], 0, 10) + uniform.logpdf(p["sigma_beta"], 0, 10)
            + uniform.logpdf(p["sigma"], 0, 10))


# ---------------------------------------------------------------------------
# 4. The log-posteriors: log-likelihood + log-prior.  A position outside a
#    prior's support has log-density -inf and is never accepted.
# ---------------------------------------------------------------------------
def make_logposteriors(data):
    loglikelihood = make_loglikelihood(data)

    def logposterior_unpooled(p):
        lp = logprior_unpooled(p)
        return jnp.where(jnp.isfinite(lp), lp + loglikelihood(p), -jnp.inf)

    def logposterior_hierarchical(p):
        lp = logprior_hierarchical(p)
        return jnp.where(jnp.isfinite(lp), lp + loglikelihood(p), -jnp.inf)

    return logposterior_unpooled, logposterior_hierarchical


# ---------------------------------------------------------------------------
# 5. The proposal: every parameter moves at once by N(0, sd^2) noise.
# 6. The Metropolis sampler: accept with probability min(1, exp(new - old)).
#    This is what one step of the post's loop does, written in JAX ...
# ---------------------------------------------------------------------------
def metropolis_step(key, params, logpost, logposterior, sd):
    key_proposal, key_accept = jax.random.split(key)
    leaves, treedef = jax.tree.flatten(params)
    noise = [sd * jax.random.normal(k, jnp.shape(v))
             for k, v in zip(jax.random.split(key_proposal, len(leaves)), leaves)]
    proposal = jax.tree.unflatten(treedef, [v + e for v, e in zip(leaves, noise)])
    new = logposterior(proposal)
    accept = jnp.log(jax.random.uniform(key_accept)) < new - logpost
    return jax.tree.map(lambda a, b: jnp.where(accept, a, b), proposal, params), jnp.where(accept, new, logpost)


# ... and jaxmh.rwm is the same transition as a reusable, vectorised kernel:
# jaxmh.sample scans it over the iterations and vmaps it over chains.
def run_metropolis(key, logposterior, startvalue, sd, iterations, warmup):
    kernel = jaxmh.rwm(logposterior, step_size=sd)
    return jaxmh.sample(key, kernel, startvalue, num_samples=iterations - warmup, num_warmup=warmup)


def startvalues(key, num_chains, hierarchical):
    """Random starting values: alpha, beta ~ N(0, 1), sigma ~ U(0.5, 5) (and the hyperparameters)."""
    k = jax.random.split(key, 7)
    p = {"alpha": jax.random.normal(k[0], (num_chains, n_individuals)),
         "beta": jax.random.normal(k[1], (num_chains, n_individuals)),
         "sigma": jax.random.uniform(k[2], (num_chains,), minval=0.5, maxval=5)}
    if hierarchical:
        p.update(mu_alpha=jax.random.normal(k[3], (num_chains,)),
                 mu_beta=jax.random.normal(k[4], (num_chains,)),
                 sigma_alpha=jax.random.uniform(k[5], (num_chains,), minval=0.5, maxval=5),
                 sigma_beta=jax.random.uniform(k[6], (num_chains,), minval=0.5, maxval=5))
    return p


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="tutorial_shrinkage.png")
    args = parser.parse_args(argv)
    key_data, key_unpooled, key_hier, key_start = jax.random.split(jax.random.key(args.seed), 4)

    data, truth = simulate(key_data)
    logposterior_unpooled, logposterior_hierarchical = make_logposteriors(data)
    print("priors: the tutorial's (section 3): unpooled alpha_i, beta_i ~ U(-100, 100), sigma ~ U(0, 10); "
          "hierarchical mu_alpha, mu_beta ~ N(0, 3^2), sigma_alpha, sigma_beta, sigma ~ U(0, 10)")

    # One Metropolis step by hand, to see the pieces at work.
    start = jax.tree.map(lambda v: v[0], startvalues(key_start, 1, hierarchical=False))
    params, lp = metropolis_step(key_start, start, logposterior_unpooled(start), logposterior_unpooled, 0.125)
    print(f"one hand-written step: log-posterior {float(logposterior_unpooled(start)):.1f} -> {float(lp):.1f}")

    # 7. Warm-up: the first `warmup` iterations are dropped.
    unpooled = run_metropolis(key_unpooled, logposterior_unpooled,
                              startvalues(key_start, args.chains, False), 0.125, args.iterations, args.warmup)
    hierarchical = run_metropolis(key_hier, logposterior_hierarchical,
                                  startvalues(key_start, args.chains, True), 0.1, args.iterations, args.warmup)

    # 8. Posterior means of alpha and beta (over chains and draws).
    # 9. RMSE against the true values.
    fits = []
    for name, result in [("unpooled", unpooled), ("hierarchical", hierarchical)]:
        alpha = np.asarray(result.draws["alpha"]).mean(axis=(0, 1))
        beta = np.asarray(result.draws["beta"]).mean(axis=(0, 1))
        rmse_a = jaxmh.comparison.rmse(alpha, truth["alpha"])
        rmse_b = jaxmh.comparison.rmse(beta, truth["beta"])
        print(f"{name:<13} acceptance {float(result.acceptance_rate.mean()):.2f}  "
              f"RMSE alpha {rmse_a:.3f}  RMSE beta {rmse_b:.3f}")
        fits.append(jaxmh.ModelFit(name, float(result.acceptance_rate.mean()), rmse_a, rmse_b,
                                   float(np.mean(result.draws["sigma"])), float("nan"),
                                   float("nan"), float("nan"), alpha, beta, result))

    # 10. The figure: estimates against the truth, each estimate joined to its own true value.
    comparison = jaxmh.Comparison(data, truth, tuple(fits))
    jaxmh.plots.shrinkage(comparison).savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return comparison


if __name__ == "__main__":
    main()
