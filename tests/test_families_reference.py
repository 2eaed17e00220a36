"""Bernoulli, binomial and Poisson formula models against long NumPyro NUTS runs of the same models and priors.

``benchmarks/families_reference.py`` wrote ``tests/data/families_reference.json``:
4 x 20,000 NUTS draws per model (float64, non-centred, R-hat < 1.01, no
divergences; the file records each run's settings), with each parameter's
posterior mean and sd and their MCSEs, for ``cbpp`` (binomial, lme4's data),
``grouseticks`` (Poisson, lme4's data, two crossed factors) and ``bernoulli``
(respondents x items, ``tests/data/families_bernoulli.csv``).  jaxmh's fit
(4 chains x 10,000 draws after 2,000 warm-up, fixed key) must have R-hat
below 1.01 for every parameter, and its posterior mean and sd of every
parameter must agree with NUTS within 4 combined MCSE
(sqrt(mcse_jaxmh^2 + mcse_nuts^2)).
"""

from __future__ import annotations

import functools
import json
import os

import jax
import pytest

import jaxmh
from jaxmh import diagnostics
from conftest import rows_by_label, worst_z_against

HERE = os.path.dirname(__file__)
REFERENCE = json.load(open(os.path.join(HERE, "data", "families_reference.json")))["models"]
DATA = {"cbpp": lambda: jaxmh.datasets.columns("cbpp"),
        "grouseticks": lambda: jaxmh.datasets.columns("grouseticks"),
        "bernoulli": lambda: os.path.join(HERE, "data", "families_bernoulli.csv")}


@functools.lru_cache(maxsize=None)
def _fit(name: str) -> dict:
    """jaxmh's draws of model ``name`` as rows (fitted once per model for both tests)."""
    ref = REFERENCE[name]
    m = jaxmh.model(ref["formula"], DATA[name](), **ref["model_kwargs"])
    assert m.layout.family == ref["family"]
    assert {k: repr(p) for k, p in m.data["priors"].items()} == ref["priors_repr"]  # the reference's priors
    result = jaxmh.fit(jax.random.key(0), m, num_samples=10_000, num_warmup=2_000)
    return rows_by_label(result.draws, m.coords)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_posterior_means_and_sds_agree_with_nuts(name):
    ref = REFERENCE[name]
    rows = _fit(name)
    assert set(rows) == set(ref["params"]), sorted(set(rows) ^ set(ref["params"]))
    worst = worst_z_against(rows, ref["params"])
    assert worst[0][0] < 4.0, worst[:5]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_jaxmh_chains_converge(name):
    rows = _fit(name)
    rhats = sorted(((float(diagnostics.rhat(x)), k) for k, x in rows.items()), reverse=True)
    assert rhats[0][0] < 1.01, rhats[:5]
