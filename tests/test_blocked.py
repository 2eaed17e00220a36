"""Group-blocked Metropolis-within-Gibbs: the split, per-group accept/reject, exact posteriors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_within_mcse, batch_means

import jaxmh
from jaxmh import logpdf
from jaxmh.kernels.group_blocked import blocked, build_kernel, init
from jaxmh.models import GroupSplit, Model


# --------------------------------------------------------------------------------------
# The split of the tutorial's models
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["unpooled", "hierarchical"])
def test_split_adds_up_to_the_log_density(x64, seed_r, name):
    data, _ = seed_r
    model = getattr(jaxmh.models, name)(data, priors="tutorial")
    params = model.init(jax.random.key(3), 20)
    for c in range(20):
        p = jax.tree.map(lambda v: v[c], params)
        g = model.split.group_logdensity(p)
        assert g.shape == (data.num_groups,)
        total = model.split.global_logdensity(p) + jnp.sum(g)
        np.testing.assert_allclose(total, model.logdensity(p), rtol=1e-12)


def test_group_terms_involve_only_their_own_group(x64, seed_r):
    """d group_logdensity[g] / d alpha[h] is zero for h != g: no group uses another's terms."""
    data, _ = seed_r
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    p = jax.tree.map(lambda v: v[0], model.init(jax.random.key(0), 1))
    for leaf in ("alpha", "beta"):
        jac = jax.jacfwd(lambda v: model.split.group_logdensity({**p, leaf: v}))(p[leaf])
        off = jac - jnp.diag(jnp.diag(jac))
        assert np.all(off == 0) and np.all(jnp.diag(jac) != 0)
    # and the global terms involve no group parameter
    for leaf in ("alpha", "beta"):
        grad = jax.grad(lambda v: model.split.global_logdensity({**p, leaf: v}))(p[leaf])
        assert np.all(grad == 0)


def test_standardize_inverts_and_its_logdet_is_the_jacobian(x64, seed_r):
    data, _ = seed_r
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    p = jax.tree.map(lambda v: v[1], model.init(jax.random.key(5), 2))
    z, logdet = model.split.standardize(p)
    back = model.split.unstandardize(z, p)
    for k in ("alpha", "beta"):
        np.testing.assert_allclose(back[k], p[k], rtol=1e-12)

    def group_from_z(flat):
        zz = {"alpha": flat[: data.num_groups], "beta": flat[data.num_groups:]}
        g = model.split.unstandardize(zz, p)
        return jnp.concatenate([g["alpha"], g["beta"]])

    jac = jax.jacfwd(group_from_z)(jnp.concatenate([z["alpha"], z["beta"]]))
    np.testing.assert_allclose(np.linalg.slogdet(np.asarray(jac))[1], logdet, rtol=1e-12)


# --------------------------------------------------------------------------------------
# Per-group accept / reject
# --------------------------------------------------------------------------------------
def _toy_split(frozen_group: int):
    """Two groups; group ``frozen_group`` rejects every move (its log-density is -inf off its start)."""

    def group_logdensity(p):
        t = p["theta"]
        free = -0.5 * t * t
        frozen = jnp.where(t == 0.25, 0.0, -jnp.inf)
        return jnp.where(jnp.arange(2) == frozen_group, frozen, free)

    return GroupSplit(("theta",), group_logdensity, lambda p: logpdf.normal(p["mu"], 0.0, 1.0))


@pytest.mark.parametrize("frozen_group", [0, 1])
def test_each_group_is_accepted_on_its_own_terms(frozen_group):
    """Each group's accept/reject uses only its own terms, at the exact rate of its target.

    The free group and the global block are each a random walk with proposal sd 1 on
    N(0, 1), whose stationary acceptance rate is exactly
    E[min(1, phi(x + Z) / phi(x))] = (2 / pi) arctan(2 / sd)  (x, Z ~ N(0, 1));
    checked here against a quadrature too.  Chains start at exact N(0, 1) draws, so every
    step is stationary; the chains are independent, so the spread of their rates gives the
    Monte Carlo error of the mean rate (whatever the autocorrelation within a chain).
    """
    exact = 2 / np.pi * np.arctan(2.0)
    grid = np.linspace(-10, 10, 2001)
    x, z = np.meshgrid(grid, grid, indexing="ij")
    weight = np.exp(-0.5 * (x * x + z * z)) / (2 * np.pi) * (grid[1] - grid[0]) ** 2
    assert abs(np.sum(weight * np.minimum(1.0, np.exp(-0.5 * ((x + z) ** 2 - x * x)))) - exact) < 1e-4

    num_chains, num_steps = 64, 2000
    split = _toy_split(frozen_group)
    kernel = blocked(split, {"theta": 1.0, "mu": 1.0})
    free = 1 - frozen_group
    stationary = np.random.default_rng(frozen_group).normal(size=(2, num_chains)).astype(np.float32)
    theta = np.full((num_chains, 2), 0.25, np.float32)
    theta[:, free] = stationary[0]
    start = {"theta": theta, "mu": stationary[1]}
    result = jaxmh.sample(jax.random.key(0), kernel, start, num_samples=num_steps)
    draws = {k: np.concatenate([np.asarray(start[k])[:, None], np.asarray(v)], axis=1)
             for k, v in result.draws.items()}
    assert np.all(draws["theta"][..., frozen_group] == 0.25)  # never accepted
    # a move is accepted iff the chain moved (the proposal differs with probability one)
    moves = {"group": np.diff(draws["theta"][..., free], axis=1) != 0,
             "global": np.diff(draws["mu"], axis=1) != 0}
    for what, moved in moves.items():
        per_chain = moved.mean(axis=1)
        assert_within_mcse(per_chain.mean(), exact, per_chain.std(ddof=1) / np.sqrt(num_chains), z=4.0,
                           what=f"acceptance rate of the {what} block")
    # the reported rate is the share over all three block updates (the frozen group's are all
    # rejected): the same counts, up to the rounding of one float32 division
    np.testing.assert_allclose(result.acceptance_rate, (moves["group"].sum(axis=1) + moves["global"].sum(axis=1))
                               / (3 * num_steps), rtol=1e-6)
    _, info = jax.jit(lambda k, s: kernel.step(k, s))(jax.random.key(1), kernel.init(
        jax.tree.map(lambda v: v[0], start)))
    assert info.is_accepted.shape == (3,)  # two groups + the global block
    assert not bool(info.is_accepted[frozen_group])
    assert float(info.acceptance_prob[frozen_group]) == 0.0


def test_non_finite_global_proposals_are_rejected():
    split = GroupSplit(("theta",), lambda p: -0.5 * p["theta"] ** 2,
                       lambda p: logpdf.uniform(p["s"], 0.0, 1.0))
    kernel = blocked(split, {"theta": 0.5, "s": 2.0})
    result = jaxmh.sample(jax.random.key(2), kernel, {"theta": jnp.zeros((2, 4)), "s": jnp.full(2, 0.5)}, num_samples=3000)
    s = np.asarray(result.draws["s"])
    assert np.all((s >= 0) & (s <= 1))
    assert np.all(np.isfinite(np.asarray(result.final_state.logdensity)))


# --------------------------------------------------------------------------------------
# A conjugate hierarchical model: the exact posterior is Gaussian
# --------------------------------------------------------------------------------------
SIGMA, TAU, PRIOR_SD = 1.5, 0.8, 2.0


def _conjugate_problem():
    rng = np.random.default_rng(7)
    sizes = np.array([1, 2, 3, 5, 8, 13, 21, 1, 40, 4])   # ragged on purpose
    G = sizes.size
    theta = rng.normal(1.0, TAU, G) + np.linspace(-2, 2, G)  # heterogeneous groups
    group = np.repeat(np.arange(G), sizes)
    y = theta[group] + rng.normal(0, SIGMA, group.size)
    return y, group, G


def _conjugate_model(y, group, G) -> Model:
    yj, gj = jnp.asarray(y), jnp.asarray(group)

    def group_logdensity(p):
        lik = jax.ops.segment_sum(logpdf.normal(yj, p["theta"][gj], SIGMA), gj, num_segments=G)
        return lik + logpdf.normal(p["theta"], p["mu"], TAU)

    def global_logdensity(p):
        return logpdf.normal(p["mu"], 0.0, PRIOR_SD)

    def standardize(p):
        return {"theta": (p["theta"] - p["mu"]) / TAU}, G * jnp.log(TAU)

    def unstandardize(z, p):
        return {"theta": p["mu"] + TAU * z["theta"]}

    split = GroupSplit(("theta",), group_logdensity, global_logdensity, standardize, unstandardize)

    def init(key, num_chains):
        k1, k2 = jax.random.split(key)
        return {"theta": jax.random.normal(k1, (num_chains, G)), "mu": jax.random.normal(k2, (num_chains,))}

    return Model("conjugate", lambda p: global_logdensity(p) + jnp.sum(group_logdensity(p)),
                 init, ("theta",), G, split)


def _exact_posterior(y, group, G):
    """Mean and sd of (theta_1..G, mu): a Gaussian with precision Q and Q m = b."""
    n = np.bincount(group, minlength=G).astype(float)
    s = np.bincount(group, y, minlength=G)
    Q = np.zeros((G + 1, G + 1))
    Q[np.arange(G), np.arange(G)] = n / SIGMA**2 + 1 / TAU**2
    Q[:G, G] = Q[G, :G] = -1 / TAU**2
    Q[G, G] = G / TAU**2 + 1 / PRIOR_SD**2
    b = np.r_[s / SIGMA**2, 0.0]
    cov = np.linalg.inv(Q)
    return np.linalg.solve(Q, b), np.sqrt(np.diag(cov))


@pytest.mark.parametrize("method", ["blocked", "adaptive"])
def test_conjugate_group_means_and_sds_match_the_exact_posterior(x64, method):
    y, group, G = _conjugate_problem()
    model = _conjugate_model(y, group, G)
    mean, sd = _exact_posterior(y, group, G)
    result = jaxmh.fit(jax.random.key(11), model, method=method, num_chains=32,
                       num_samples=4000, num_warmup=1000)
    draws = np.concatenate([np.asarray(result.draws["theta"]),
                            np.asarray(result.draws["mu"])[..., None]], axis=-1)
    est, mcse = batch_means(draws, 4)
    # 11 means checked: z = 3.5 keeps the family-wise false-alarm rate below 0.5%
    assert_within_mcse(est, mean, mcse, z=3.5, what=f"{method}: posterior means")
    # the posterior sds: the MCSE of E[(x - m)^2] by batch means, then the delta method
    sq_est, sq_mcse = batch_means((draws - mean) ** 2, 4)
    assert_within_mcse(np.sqrt(sq_est), sd, sq_mcse / (2 * sd), z=3.5, what=f"{method}: posterior sds")


# --------------------------------------------------------------------------------------
# The tutorial's hierarchical model on the R data
# --------------------------------------------------------------------------------------
def _flat(result) -> np.ndarray:
    return np.concatenate([np.asarray(v).reshape(*np.shape(v)[:2], -1) for v in result.draws.values()], axis=-1)


def test_blocked_agrees_with_a_long_independent_run(seed_r):
    data, _ = seed_r
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    short = jaxmh.fit(jax.random.key(1), model, method="blocked", num_chains=16,
                      num_samples=5000, num_warmup=2000)
    long = jaxmh.fit(jax.random.key(3), model, method="blocked", num_chains=64,
                     num_samples=5000, num_warmup=2000, thin=2)
    (ma, sa), (mb, sb) = batch_means(_flat(short), 4), batch_means(_flat(long), 4)
    # 155 parameters: z = 4.5 keeps the family-wise false-alarm rate below 0.1%
    assert_within_mcse(ma - mb, 0.0, np.sqrt(sa**2 + sb**2), z=4.5, what="blocked vs long run")
    hyper = np.stack([np.asarray(long.draws[k]) for k in ("mu_alpha", "mu_beta", "sigma_alpha",
                                                           "sigma_beta", "sigma")], axis=-1)
    assert np.max(jaxmh.diagnostics.rhat(hyper)) < 1.01


def test_blocked_and_adaptive_agree_with_each_other_and_with_ols(seed_r):
    """Unpooled model on the R data: flat priors make the posterior means the OLS estimates.

    (The joint random walk cannot do the same on the centred hierarchical model in a
    test's budget: its sigma_alpha mixes over tens of thousands of steps, even with
    the exact posterior covariance; see docs/benchmarks.md.)
    """
    from conftest import ols_by_group

    data, _ = seed_r
    model = jaxmh.models.unpooled(data, priors="tutorial")
    blocked_run = jaxmh.fit(jax.random.key(1), model, method="blocked", num_chains=16,
                            num_samples=4000, num_warmup=1000)
    adaptive_run = jaxmh.fit(jax.random.key(2), model, method="adaptive", num_chains=128,
                             num_samples=2000, num_warmup=10000, thin=4)
    ols = ols_by_group(data)
    exact = np.concatenate([ols["alpha"], ols["beta"]])
    stats = {}
    for name, result in [("blocked", blocked_run), ("adaptive", adaptive_run)]:
        draws = np.concatenate([np.asarray(result.draws["alpha"]), np.asarray(result.draws["beta"])], -1)
        stats[name] = batch_means(draws, 4)
        # 150 means: z = 4.5 keeps the family-wise false-alarm rate below 0.1%
        assert_within_mcse(stats[name][0], exact, stats[name][1], z=4.5, what=f"{name} vs OLS")
    (ma, sa), (mb, sb) = stats["blocked"], stats["adaptive"]
    assert_within_mcse(ma - mb, 0.0, np.sqrt(sa**2 + sb**2), z=4.5, what="blocked vs adaptive")


def test_build_kernel_is_pure_and_jittable(seed_r):
    data, _ = seed_r
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    p = jax.tree.map(lambda v: v[0], model.init(jax.random.key(0), 1))
    state = init(p, model.split)
    sizes = {k: 0.1 for k in p}
    step = jax.jit(lambda k, s: build_kernel()(k, s, model.split, sizes))
    s1, i1 = step(jax.random.key(4), state)
    s2, i2 = step(jax.random.key(4), state)
    for a, b in zip(jax.tree.leaves((s1, i1)), jax.tree.leaves((s2, i2))):
        np.testing.assert_array_equal(a, b)
    # the carried terms equal a fresh evaluation
    np.testing.assert_allclose(s1.group_logdensity, model.split.group_logdensity(s1.position), rtol=1e-5)
    np.testing.assert_allclose(s1.logdensity, model.logdensity(s1.position), rtol=1e-5)
    assert i1.is_accepted.shape == (data.num_groups + 2,)


def test_blocked_rejects_bad_arguments(seed_r):
    data, _ = seed_r
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    sizes = {k: 0.1 for k in ("alpha", "beta", "mu_alpha", "mu_beta", "sigma_alpha", "sigma_beta", "sigma")}
    with pytest.raises(TypeError, match="GroupSplit"):
        blocked(None, sizes)
    with pytest.raises(ValueError, match="step_size"):
        blocked(model.split, {**sizes, "sigma": -1.0})
    kernel = blocked(model.split, {k: v for k, v in sizes.items() if k != "sigma"})
    with pytest.raises(ValueError, match="structure"):
        jaxmh.sample(jax.random.key(0), kernel, model.init(jax.random.key(1), 2), num_samples=10)
