"""Formula models against long NumPyro NUTS runs of the same models and priors (issue 13).

``benchmarks/formula_reference.py`` wrote ``tests/data/formula_reference.json``:
4 x 20,000 NUTS draws per model (float64, non-centred, R-hat < 1.01, no
divergences), with each parameter's posterior mean and sd and their MCSEs.
jaxmh's posterior mean and sd of every parameter must agree within 4 combined
MCSE (sqrt(mcse_jaxmh^2 + mcse_nuts^2)).
"""

from __future__ import annotations

import json
import os

import jax
import pytest

import jaxmh
from conftest import rows_by_label, worst_z_against

HERE = os.path.dirname(__file__)
REFERENCE = json.load(open(os.path.join(HERE, "data", "formula_reference.json")))["models"]
DATA = {"sleepstudy": lambda: jaxmh.datasets.columns("sleepstudy"),
        "penicillin": lambda: jaxmh.datasets.columns("penicillin"),
        "categorical": lambda: os.path.join(HERE, "data", "formula_categorical.csv")}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_posterior_means_and_sds_agree_with_nuts(name):
    ref = REFERENCE[name]
    m = jaxmh.model(ref["formula"], DATA[name]())
    assert {k: repr(p) for k, p in m.data["priors"].items()} == ref["priors_repr"]  # the reference's priors
    result = jaxmh.fit(jax.random.key(0), m, num_samples=10_000, num_warmup=2_000)
    rows = rows_by_label(result.draws, m.coords)
    assert set(rows) == set(ref["params"]), sorted(set(rows) ^ set(ref["params"]))
    worst = worst_z_against(rows, ref["params"])
    assert worst[0][0] < 4.0, worst[:5]
