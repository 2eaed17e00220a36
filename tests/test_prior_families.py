"""Student-t, half-Student-t and LKJ priors: densities against scipy and NumPyro, text, checks,
pytrees, and the batch-size bit-stability the library promises."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import betaln

from jaxmh import priors
from jaxmh.priors import LKJ, Exponential, HalfCauchy, HalfNormal, HalfStudentT, Normal, StudentT, Uniform

X = np.array([-40.0, -3.5, -1.0, -0.25, 0.0, 1e-3, 0.4, 1.0, 2.5, 7.0, 123.0])
DFS = [0.5, 1.0, 2.5, 3.0, 7.0, 30.0, 1000.0]


# --------------------------------------------------------------------------------- elementwise

@pytest.mark.parametrize("df", DFS)
@pytest.mark.parametrize("loc, scale", [(0.0, 1.0), (0.0, 2.5), (-3.0, 0.4), (10.0, 7.0)])
def test_student_t_matches_scipy(x64, df, loc, scale):
    got = np.asarray(StudentT(df, loc, scale).logpdf(X))
    np.testing.assert_allclose(got, stats.t.logpdf(X, df, loc=loc, scale=scale), rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("df", DFS)
@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5, 40.0])
def test_half_student_t_is_twice_the_student_t_on_the_half_line(x64, df, scale):
    x = X[X >= 0]
    got = np.asarray(HalfStudentT(df, scale).logpdf(x))
    want = np.log(2.0) + stats.t.logpdf(x, df, scale=scale)        # log(2 * t.pdf), without underflow
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6)
    inner = x < 20 * scale
    np.testing.assert_allclose(got[inner], np.log(2.0 * stats.t.pdf(x[inner], df, scale=scale)), rtol=1e-9, atol=1e-6)
    assert np.all(np.asarray(HalfStudentT(df, scale).logpdf(X[X < 0])) == -np.inf)
    assert HalfStudentT(df, scale).logpdf(-1e-300) == -np.inf
    assert HalfStudentT(df, scale).logpdf(0.0) == pytest.approx(math.log(2 * stats.t.pdf(0.0, df, scale=scale)))


def test_existing_half_line_priors_match_scipy(x64):
    x = X[X >= 0]
    np.testing.assert_allclose(HalfCauchy(2.0).logpdf(x), stats.halfcauchy.logpdf(x, scale=2.0), atol=1e-6)
    np.testing.assert_allclose(HalfNormal(2.0).logpdf(x), stats.halfnorm.logpdf(x, scale=2.0), atol=1e-6)
    np.testing.assert_allclose(Exponential(0.5).logpdf(x), stats.expon.logpdf(x, scale=2.0), atol=1e-6)
    for prior in (HalfCauchy(2.0), HalfNormal(2.0), Exponential(0.5)):
        assert np.all(np.asarray(prior.logpdf(X[X < 0])) == -np.inf)


def test_float32_densities_are_close_to_scipy():
    got = np.asarray(StudentT(3.0, 0.0, 2.5).logpdf(jnp.asarray(X, jnp.float32)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, stats.t.logpdf(X, 3.0, scale=2.5), rtol=1e-5, atol=1e-5)
    got = np.asarray(HalfStudentT(3.0, 2.5).logpdf(jnp.asarray(X[X >= 0], jnp.float32)))
    np.testing.assert_allclose(got, np.log(2 * stats.t.pdf(X[X >= 0], 3.0, scale=2.5)), rtol=1e-5, atol=1e-5)


def test_tails_match_scipy(x64):
    assert StudentT(3.0, 1.0, 2.0).tail(1.0) == 1.0
    assert StudentT(3.0, 1.0, 2.0).tail(7.0) == pytest.approx(2 * stats.t.sf(3.0, 3.0), rel=1e-5)
    assert StudentT(3.0, 1.0, 2.0).tail(-5.0) == pytest.approx(2 * stats.t.sf(3.0, 3.0), rel=1e-5)
    assert HalfStudentT(4.0, 2.0).tail(5.0) == pytest.approx(2 * stats.t.sf(2.5, 4.0), rel=1e-5)
    assert HalfStudentT(4.0, 2.0).tail(-1.0) == 1.0


def test_starts_are_inside_the_support_and_scaled():
    key = jax.random.key(0)
    s = np.asarray(HalfStudentT(3.0, 6.0).start(key, (1000,), scale=True))
    assert s.min() >= 0.5 * 2.0 - 1e-6 and s.max() <= 5.0 * 2.0 + 1e-5
    assert priors.start_scale(HalfStudentT(3.0, 6.0)) == 2.0
    t = np.asarray(StudentT(3.0, 10.0, 6.0).start(key, (4000,)))
    assert abs(t.mean() - 10.0) < 0.2 and abs(t.std() - 2.0) < 0.2
    assert priors.start_scale(StudentT(3.0, 10.0, 6.0)) == 2.0


@pytest.mark.parametrize("prior", [StudentT(3.0, 0.5, 2.5), HalfStudentT(3.0, 2.5), StudentT(0.7, 0.0, 1.0),
                                   HalfStudentT(40.0, 0.2), HalfCauchy(2.0), Exponential(0.5)])
@pytest.mark.parametrize("enable_x64", [False, True])
def test_logpdf_bits_do_not_depend_on_the_batch_size(prior, enable_x64):
    with jax.enable_x64(enable_x64):
        dtype = jnp.float64 if enable_x64 else jnp.float32
        x = jnp.asarray([0.37, 1.9, 0.0, 4.2, 0.011, 13.5, 2.2, 0.8], dtype)
        f = jax.jit(jax.vmap(prior.logpdf))
        three, five, eight = np.asarray(f(x[:3])), np.asarray(f(x[:5])), np.asarray(f(x))
        np.testing.assert_array_equal(three, eight[:3])
        np.testing.assert_array_equal(five, eight[:5])


def test_priors_are_pytrees_and_batch_over_their_numbers(x64):
    batch = jax.tree_util.tree_map(lambda *v: jnp.asarray(v), StudentT(3.0, 0.0, 1.0), StudentT(5.0, 1.0, 2.0))
    got = jax.vmap(lambda p: p.logpdf(0.7))(batch)
    want = [stats.t.logpdf(0.7, 3.0), stats.t.logpdf(0.7, 5.0, loc=1.0, scale=2.0)]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert jax.tree_util.tree_leaves(HalfStudentT(3.0, 2.5)) == [3.0, 2.5]
    assert jax.tree_util.tree_leaves(LKJ(2.0)) == [2.0]
    etas = jnp.asarray([0.5, 1.0, 3.0])
    lkj = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(LKJ(1.0)), [etas])
    got = jax.vmap(lambda p: p.logpdf_correlations(jnp.asarray([0.3]), 2))(lkj)
    np.testing.assert_allclose(got, [LKJ(e).logpdf_correlations(np.array([0.3]), 2) for e in (0.5, 1.0, 3.0)],
                               rtol=1e-12)


# ----------------------------------------------------------------------------------------- LKJ

def _random_correlation(rng, k):
    a = rng.normal(size=(k, k + 2))
    s = a @ a.T
    d = np.sqrt(np.diag(s))
    return s / np.outer(d, d)


def _lower(omega):
    k = omega.shape[-1]
    return np.array([omega[i, j] for i in range(1, k) for j in range(i)])


ETAS = [0.3, 0.5, 1.0, 1.7, 2.0, 5.0, 50.0]


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("eta", ETAS)
def test_lkj_cholesky_matches_numpyro(x64, k, eta):
    dist = pytest.importorskip("numpyro.distributions")
    rng = np.random.default_rng(100 * k + int(10 * eta))
    for _ in range(3):
        L = np.linalg.cholesky(_random_correlation(rng, k))
        want = float(dist.LKJCholesky(k, eta).log_prob(jnp.asarray(L)))
        assert float(LKJ(eta).logpdf_cholesky(L)) == pytest.approx(want, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("eta", ETAS)
def test_lkj_corr_matches_numpyro(x64, k, eta):
    dist = pytest.importorskip("numpyro.distributions")
    rng = np.random.default_rng(7 + 100 * k + int(10 * eta))
    for _ in range(3):
        omega = _random_correlation(rng, k)
        want = float(dist.LKJ(k, eta).log_prob(jnp.asarray(omega)))
        assert float(LKJ(eta).logpdf_corr(omega)) == pytest.approx(want, rel=1e-8, abs=1e-8)
        # the same through the vector of correlations
        assert float(LKJ(eta).logpdf_correlations(_lower(omega), k)) == pytest.approx(want, rel=1e-8, abs=1e-8)


@pytest.mark.parametrize("eta", ETAS)
def test_lkj_of_two_is_a_scaled_beta(x64, eta):
    r = np.array([-0.97, -0.5, -0.1, 0.0, 0.2, 0.66, 0.999])
    want = stats.beta.logpdf((r + 1) / 2, eta, eta) - np.log(2.0)
    got = np.asarray(LKJ(eta).logpdf_correlations(r[:, None], 2))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # the normaliser in closed form: log c_2(eta) = -(2 eta - 1) log 2 - log B(eta, eta)
    assert float(LKJ(eta).log_normalizer(2)) == pytest.approx(-(2 * eta - 1) * np.log(2) - betaln(eta, eta),
                                                              rel=1e-10, abs=1e-10)


def test_lkj_with_eta_one_is_uniform_with_the_known_volume(x64):
    # the volume of 3x3 correlation matrices is pi^2 / 2
    assert float(LKJ(1.0).logpdf_correlations(np.zeros(3), 3)) == pytest.approx(-np.log(np.pi ** 2 / 2), rel=1e-12)


@pytest.mark.parametrize("k", [2, 3, 4, 6])
def test_lkj_correlations_are_the_matrix_density_in_a_batch(x64, k):
    rng = np.random.default_rng(k)
    omegas = np.stack([_random_correlation(rng, k) for _ in range(5)])
    r = np.stack([_lower(o) for o in omegas])
    prior = LKJ(2.5)
    batched = np.asarray(prior.logpdf_correlations(r, k))
    assert batched.shape == (5,)
    np.testing.assert_allclose(batched, np.asarray(prior.logpdf_corr(omegas)), rtol=0, atol=0)
    np.testing.assert_allclose(batched, np.asarray(jax.vmap(lambda v: prior.logpdf_correlations(v, k))(r)),
                               rtol=0, atol=0)
    # det via numpy for the formula itself
    want = 1.5 * np.linalg.slogdet(omegas)[1] + float(prior.log_normalizer(k))
    np.testing.assert_allclose(batched, want, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(prior.logpdf_cholesky(np.linalg.cholesky(omegas))),
                               batched + np.array([sum((k - i - 1) * np.log(np.linalg.cholesky(o)[i, i])
                                                       for i in range(1, k)) for o in omegas]), rtol=1e-10)


def test_lkj_is_minus_infinity_outside_the_correlation_matrices(x64):
    prior = LKJ(2.0)
    assert prior.logpdf_correlations(np.array([0.9, 0.9, -0.9]), 3) == -np.inf      # not positive definite
    assert prior.logpdf_correlations(np.array([1.0]), 2) == -np.inf
    assert prior.logpdf_correlations(np.array([-1.2]), 2) == -np.inf
    assert prior.logpdf_correlations(np.array([0.0, 0.0, 1.0]), 3) == -np.inf
    assert prior.logpdf_correlations(np.array([0.0, 1.5, 0.0, 0.0, 0.0, 0.0]), 4) == -np.inf
    assert prior.logpdf_corr(np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]])) == -np.inf
    assert prior.logpdf_cholesky(np.array([[1.0, 0.0], [1.0, 0.0]])) == -np.inf
    # and finite just inside, with no NaN anywhere, gradients included
    assert np.isfinite(prior.logpdf_correlations(np.array([0.999]), 2))
    grad = jax.grad(lambda r: prior.logpdf_correlations(r, 3))(jnp.asarray([0.9, 0.9, -0.9]))
    assert not np.any(np.isnan(grad))
    with pytest.raises(ValueError, match="3 correlations"):
        prior.logpdf_correlations(np.zeros(2), 3)
    with pytest.raises(ValueError, match=r"\(k, k\)"):
        prior.logpdf_corr(np.zeros((2, 3)))


@pytest.mark.parametrize("enable_x64", [False, True])
def test_lkj_bits_do_not_depend_on_the_batch_size(enable_x64):
    with jax.enable_x64(enable_x64):
        dtype = jnp.float64 if enable_x64 else jnp.float32
        r = jax.random.uniform(jax.random.key(1), (8, 6), dtype, minval=-0.4, maxval=0.4)
        for prior in (LKJ(0.7), LKJ(2.0)):
            f = jax.jit(jax.vmap(lambda v, p=prior: p.logpdf_correlations(v, 4)))
            three, eight = np.asarray(f(r[:3])), np.asarray(f(r))
            assert np.all(np.isfinite(eight))
            np.testing.assert_array_equal(three, eight[:3])


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 10])
def test_lkj_starting_correlations_are_small_and_positive_definite(k):
    r = np.asarray(LKJ(2.0).start_correlations(jax.random.key(k), k, 16))
    assert r.shape == (16, k * (k - 1) // 2)
    assert np.all(np.abs(r) <= 0.1 / k)
    assert np.all(np.isfinite(np.asarray(LKJ(2.0).logpdf_correlations(r, k))))
    assert len(set(r[:, 0].tolist())) == 16


# ------------------------------------------------------------------------------- text and checks

@pytest.mark.parametrize("text, prior", [
    ("student_t(3, 0, 2.5)", StudentT(3.0, 0.0, 2.5)),
    ("half_student_t(3, 2.5)", HalfStudentT(3.0, 2.5)),
    ("lkj(2)", LKJ(2.0)),
    ("student_t(0.5, -1.25, 100)", StudentT(0.5, -1.25, 100.0)),
    ("lkj(0.5)", LKJ(0.5)),
])
def test_parse_reads_back_what_str_writes(text, prior):
    assert priors.parse(text) == prior
    assert str(priors.parse(text)) == text
    assert priors.text(prior) == text


@pytest.mark.parametrize("text", ["Student-T(3,0,2.5)", " studentt (3, 0, 2.5) ", "HALF-STUDENT-T(3, 2.5)",
                                  "halfstudent_t(3,2.5)", "LKJ( 2 )"])
def test_parse_ignores_case_dashes_and_underscores(text):
    assert str(priors.parse(text)) in ("student_t(3, 0, 2.5)", "half_student_t(3, 2.5)", "lkj(2)")


@pytest.mark.parametrize("text, message", [
    ("student_t(0, 0, 1)", "StudentT df must be > 0, got 0.0"),
    ("student_t(3, 0, -1)", "StudentT scale must be > 0, got -1.0"),
    ("student_t(3, inf, 1)", "StudentT loc must be finite"),
    ("half_student_t(-2, 1)", "HalfStudentT df must be > 0, got -2.0"),
    ("half_student_t(3, 0)", "HalfStudentT scale must be > 0, got 0.0"),
    ("lkj(0)", "LKJ eta must be > 0, got 0.0"),
    ("lkj(nan)", "LKJ eta must be finite"),
    ("student_t(3, 1)", "needs 3 number"),
    ("half_student_t(3)", "needs 2 number"),
    ("lkj(1, 2)", "needs 1 number"),
    ("lkj(two)", "'two' where a number is expected"),
    ("student(3, 0, 1)", "cannot read the prior"),
])
def test_parse_rejects_bad_arguments_naming_them(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        priors.parse(text)


def test_constructors_reject_bad_arguments():
    with pytest.raises(ValueError, match="StudentT df must be > 0"):
        StudentT(-1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="HalfStudentT scale must be finite"):
        HalfStudentT(3.0, math.inf)
    with pytest.raises(TypeError, match="LKJ eta must be a number"):
        LKJ("two")


def test_check_knows_which_prior_serves_which_parameter():
    assert priors.check(StudentT(3.0, 0.0, 1.0), "mu") == StudentT(3.0, 0.0, 1.0)
    assert priors.check(HalfStudentT(3.0, 1.0), "sigma", scale=True) == HalfStudentT(3.0, 1.0)
    assert priors.check(HalfStudentT(3.0, 1.0), "sigma", kind="scale") == HalfStudentT(3.0, 1.0)
    assert priors.check(LKJ(2.0), "prior_omega", kind="correlation") == LKJ(2.0)
    with pytest.raises(ValueError, match="prior_sigma is the prior of a scale"):
        priors.check(StudentT(3.0, 0.0, 1.0), "prior_sigma", scale=True)
    with pytest.raises(ValueError, match="prior_sigma is the prior of a scale"):
        priors.check(Normal(0.0, 1.0), "prior_sigma", kind="scale")
    with pytest.raises(ValueError, match="prior_sigma is the prior of a scale.*LKJ is the prior of a correlation"):
        priors.check(LKJ(2.0), "prior_sigma", scale=True)
    with pytest.raises(ValueError, match="prior_mu is the prior of a location.*LKJ"):
        priors.check(LKJ(2.0), "prior_mu")
    for bad in (Normal(0.0, 1.0), HalfStudentT(3.0, 1.0), Uniform(-1.0, 1.0)):
        with pytest.raises(ValueError, match="prior_omega is the prior of a correlation matrix: use LKJ"):
            priors.check(bad, "prior_omega", kind="correlation")
    with pytest.raises(TypeError, match="prior_omega must be a prior of a correlation matrix"):
        priors.check(object(), "prior_omega", kind="correlation")
    with pytest.raises(ValueError, match="kind must be one of"):
        priors.check(Normal(0.0, 1.0), "mu", kind="Location")
    with pytest.raises(ValueError, match="contradicts"):
        priors.check(LKJ(1.0), "omega", scale=True, kind="correlation")

    class MyCorrelationPrior:
        def logpdf_correlations(self, r, k):
            return 0.0

    mine = MyCorrelationPrior()
    assert priors.check(mine, "prior_omega", kind="correlation") is mine


def test_sum_logpdf_of_the_new_priors(x64):
    x = np.array([0.1, 0.5, 3.0])
    assert float(priors.sum_logpdf(HalfStudentT(3.0, 1.0), x)) == pytest.approx(
        np.sum(np.log(2 * stats.t.pdf(x, 3.0))), rel=1e-10)
