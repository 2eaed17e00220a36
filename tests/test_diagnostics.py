"""jaxmh.diagnostics against ArviZ (the reference definitions) and against known ESS values.

ArviZ's ``rhat``, ``ess`` and ``mcse`` on a 2-D ``(chain, draw)`` NumPy array are the exact
reference: jaxmh re-implements the same formulas in NumPy, so in float64 the two agree to
rounding error.  The only approximation on jaxmh's side is the normal quantile of the rank
normalisation (Acklam's algorithm, relative error < 1.2e-9), which moves R-hat and the ESS by
far less than the 1e-6 relative tolerance used here.
"""

from __future__ import annotations

import logging
import warnings

import arviz
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.signal import lfilter

from jaxmh import diagnostics

RTOL = 1e-6

# ArviZ logs a warning for one chain / NaN draws; the values are what we compare.
logging.getLogger("arviz").setLevel(logging.ERROR)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def ar1(rng: np.random.Generator, phi: float, num_chains: int, num_draws: int) -> np.ndarray:
    """Stationary Gaussian AR(1) chains x_t = phi x_{t-1} + e_t, e_t ~ N(0, 1)."""
    e = rng.normal(size=(num_chains, num_draws))
    e[:, 0] /= np.sqrt(1.0 - phi**2)  # start in the stationary distribution
    return lfilter([1.0], [1.0, -phi], e, axis=1)


def reference(name: str, x: np.ndarray) -> float:
    """ArviZ's value of diagnostic ``name`` on a (chain, draw) array."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if name == "rhat":
            value = arviz.rhat(x)
        elif name.startswith("ess_"):
            value = arviz.ess(x, method=name[4:])
        else:
            value = arviz.mcse(x, method=name[5:])
    return float(np.asarray(value))


def ours(name: str, x: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return getattr(diagnostics, name)(x)


def same(a: float, b: float, rtol: float = RTOL) -> bool:
    """Equal within ``rtol`` relative error; NaN equals NaN, infinities of one sign are equal."""
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    if np.isinf(a) or np.isinf(b):
        return a == b
    return abs(a - b) <= rtol * abs(b) or a == b


# When every split chain is constant after rank normalisation (each chain one repeated
# value), the within-chain variance W is 0 in exact arithmetic and R-hat is +inf.  In floating
# point W is the rounding error of a variance of identical values (~1e-32), so both libraries
# return a huge R-hat whose digits are rounding noise.  A genuine W of rank-normalised draws
# is at least ~1/(N^2 n) >> 1e-16 for any realistic size, so R-hat > 1e8 can only be this case.
HUGE_RHAT = 1e8


def same_rhat(a: float, b: float) -> bool:
    return same(a, b) or (a > HUGE_RHAT and b > HUGE_RHAT)


# The tail ESS is the ESS of the indicators I(x <= q) at the 5% and 95% quantiles (R's type 7).
# ArviZ gets q from scipy's mquantiles, which interpolates as (1 - g) a + g b: when the two
# order statistics are tied (a == b, common with Metropolis repeats) that can come out one ulp
# away from a, and the indicator of the draws equal to a flips.  jaxmh uses numpy.quantile,
# which returns a exactly.  Where (and only where) the two quantiles differ, the reference is
# ArviZ's own ESS of the indicators at the exact quantile.
def _arviz_quantile(x: np.ndarray, prob: float) -> float:
    return float(arviz.stats.diagnostics._quantile(x, prob)[0])


def ess_tail_exact_quantile(x: np.ndarray) -> float:
    D = arviz.stats.diagnostics
    return min(D._ess(D._split_chains(x <= np.quantile(x, p))) for p in (0.05, 0.95))


def agrees(name: str, x: np.ndarray, got: float) -> tuple[bool, float]:
    """Whether jaxmh's ``got`` agrees with ArviZ's ``name`` on ``x``; and ArviZ's value."""
    want = reference(name, x)
    if name == "rhat":
        return same_rhat(got, want), want
    if same(got, want):
        return True, want
    if name == "ess_tail" and any(_arviz_quantile(x, p) != np.quantile(x, p) for p in (0.05, 0.95)):
        return same(got, ess_tail_exact_quantile(x)), want
    return False, want


DIAGNOSTICS = ("rhat", "ess_bulk", "ess_tail", "ess_mean", "mcse_mean", "mcse_sd")


def _cases() -> dict:
    rng = np.random.default_rng(20240611)
    cases = {}
    for phi in (-0.5, 0.0, 0.5, 0.9, 0.99):
        cases[f"ar1 phi={phi}"] = ar1(rng, phi, 4, 1000)
    cases["different chain means"] = rng.normal(size=(4, 500)) + np.array([0.0, 0.0, 1.0, 3.0])[:, None]
    cases["one chain stuck elsewhere"] = np.concatenate(
        [rng.normal(size=(3, 400)), 10 + 0.1 * rng.normal(size=(1, 400))])
    cases["student t df=1.5"] = rng.standard_t(1.5, size=(4, 800))
    cases["cauchy"] = rng.standard_cauchy(size=(4, 800))
    # Metropolis-like: every value held for a random number of steps (rejections)
    holds = []
    for _ in range(4):
        values = rng.normal(size=600)
        holds.append(np.repeat(values, rng.integers(1, 8, size=600))[:600])
    cases["many ties (held values)"] = np.stack(holds)
    cases["few distinct values"] = rng.integers(0, 3, size=(4, 300)).astype(float)
    cases["odd number of draws"] = ar1(rng, 0.3, 3, 999)
    cases["2 chains x 4 draws"] = rng.normal(size=(2, 4))
    cases["3 chains x 5 draws"] = rng.normal(size=(3, 5))
    cases["2 chains x 7 draws"] = rng.normal(size=(2, 7))
    cases["one chain"] = ar1(rng, 0.5, 1, 500)
    cases["constant"] = np.full((4, 200), 2.5)
    cases["constant within, different between"] = np.repeat(np.arange(4.0)[:, None], 100, axis=1)
    return cases


CASES = _cases()


# --------------------------------------------------------------------------------------
# Agreement with ArviZ on fixed draws
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DIAGNOSTICS)
@pytest.mark.parametrize("case", list(CASES))
def test_matches_arviz(case, name):
    x = CASES[case]
    got = ours(name, x)
    assert isinstance(got, float), f"scalar parameter should give a float, got {type(got)}"
    ok, want = agrees(name, x, got)
    assert ok, f"{name} on {case}: jaxmh {got!r} vs ArviZ {want!r}"


def test_reference_cases_are_not_degenerate():
    """The fixed cases exercise what they claim (so the comparisons above mean something)."""
    # AR(1) with phi = 0.99 and different chain means are clearly unconverged ...
    assert reference("rhat", CASES["ar1 phi=0.99"]) > 1.01
    assert reference("rhat", CASES["different chain means"]) > 1.1
    # ... negative autocorrelation gives an ESS above the number of draws ...
    assert reference("ess_mean", CASES["ar1 phi=-0.5"]) > CASES["ar1 phi=-0.5"].size
    # ... ties are present, and the short/odd cases have the stated sizes.
    held = CASES["many ties (held values)"]
    assert np.unique(held).size < held.size / 2
    assert CASES["odd number of draws"].shape[1] % 2 == 1
    for case in ("2 chains x 4 draws", "3 chains x 5 draws", "2 chains x 7 draws"):
        assert np.isfinite(reference("rhat", CASES[case]))


def test_one_chain_rhat_is_nan_other_diagnostics_finite():
    x = CASES["one chain"]
    assert np.isnan(diagnostics.rhat(x))
    for name in ("ess_bulk", "ess_tail", "ess_mean", "mcse_mean", "mcse_sd"):
        assert np.isfinite(ours(name, x)), name


@pytest.mark.parametrize("name", DIAGNOSTICS)
def test_nan_draw_gives_nan_like_arviz(name):
    x = np.random.default_rng(1).normal(size=(4, 100))
    x[2, 37] = np.nan
    assert np.isnan(ours(name, x))
    assert np.isnan(reference(name, x))


@pytest.mark.parametrize("num_draws", [1, 2, 3])
@pytest.mark.parametrize("name", DIAGNOSTICS)
def test_fewer_than_four_draws_gives_nan_like_arviz(name, num_draws):
    x = np.random.default_rng(2).normal(size=(4, num_draws))
    assert np.isnan(ours(name, x))
    assert np.isnan(reference(name, x))


def test_constant_draws():
    x = CASES["constant"]
    assert np.isnan(diagnostics.rhat(x))
    for name in ("ess_bulk", "ess_tail", "ess_mean"):
        assert ours(name, x) == x.size, name
    assert diagnostics.mcse_mean(x) == 0.0


def test_chains_constant_within_but_different_between_have_huge_rhat():
    x = CASES["constant within, different between"]
    assert diagnostics.rhat(x) > HUGE_RHAT
    assert reference("rhat", x) > HUGE_RHAT


def test_ess_tail_at_a_tied_quantile_uses_the_exact_quantile():
    # The 95% quantile lies between two equal draws v; scipy's mquantiles (ArviZ) returns v
    # minus one ulp, numpy.quantile (jaxmh) returns v.  With I(x <= v) the five draws at v
    # count as below the quantile, as they should.
    v = 150.51709003749622
    x = np.array([[0.0] * 11, [0.0] * 4 + [1.1774442964548086, 51.437024546754685] + [v] * 5])
    assert np.quantile(x, 0.95) == v and _arviz_quantile(x, 0.95) < v   # the case is real
    assert diagnostics.ess_tail(x) == pytest.approx(ess_tail_exact_quantile(x), rel=RTOL)
    assert reference("ess_tail", x) != pytest.approx(diagnostics.ess_tail(x), rel=0.1)


# --------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DIAGNOSTICS)
def test_event_dimensions_match_elementwise(name):
    rng = np.random.default_rng(3)
    x = np.empty((4, 301, 3, 2))
    for i in range(3):
        for j in range(2):
            x[:, :, i, j] = ar1(rng, 0.3 * i - 0.2 * j, 4, 301) + i * j
    x[:, :, 2, 1] = 7.0                              # one constant element
    x[0, 5, 1, 0] = np.nan                           # one NaN element
    got = ours(name, x)
    assert isinstance(got, np.ndarray) and got.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            element = np.ascontiguousarray(x[:, :, i, j])
            want = ours(name, element)
            assert same(got[i, j], want, rtol=1e-12), f"{name}[{i},{j}]: {got[i, j]} vs {want}"
            assert agrees(name, element, got[i, j])[0], f"{name}[{i},{j}] vs ArviZ"
    assert np.isnan(got[1, 0])
    assert np.isfinite(got[0, 0])


@pytest.mark.parametrize("name", DIAGNOSTICS)
def test_one_dimensional_input_raises(name):
    with pytest.raises(ValueError, match="chain, draw"):
        getattr(diagnostics, name)(np.zeros(100))


# --------------------------------------------------------------------------------------
# Property: arbitrary finite draws, with ties
# --------------------------------------------------------------------------------------
FLOATS = st.floats(-100, 100, allow_nan=False, allow_subnormal=False)


@st.composite
def finite_draws(draw):
    """(2-4 chains) x (8-40 draws) of bounded floats: arbitrary, or from a small pool (ties,
    constant parameters), or a random walk whose steps are often 0 (Metropolis rejections)."""
    shape = (draw(st.integers(2, 4)), draw(st.integers(8, 40)))
    kind = draw(st.sampled_from(["arbitrary", "pool", "held"]))
    if kind == "arbitrary":
        return draw(hnp.arrays(np.float64, shape, elements=FLOATS, fill=st.nothing()))
    if kind == "pool":
        pool = draw(st.lists(FLOATS, min_size=1, max_size=6))
        return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from(pool)))
    steps = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.0, 1.0, -1.0]) | FLOATS,
                             fill=st.nothing()))
    start = draw(hnp.arrays(np.float64, (shape[0], 1), elements=FLOATS))
    return np.cumsum(np.concatenate([start, steps[:, 1:]], axis=1), axis=1)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(finite_draws())
def test_property_matches_arviz(x):
    for name in ("rhat", "ess_bulk", "ess_tail", "mcse_mean"):
        got = ours(name, x)
        ok, want = agrees(name, x, got)
        assert ok, f"{name}: jaxmh {got!r} vs ArviZ {want!r} on\n{x!r}"


# --------------------------------------------------------------------------------------
# Statistical sanity: ESS of chains whose ESS is known
# --------------------------------------------------------------------------------------
# For a stationary chain with integrated autocorrelation time tau, ESS = N / tau; for AR(1)
# tau = (1 + phi) / (1 - phi).  The relative sampling error of an autocorrelation-time
# estimate that sums the first M lags is sd(tau_hat) / tau ~= sqrt(2 (2M + 1) / N)
# (Sokal 1997, eq. 3.19; Priestley 1981).  Geyer's initial-sequence window stops where the
# estimated autocorrelations rho_k = phi^k sink into their noise, ~1/sqrt(N); we bound it by
# 1.5 times that lag (at least 4).  The tolerance is 4 such standard deviations.  For the
# rank-normalised (bulk) ESS of a Gaussian chain the rank transform is asymptotically the
# identity, so the same target and tolerance apply.  Estimator bias (the biased
# autocovariance, the truncated tail of phi^k) is ~1% here.  (Checked over 30 other seeds:
# the relative error's sd was 1.3%, 2.7%, 3.0%, 6.1% for phi = 0, 0.5, -0.5, 0.9, well inside
# the bound's 2.1%, 3.5%, 3.5%, 8.7%.)
N_CHAINS, N_DRAWS = 4, 10_000
N_TOTAL = N_CHAINS * N_DRAWS


def ess_tolerance(phi: float) -> float:
    noise = 1 / np.sqrt(N_TOTAL)
    window = 4 if phi == 0 else max(4, int(np.ceil(1.5 * np.log(noise) / np.log(abs(phi)))))
    return 4 * np.sqrt(2 * (2 * window + 1) / N_TOTAL)


@pytest.mark.parametrize("phi", [0.0, 0.5, -0.5, 0.9])
def test_ess_of_ar1_near_theory(phi):
    x = ar1(np.random.default_rng(42 + int(10 * phi)), phi, N_CHAINS, N_DRAWS)
    expected = N_TOTAL * (1 - phi) / (1 + phi)
    tol = ess_tolerance(phi)
    for name in ("ess_bulk", "ess_mean"):
        value = ours(name, x)
        assert abs(value / expected - 1) < tol, (
            f"{name} = {value:.0f}, expected {expected:.0f} +- {100 * tol:.0f}%")


def test_ess_tail_of_iid_near_number_of_draws():
    # The 5% / 95% indicators of iid draws are iid Bernoulli: tau = 1, ESS = N.
    x = np.random.default_rng(7).normal(size=(N_CHAINS, N_DRAWS))
    value = diagnostics.ess_tail(x)
    assert abs(value / N_TOTAL - 1) < ess_tolerance(0.0), value


def test_mcse_mean_matches_sd_over_sqrt_ess():
    x = ar1(np.random.default_rng(11), 0.5, 4, 2000)
    expected = np.std(x, ddof=1) / np.sqrt(diagnostics.ess_mean(x))
    assert diagnostics.mcse_mean(x) == pytest.approx(expected, rel=1e-12)


def test_rhat_near_one_for_iid_and_large_for_separated_chains():
    rng = np.random.default_rng(13)
    # iid: 8 split chains of 500 draws; R-hat - 1 ~ (B/W - 1) / (2n) with B/W ~ chi2_7 / 7,
    # so R-hat > 1.01 would need B/W > 11 (probability < 1e-12).
    assert diagnostics.rhat(rng.normal(size=(4, 1000))) < 1.01
    shifted = rng.normal(size=(4, 1000)) + np.array([0, 0, 0, 5.0])[:, None]
    assert diagnostics.rhat(shifted) > 1.5
