"""jaxmh.fit on the Minnesota radon data against an independent NUTS reference.

The reference (``tests/data/radon_reference.json``) was made by
``benchmarks/radon_reference.py``: NumPyro NUTS, 4 x 10,000 draws, float64, on
posteriordb's ``radon_variable_intercept_slope_centered`` posterior.  Every one
of the 5 hyperparameters and 170 county effects must agree within 4 combined
Monte Carlo standard errors.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

import jaxmh
from jaxmh.priors import HalfNormal, Normal
from jaxmh.summary import ESS_PER_CHAIN, RHAT_THRESHOLD

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "radon_reference.json")
HYPER = ("mu_alpha", "mu_beta", "sigma", "sigma_alpha", "sigma_beta")


@pytest.fixture(scope="module")
def reference():
    with open(REFERENCE) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def radon_fit():
    data, _ = jaxmh.datasets.radon()
    model = jaxmh.models.hierarchical(
        data, prior_mu_alpha=Normal(0, 10), prior_mu_beta=Normal(0, 10),
        prior_sigma_alpha=HalfNormal(1), prior_sigma_beta=HalfNormal(1), prior_sigma=HalfNormal(1))
    # 20,000 draws per chain: enough for every parameter to pass the library's convergence
    # checks with a margin (at 12,000 the worst R-hat, 1.0095, was just under 1.01)
    result = jaxmh.fit(jax.random.key(2024), model, num_samples=20_000, num_warmup=1000)
    return jaxmh.summary(result, warn=False)


def test_reference_is_the_database_posterior_and_converged(reference):
    params = reference["params"]
    assert list(params) == list(HYPER) + [f"alpha[{j}]" for j in range(85)] + [f"beta[{j}]" for j in range(85)]
    assert reference["divergences"] == 0 and reference["max_rhat"] < 1.01
    assert reference["counties"] == list(jaxmh.datasets.radon()[1])
    # the reference's own MCSE is small next to a jaxmh test run's (so the test has power)
    assert max(p["mcse_mean"] / p["sd"] for p in params.values()) < 0.02


def test_radon_intercept_slope_matches_nuts_reference(radon_fit, reference):
    params = reference["params"]
    names = list(params)
    mean = np.array([radon_fit[n]["mean"] for n in names])
    mcse = np.array([radon_fit[n]["mcse_mean"] for n in names])
    ref_mean = np.array([params[n]["mean"] for n in names])
    ref_mcse = np.array([params[n]["mcse_mean"] for n in names])
    # jaxmh's chains must have mixed enough for its MCSE to be meaningful: the library's own
    # checks (R-hat <= 1.01, bulk and tail ESS >= 100 per chain) flag no parameter
    assert radon_fit.num_chains == 4 and len(radon_fit) == len(names)
    assert radon_fit.flagged == {}
    assert max(radon_fit[n]["rhat"] for n in names) <= RHAT_THRESHOLD
    assert min(radon_fit[n]["ess_bulk"] for n in names) >= ESS_PER_CHAIN * radon_fit.num_chains
    score = np.abs(mean - ref_mean) / np.sqrt(mcse**2 + ref_mcse**2)
    worst = int(np.argmax(score))
    assert np.all(score < 4), (
        f"{names[worst]}: jaxmh {mean[worst]:.4f} vs NUTS {ref_mean[worst]:.4f}, "
        f"{score[worst]:.2f} combined MCSE apart")
    assert len(score) == 175
