"""Shared fixtures and Monte Carlo error helpers for the jaxmh test suite."""

from __future__ import annotations

import os
from importlib import resources

import jax
import numpy as np
import pytest
from hypothesis import settings

import jaxmh

# The jaxmh command keeps compiled programs in the user's cache folder; the tests that run it
# in-process must not write there (tests/test_first_contact.py checks the cache in a subprocess).
os.environ["JAXMH_CACHE_DIR"] = "off"

# Property tests draw their examples from a fixed seed (deterministic runs) and keep no
# example database between runs.
settings.register_profile("jaxmh", derandomize=True, database=None, print_blob=True)
settings.load_profile("jaxmh")

# Every file a test reads is inside the repository (a user's clone has nothing beside
# it): reference data in tests/data (sources and licences in tests/data/README.md).
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
TEST_DATA = os.path.join(REPO_ROOT, "tests", "data")
RADON_JSON = os.path.join(TEST_DATA, "radon_mn", "radon_mn.json")
SCHOOLS_JSON = os.path.join(TEST_DATA, "eight_schools", "eight_schools.json")
SCHOOLS_REFERENCE = os.path.join(TEST_DATA, "eight_schools", "reference_draws.json.gz")

# The tutorial's exact R dataset (data_long.csv and truth.csv as R's set.seed(1) made
# them) ships with the package, byte for byte, as tutorial_data.csv and
# tutorial_truth.csv; the tests read those files rather than keep a second copy.
_DATASETS = resources.files("jaxmh.datasets")
SEED_R_DATA = os.fspath(_DATASETS / "tutorial_data.csv")
SEED_R_TRUTH = os.fspath(_DATASETS / "tutorial_truth.csv")

# Checks published with the tutorial's R dataset (tests/data/README.md).
SEED_R_SUM_Y = 783.79410977954012
SEED_R_ALPHA_1 = 1.37354618925767


@pytest.fixture
def x64():
    """Run the test with 64-bit floats enabled (restored afterwards)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def seed_r():
    """The tutorial's exact R dataset: ``(GroupedData, {"alpha": (75,), "beta": (75,)})``."""
    data = jaxmh.data.from_csv(SEED_R_DATA, x="x", y="y", group="i")
    truth = jaxmh.data.read_truth_csv(SEED_R_TRUTH, data)
    return data, truth


# --------------------------------------------------------------------------------------
# Monte Carlo standard errors
# --------------------------------------------------------------------------------------


def batch_means(draws, batches_per_chain: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and batch-means MCSE of ``draws`` shaped ``(chains, draws, *event)``.

    Every chain is cut into ``batches_per_chain`` contiguous batches (a ragged tail
    is dropped); the chains are independent, so the ``chains * batches_per_chain``
    batch means are (for batches much longer than the autocorrelation time)
    independent draws of a normal with variance ``Var(mean) * num_batches``.  The
    MCSE is their standard deviation over ``sqrt(num_batches)``.  With one batch
    per chain this is the between-chain estimate, which also sees chains that have
    not forgotten their starting points.
    """
    draws = np.asarray(draws, dtype=np.float64)
    num_chains, num_draws = draws.shape[:2]
    length = num_draws // batches_per_chain
    if length < 1 or num_chains * batches_per_chain < 2:
        raise ValueError("need at least two batches of at least one draw")
    kept = draws[:, : length * batches_per_chain]
    means = kept.reshape(num_chains, batches_per_chain, length, *draws.shape[2:]).mean(axis=2)
    means = means.reshape(num_chains * batches_per_chain, *draws.shape[2:])
    num_batches = means.shape[0]
    return means.mean(axis=0), means.std(axis=0, ddof=1) / np.sqrt(num_batches)


def assert_within_mcse(estimate, truth, mcse, z: float = 4.0, what: str = "") -> None:
    """Assert ``|estimate - truth| < z * mcse`` element-wise, reporting the worst offender."""
    estimate, truth, mcse = (np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (estimate, truth, mcse))))
    assert np.all(mcse > 0), f"{what}: non-positive MCSE {mcse}"
    score = np.abs(estimate - truth) / mcse
    worst = np.unravel_index(np.argmax(score), score.shape) if score.ndim else ()
    assert np.all(score < z), (
        f"{what}: |estimate - truth| / MCSE = {score[worst]:.2f} >= {z} at index {worst}: "
        f"estimate {estimate[worst]}, truth {truth[worst]}, MCSE {mcse[worst]}"
    )


def ols_by_group(data) -> dict:
    """Per-group OLS fit in float64 NumPy: intercepts, slopes and their standard errors.

    The standard errors use the pooled residual standard deviation
    ``s = sqrt(RSS / (N - 2G))``.
    """
    g = data.group
    n = np.bincount(g).astype(float)
    xbar = np.bincount(g, data.x) / n
    ybar = np.bincount(g, data.y) / n
    dx, dy = data.x - xbar[g], data.y - ybar[g]
    sxx = np.bincount(g, dx * dx)
    sxy = np.bincount(g, dx * dy)
    beta = sxy / sxx
    alpha = ybar - beta * xbar
    resid = data.y - alpha[g] - beta[g] * data.x
    df = data.num_obs - 2 * data.num_groups
    s = np.sqrt(resid @ resid / df)
    return {
        "alpha": alpha,
        "beta": beta,
        "se_alpha": s * np.sqrt(1.0 / n + xbar**2 / sxx),
        "se_beta": s / np.sqrt(sxx),
        "sigma": s,
        "se_sigma": s / np.sqrt(2.0 * df),
        "df": df,
    }


def write_csv(path, header, rows) -> str:
    """Write a CSV file (header, then rows) for the CLI tests; returns its path."""
    import csv

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def rows_by_label(draws: dict, labels: dict) -> dict:
    """``{row name: (chain, draw) float64 array}``, group-level leaves split per level as ``TERM|GROUP[label]``."""
    import numpy as np

    out = {}
    for k, v in draws.items():
        v = np.asarray(v, np.float64)
        if v.ndim == 2:
            out[k] = v
        else:
            for j, label in enumerate(labels[k]):
                out[f"{k}[{label}]"] = v[:, :, j]
    return out


def worst_z_against(rows: dict, params: dict) -> list:
    """``(z, row, stat, ours, reference)`` for every row's mean and sd, worst first: ``z`` is the gap over
    the combined MCSE ``sqrt(mcse_ours^2 + mcse_reference^2)`` (a reference JSON's ``params``)."""
    import numpy as np

    from jaxmh import diagnostics

    worst = []
    for k, x in rows.items():
        r = params[k]
        for stat, ours, se in (("mean", x.mean(), diagnostics.mcse_mean(x)),
                               ("sd", x.std(ddof=1), diagnostics.mcse_sd(x))):
            z = abs(ours - r[stat]) / np.hypot(float(se), r[f"mcse_{stat}"])
            worst.append((z, k, stat, ours, r[stat]))
    return sorted(worst, reverse=True)
