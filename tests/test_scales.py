"""jaxmh.fit with its default (data-scaled) priors on data far from the tutorial's scale.

Issue 11: the tutorial's priors (normal(0, 3), uniform(0, 10)) truncated the
posterior of data around 300 and gave silently wrong answers.  Here data are
simulated at three scales (y around 0.01, around 300 with sd about 50, around
10^5) from known hyperparameters and fitted exactly as ``jaxmh fit`` does by
default (4 chains x 20,000 draws after 2,000 warm-up steps, group-blocked
sampler, data-scaled priors).  Every fit must pass the convergence checks
(R-hat <= 1.01, bulk and tail ESS >= 400 for every parameter), and the 90%
intervals of mu_alpha, mu_beta and sigma must cover the truth at the nominal
rate, within the binomial Monte Carlo error of the count.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

import jaxmh
from jaxmh import diagnostics
from jaxmh.data import GroupedData

#: (name, y location, y scale): the hyperparameters below are these times unit values.
SCALES = [("tiny", 0.01, 0.002), ("reaction-times", 300.0, 40.0), ("large", 1e5, 2e4)]
DATASETS_PER_SCALE = 4
UNIT = dict(mu_alpha=0.0, sigma_alpha=0.8, mu_beta=0.4, sigma_beta=0.3, sigma=1.0)


def _simulate(seed: int, loc: float, scale: float):
    truth = {"mu_alpha": loc + scale * UNIT["mu_alpha"], "mu_beta": scale * UNIT["mu_beta"],
             "sigma_alpha": scale * UNIT["sigma_alpha"], "sigma_beta": scale * UNIT["sigma_beta"],
             "sigma": scale * UNIT["sigma"]}
    data, _ = jaxmh.data.simulate(jax.random.key(seed), 18, 10, **truth)   # 18 subjects x 10 rows
    return data, truth


@pytest.fixture(scope="module")
def fits():
    out = []
    for s, (name, loc, scale) in enumerate(SCALES):
        for d in range(DATASETS_PER_SCALE):
            data, truth = _simulate(1000 * s + d, loc, scale)
            model = jaxmh.models.hierarchical(data)                       # default priors: "auto"
            result = jaxmh.fit(jax.random.key(d), model, num_samples=20_000, num_warmup=2_000)
            out.append((name, d, truth, jaxmh.summary(result, warn=False)))
    return out


def test_default_fits_converge_at_every_scale(fits):
    for name, d, _, summary in fits:
        assert not summary.flagged, f"{name} dataset {d}: {summary.flagged}"
        assert not summary.reached, f"{name} dataset {d}: {summary.reached}"
        limit = 400
        assert summary.columns["rhat"].max() <= 1.01
        assert min(summary.columns["ess_bulk"].min(), summary.columns["ess_tail"].min()) >= limit


def test_default_intervals_cover_the_truth_at_the_nominal_rate(fits):
    covered = []
    for name, d, truth, summary in fits:
        for param in ("mu_alpha", "mu_beta", "sigma"):
            row = summary[param]
            covered.append(row["lower"] <= truth[param] <= row["upper"])
    n = len(covered)
    # each interval covers with probability about 0.9 (independent datasets): the count is
    # Binomial(n, 0.9) up to the small dependence between the three parameters of a dataset
    expected, sd = 0.9 * n, math.sqrt(n * 0.9 * 0.1)
    assert abs(sum(covered) - expected) <= 3 * sd, f"{sum(covered)} of {n} intervals cover the truth"


def test_posteriors_scale_with_the_data():
    """The defaults are equivariant: y -> a + b y moves every posterior the same way."""
    base, _ = _simulate(7, 0.0, 1.0)
    draws = {}
    for loc, scale in ((0.0, 1.0), (300.0, 40.0)):
        data = GroupedData(base.x, loc + scale * base.y, base.group)
        result = jaxmh.fit(jax.random.key(3), jaxmh.models.hierarchical(data), num_samples=4_000,
                           num_warmup=2_000)
        shift = {"mu_alpha": loc}
        draws[scale] = {k: (np.asarray(result.draws[k], np.float64) - shift.get(k, 0.0)) / scale
                        for k in ("mu_alpha", "mu_beta", "sigma", "sigma_alpha")}
    for param in draws[1.0]:
        a, b = draws[1.0][param], draws[40.0][param]
        # independent Monte Carlo estimates of the same standardised posterior
        for what, stat, mcse in (("mean", np.mean, diagnostics.mcse_mean),
                                 ("sd", lambda v: np.std(v, ddof=1), diagnostics.mcse_sd)):
            z = abs(stat(a) - stat(b)) / math.hypot(float(mcse(a)), float(mcse(b)))
            assert z < 4, f"{what} of {param}: {stat(a):.4f} vs {stat(b):.4f} ({z:.1f} MCSE)"
