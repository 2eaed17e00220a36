"""Does leave-one-out pick the model the truth picks? (issue 15)

Simulates datasets of the tutorial's design (75 individuals x 5 observations,
alpha ~ N(2, 1), beta ~ N(-2, 1), sigma = 2), fits the pooled, unpooled and
hierarchical models to every one with ``jaxmh.study(..., loo=True)`` (each
model's default sampler and data-scaled default priors), and reports how often
PSIS-LOO's best model (highest elpd_loo) is the truth's best (lowest mean RMSE
of the posterior means of alpha, beta and sigma against the true values), how
often the whole order agrees, and how often each model is best.

    python benchmarks/loo_ranking.py [--datasets 100] [--samples 1000] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--samples", type=int, default=1000, help="draws per chain (default 1000)")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)

    import jax
    import numpy as np

    import jaxmh
    from _common import machine, write_json

    start = time.perf_counter()
    s = jaxmh.study(jax.random.key(args.seed), args.datasets, models=(jaxmh.models.pooled, jaxmh.models.unpooled,
                                                                        jaxmh.models.hierarchical),
                    num_chains=args.chains, num_samples=args.samples, num_warmup=args.warmup,
                    batch_size=args.batch, loo=True, progress=False)
    seconds = time.perf_counter() - start
    agree = s.loo_agreement()
    h, u = s["hierarchical"], s["unpooled"]
    diff = h.elpd_loo_i - u.elpd_loo_i
    paired = diff.sum(axis=1) / np.sqrt(diff.shape[1] * diff.var(axis=1))
    print(s.table())
    print(f"\n{args.datasets} datasets, {args.chains} chains x ({args.warmup} + {args.samples}), "
          f"{seconds:.0f} s in all")
    print(f"LOO's best = truth's best: {agree['best']:.1%}; whole order: {agree['order']:.1%}")
    print(f"LOO's best: {agree['loo_best']}; truth's best: {agree['truth_best']}")
    print(f"hierarchical over unpooled: elpd difference > 0 in {np.mean(diff.sum(axis=1) > 0):.1%}, "
          f"> 2 paired se in {np.mean(paired > 2):.1%}; median difference {np.median(diff.sum(axis=1)):.1f}")
    max_rhat = {f.model: float(np.max(f.max_rhat)) for f in s.fits}
    print(f"worst R-hat over datasets: {max_rhat}")
    out = {"machine": machine(), "settings": vars(args), "seconds": seconds, "agreement": agree,
           "hierarchical_minus_unpooled": diff.sum(axis=1).tolist(), "max_rhat": max_rhat, "study": s.to_dict()}
    if args.json:
        write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
