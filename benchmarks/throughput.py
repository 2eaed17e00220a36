"""Chain-steps per second of random-walk Metropolis on the tutorial's hierarchical model.

Compares, in the same run and on the same log-density (``jaxmh.models.hierarchical``,
155 parameters, the tutorial's 75 x 5 data):

* jaxmh: ``jaxmh.sample(key, jaxmh.rwm(model.logdensity, 0.1), ...)``;
* BlackJAX: ``blackjax.additive_step_random_walk(model.logdensity, normal(0.1))``
  in BlackJAX's documented multi-chain loop (``vmap`` of ``step`` inside ``lax.scan``);
* NumPy: a plain port of the tutorial's R sampler, vectorised over chains, with the
  tutorial's O(N) log-likelihood.

Every sampler stores every draw.  Compilation is excluded (each function runs
once before timing); the best of three timed runs is reported.

Usage: ``python benchmarks/throughput.py [--chains 1 16 256 4096] [--json out.json]``
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import jax
import numpy as np
from _common import best_time, machine, write_json

import jaxmh

STEP_SIZE = 0.1
WORK = 2_000_000  # chain-steps per timed run (fewer steps for many chains)


def steps_for(num_chains: int, minimum: int = 100) -> int:
    return max(minimum, min(20_000, WORK // num_chains))


def jaxmh_runner(model, num_chains, num_steps, store):
    kernel = jaxmh.rwm(model.logdensity, STEP_SIZE)
    positions = model.init(jax.random.key(1), num_chains)
    # store=False: one kept draw after num_steps steps (thin=num_steps), i.e. the final state
    samples, thin = (num_steps, 1) if store else (1, num_steps)

    def run():
        return jaxmh.sample(jax.random.key(2), kernel, positions, num_samples=samples, thin=thin).draws

    return run


def blackjax_runner(model, num_chains, num_steps, store):
    import blackjax

    algo = blackjax.additive_step_random_walk(
        model.logdensity, blackjax.mcmc.random_walk.normal(STEP_SIZE)
    )
    states = jax.vmap(algo.init)(model.init(jax.random.key(1), num_chains))

    @jax.jit
    def loop(key, states):
        def one_step(states, key):
            keys = jax.random.split(key, num_chains)
            states, _ = jax.vmap(algo.step)(keys, states)
            return states, (states.position if store else None)

        final, draws = jax.lax.scan(one_step, states, jax.random.split(key, num_steps))
        return draws if store else final.position

    return lambda: loop(jax.random.key(2), states)


def numpy_runner(data, num_chains, num_steps, store):
    """The tutorial's sampler in NumPy: joint Gaussian proposal, O(N) log-likelihood."""
    x, y, g = data.x, data.y, data.group
    G = data.num_groups
    rng = np.random.default_rng(2)
    log2pi = np.log(2 * np.pi)

    def norm_logpdf(v, m, s):
        return -0.5 * ((v - m) / s) ** 2 - np.log(s) - 0.5 * log2pi

    def logpost(theta):  # theta: (C, 2G + 5)
        a, b = theta[:, :G], theta[:, G : 2 * G]
        mu_a, mu_b, s_a, s_b, s = theta[:, 2 * G :].T
        with np.errstate(all="ignore"):
            ll = norm_logpdf(y, a[:, g] + b[:, g] * x, s[:, None]).sum(1)
            lp = norm_logpdf(a, mu_a[:, None], s_a[:, None]).sum(1)
            lp += norm_logpdf(b, mu_b[:, None], s_b[:, None]).sum(1)
            lp += norm_logpdf(mu_a, 0, 3) + norm_logpdf(mu_b, 0, 3)
            ok = (s_a > 0) & (s_a < 10) & (s_b > 0) & (s_b < 10) & (s > 0) & (s < 10)
            return np.where(ok, ll + lp - 3 * np.log(10), -np.inf)

    theta0 = np.concatenate(
        [np.full((num_chains, G), 2.0), np.full((num_chains, G), -2.0),
         np.tile([2.0, -2.0, 1.0, 1.0, 2.0], (num_chains, 1))], axis=1
    )

    def run():
        theta, lp = theta0.copy(), logpost(theta0)
        draws = np.empty(((num_steps if store else 1),) + theta.shape)
        for t in range(num_steps):
            prop = theta + STEP_SIZE * rng.standard_normal(theta.shape)
            lpp = logpost(prop)
            acc = np.log(rng.uniform(size=num_chains)) < lpp - lp
            theta = np.where(acc[:, None], prop, theta)
            lp = np.where(acc, lpp, lp)
            draws[t if store else 0] = theta
        return draws

    return run


def measure(name, make, num_chains, num_steps, store, repeats=3):
    run = make(num_chains, num_steps, store)
    jax.block_until_ready(run())  # compile (and warm caches)
    seconds = best_time(run, repeats)
    return {"sampler": name, "chains": num_chains, "steps": num_steps,
            "store": store, "seconds": seconds, "chain_steps_per_s": num_chains * num_steps / seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 16, 256, 4096])
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy port")
    parser.add_argument("--store", choices=["draws", "final", "both"], default="both",
                        help="keep every draw, only the final state, or measure both")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    data, _ = jaxmh.data.simulate(jax.random.key(0))
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    info = machine()
    print(f"# {info['cpu']} ({info['cores']} cores), jax {info['jax']}, {info['devices']}")
    rows = []
    modes = {"draws": [True], "final": [False], "both": [True, False]}[args.store]
    for store in modes:
        print(f"\n## {'every draw stored' if store else 'final state only (no draws stored)'}")
        print(f"{'chains':>7} {'jaxmh':>12} {'blackjax':>12} {'numpy':>12} {'jaxmh/bjx':>10} {'jaxmh/np':>9}")
        for c in args.chains:
            steps = steps_for(c)
            r_j = measure("jaxmh", lambda n, s, st: jaxmh_runner(model, n, s, st), c, steps, store)
            r_b = measure("blackjax", lambda n, s, st: blackjax_runner(model, n, s, st), c, steps, store)
            rows += [r_j, r_b]
            np_rate = float("nan")
            if not args.no_numpy:
                np_steps = max(20, min(2000, 200_000 // c))
                r_n = measure("numpy", lambda n, s, st: numpy_runner(data, n, s, st), c, np_steps, store,
                              repeats=1)
                rows.append(r_n)
                np_rate = r_n["chain_steps_per_s"]
            j, b = r_j["chain_steps_per_s"], r_b["chain_steps_per_s"]
            print(f"{c:>7} {j:>12.4g} {b:>12.4g} {np_rate:>12.4g} {j / b:>10.2f} {j / np_rate:>9.1f}",
                  flush=True)
    write_json(args.json, {"machine": info, "results": rows})


if __name__ == "__main__":
    main()
