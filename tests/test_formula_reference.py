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
import numpy as np
import pytest

import jaxmh
from jaxmh import diagnostics

HERE = os.path.dirname(__file__)
REFERENCE = json.load(open(os.path.join(HERE, "data", "formula_reference.json")))["models"]
DATA = {"sleepstudy": lambda: jaxmh.datasets.columns("sleepstudy"),
        "penicillin": lambda: jaxmh.datasets.columns("penicillin"),
        "categorical": lambda: os.path.join(HERE, "data", "formula_categorical.csv")}


def _flat(draws: dict, labels: dict) -> dict:
    """``{row name: (chain, draw) array}`` with group rows named ``TERM|GROUP[label]``."""
    out = {}
    for k, v in draws.items():
        v = np.asarray(v, np.float64)
        if v.ndim == 2:
            out[k] = v
        else:
            for j, label in enumerate(labels[k]):
                out[f"{k}[{label}]"] = v[:, :, j]
    return out


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_posterior_means_and_sds_agree_with_nuts(name):
    ref = REFERENCE[name]
    m = jaxmh.model(ref["formula"], DATA[name]())
    assert {k: repr(p) for k, p in m.data["priors"].items()} == ref["priors_repr"]  # the reference's priors
    result = jaxmh.fit(jax.random.key(0), m, num_samples=10_000, num_warmup=2_000)
    rows = _flat(result.draws, m.coords)
    assert set(rows) == set(ref["params"]), sorted(set(rows) ^ set(ref["params"]))
    worst = []
    for k, x in rows.items():
        r = ref["params"][k]
        for stat, ours, se in (("mean", x.mean(), diagnostics.mcse_mean(x)),
                               ("sd", x.std(ddof=1), diagnostics.mcse_sd(x))):
            z = abs(ours - r[stat]) / np.hypot(float(se), r[f"mcse_{stat}"])
            worst.append((z, k, stat, ours, r[stat]))
    worst.sort(reverse=True)
    assert worst[0][0] < 4.0, worst[:5]
