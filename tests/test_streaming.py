"""Streaming moments (store="moments") and running in chunks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmh
from jaxmh import _loop
from jaxmh.moments import moments_from_draws

KERNEL = jaxmh.rwm(lambda p: -0.5 * jnp.sum(p["x"] ** 2) - 0.5 * p["s"] ** 2 / 4.0, step_size=0.9)


def _start(num_chains):
    return {"x": jnp.zeros((num_chains, 3)), "s": jnp.ones((num_chains,))}


def _assert_trees_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _assert_moments_close(moments, reference, rtol=1e-10):
    np.testing.assert_array_equal(np.asarray(moments.count), np.asarray(reference.count))
    for got, want in zip(jax.tree_util.tree_leaves(moments.mean), jax.tree_util.tree_leaves(reference.mean)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=1e-12)
    for got, want in zip(jax.tree_util.tree_leaves(moments.variance),
                         jax.tree_util.tree_leaves(reference.variance)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("thin", [1, 3])
def test_streaming_moments_equal_moments_of_stored_draws(x64, thin):
    result = jaxmh.sample(jax.random.key(0), KERNEL, _start(4), num_samples=3000, num_warmup=200, thin=thin,
                          store="both")
    assert result.draws["x"].dtype == jnp.float64
    _assert_moments_close(result.moments, moments_from_draws(result.draws))


def test_streaming_moments_of_blocked_fit_equal_stored(x64, seed_r):
    data, _ = seed_r
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    both = jaxmh.fit(jax.random.key(1), model, num_samples=400, num_warmup=200, store="both")
    _assert_moments_close(both.moments, moments_from_draws(both.draws))
    only = jaxmh.fit(jax.random.key(1), model, num_samples=400, num_warmup=200, store="moments")
    assert only.draws is None
    # the same chains, whether or not draws are also kept
    _assert_moments_close(only.moments, both.moments, rtol=1e-12)
    _assert_trees_equal(only.acceptance_rate, both.acceptance_rate)


def test_moments_mode_keeps_no_draws_and_says_so():
    result = jaxmh.sample(jax.random.key(0), KERNEL, _start(2), num_samples=50, store="moments")
    assert result.draws is None
    assert result.moments.mean["x"].shape == (2, 3)
    assert result.moments.variance["s"].shape == (2,)
    np.testing.assert_array_equal(result.moments.count, [50, 50])
    with pytest.raises(ValueError, match="store='moments'"):
        result.to_arviz()


def test_summary_of_moments_matches_summary_of_draws(x64):
    result = jaxmh.sample(jax.random.key(4), KERNEL, _start(4), num_samples=2000, num_warmup=100, store="both")
    from_draws = jaxmh.summary(result.draws, warn=False)
    from_moments = jaxmh.summary(result._replace(draws=None), warn=False)
    assert from_moments.names == from_draws.names
    for col in ("mean", "sd"):
        np.testing.assert_allclose(from_moments.columns[col], from_draws.columns[col], rtol=1e-10)
    assert np.isnan(from_moments.columns["ess_bulk"]).all()
    # the moments R-hat is the classic Gelman-Rubin statistic on the same chains
    x = np.asarray(result.draws["s"])
    n = x.shape[1]
    w = x.var(axis=1, ddof=1).mean()
    b_over_n = x.mean(axis=1).var(ddof=1)
    expected = np.sqrt(((n - 1) / n * w + b_over_n) / w)
    np.testing.assert_allclose(from_moments["s"]["rhat"], expected, rtol=1e-10)


def test_rhat_from_moments_flags_chains_that_disagree():
    rng = np.random.default_rng(0)
    same = rng.normal(size=(4, 1000))
    apart = same + np.array([0.0, 0.0, 0.0, 1.0])[:, None]
    stats = lambda x: (np.full(4, x.shape[1]), x.mean(axis=1), x.var(axis=1, ddof=1))  # noqa: E731
    assert jaxmh.diagnostics.rhat_from_moments(*stats(same)) < 1.01
    assert jaxmh.diagnostics.rhat_from_moments(*stats(apart)) > 1.1
    assert np.isnan(jaxmh.diagnostics.rhat_from_moments([10], [[0.0]], [[1.0]])).all()
    with pytest.raises(ValueError, match="count"):
        jaxmh.diagnostics.rhat_from_moments(np.ones((2, 2)), np.ones(2), np.ones(2))


@pytest.mark.parametrize("every", [1, 7, 64, 10_000])
def test_chunked_run_is_bitwise_the_unchunked_run(every):
    whole = jaxmh.sample(jax.random.key(2), KERNEL, _start(3), num_samples=100, num_warmup=30, thin=2, store="both")
    chunked = jaxmh.sample(jax.random.key(2), KERNEL, _start(3), num_samples=100, num_warmup=30, thin=2, store="both",
                           checkpoint_every=every)
    _assert_trees_equal(whole, chunked)


@pytest.mark.parametrize("method", ["rwm", "adaptive", "blocked"])
def test_chunked_fit_is_bitwise_the_unchunked_fit(seed_r, method):
    model = jaxmh.models.hierarchical(seed_r[0], priors="tutorial")
    settings = dict(method=method, num_chains=2, num_samples=150, num_warmup=120)
    whole = jaxmh.fit(jax.random.key(5), model, **settings)
    chunked = jaxmh.fit(jax.random.key(5), model, checkpoint_every=50, **settings)
    _assert_trees_equal(whole, chunked)


def test_adapted_chains_do_not_depend_on_how_many_run(seed_r):
    """Chain c of fit() is the same with 3 chains or 8 (warm-up adaptation included).

    Not a guarantee for every pair of chain counts: XLA may associate the blocked
    sampler's sum over groups differently for other batch sizes (docs/design.md).
    """
    model = jaxmh.models.hierarchical(seed_r[0], priors="tutorial")
    for method in ("adaptive", "blocked"):
        many = jaxmh.fit(jax.random.key(3), model, method=method, num_chains=8, num_samples=100,
                         num_warmup=200)
        three = jaxmh.fit(jax.random.key(3), model, method=method, num_chains=3, num_samples=100,
                          num_warmup=200)
        _assert_trees_equal(jax.tree.map(lambda v: v[:3], many.draws), three.draws)


def _bundled_models():
    data, _ = jaxmh.datasets.tutorial()
    y, sigma = jaxmh.datasets.eight_schools()
    return {
        "hierarchical": lambda: jaxmh.models.hierarchical(data),            # data-scaled priors
        "intercepts": lambda: jaxmh.models.intercepts(data),
        "unpooled": lambda: jaxmh.models.unpooled(data),
        "pooled": lambda: jaxmh.models.pooled(data),
        "eight_schools": lambda: jaxmh.models.eight_schools(y, sigma),
        "eight_schools_centered": lambda: jaxmh.models.eight_schools(y, sigma, centered=True),
    }


@pytest.mark.parametrize("name", list(_bundled_models()))
def test_every_bundled_model_gives_chain_c_the_same_draws_with_3_or_8_chains(name):
    """fit's default method, warm-up adaptation included, on every bundled model and its default priors."""
    model = _bundled_models()[name]()
    many = jaxmh.fit(jax.random.key(3), model, num_chains=8, num_samples=100, num_warmup=200)
    three = jaxmh.fit(jax.random.key(3), model, num_chains=3, num_samples=100, num_warmup=200)
    _assert_same_chains_to_rounding(jax.tree.map(lambda v: v[:3], many.draws), three.draws)


def _assert_same_chains_to_rounding(a, b):
    """The same chains: equal, or apart by rounding only (1e-3 posterior sd at every draw).

    XLA compiles the 3- and 8-chain programs separately and may fuse a multiply-add
    in one and not the other (docs/design.md, "Bit-stability, to rounding"); a
    different accept/reject decision or a different random number would move a
    chain by about a posterior sd, a thousand times this bound.
    """
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        sd = y.reshape(-1, *y.shape[2:]).std(axis=0)
        assert np.all(np.abs(x - y) <= 1e-3 * sd), np.max(np.abs(x - y) / sd)


def test_chunks_compile_once(monkeypatch):
    """Full and partial chunks, of warm-up and of sampling, share one compiled scan."""
    _loop._compiled.cache_clear()
    jaxmh.sample(jax.random.key(2), KERNEL, _start(2), num_samples=100, num_warmup=25, checkpoint_every=10)
    assert _loop._compiled.cache_info().currsize == 1
    _loop._compiled.cache_clear()
    model = jaxmh.model("y ~ x + (1 | g)", {"y": np.arange(12.0) % 5, "x": np.arange(12.0), "g": np.arange(12) % 3})
    jaxmh.fit(jax.random.key(2), model, num_chains=2, num_samples=30, num_warmup=45, progress=False)
    assert _loop._compiled.cache_info().currsize == 1      # a tuned warm-up too


def test_bad_run_options_raise_before_running(tmp_path):
    with pytest.raises(ValueError, match="store must be one of"):
        jaxmh.sample(jax.random.key(0), KERNEL, _start(2), num_samples=10, store="everything")
    with pytest.raises(ValueError, match="checkpoint_every"):
        jaxmh.sample(jax.random.key(0), KERNEL, _start(2), num_samples=10, checkpoint_every=0)
    with pytest.raises(ValueError, match="does not exist"):
        jaxmh.sample(jax.random.key(0), KERNEL, _start(2), num_samples=10, checkpoint=str(tmp_path / "no" / "x.npz"))
    with pytest.raises(TypeError, match="progress"):
        jaxmh.sample(jax.random.key(0), KERNEL, _start(2), num_samples=10, progress="yes")


def test_progress_is_quiet_under_ci_and_off_a_terminal(monkeypatch, capsys):
    from jaxmh import progress

    monkeypatch.setenv("CI", "1")
    assert progress.wanted(None) is False
    assert progress.wanted(True) is True
    monkeypatch.delenv("CI")
    assert progress.wanted(None) is False          # pytest captures stderr: not a TTY
    jaxmh.sample(jax.random.key(0), KERNEL, _start(2), num_samples=20, progress=True)
    assert "step" in capsys.readouterr().err       # the bar was drawn when asked for
