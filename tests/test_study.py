"""Simulation studies: many datasets at once, a dataset's results independent of how many run."""

from __future__ import annotations

import json
import math

from functools import partial

import jax
import numpy as np
import pytest
from conftest import assert_within_mcse, ols_by_group

import jaxmh
from jaxmh import cli
from jaxmh._threefry import fold_in
from jaxmh.data import GroupedData, simulate_arrays
from jaxmh.summary import RHAT_THRESHOLD

#: The study's default models (the tutorial's, with its priors), by name.
TUTORIAL = {m: partial(getattr(jaxmh.models, m), priors="tutorial") for m in ("pooled", "unpooled", "hierarchical")}

SHORT = dict(num_samples=150, num_warmup=150)


def test_dataset_results_do_not_depend_on_the_number_of_datasets():
    small = jaxmh.study(jax.random.key(11), 4, batch_size=24, **SHORT)
    large = jaxmh.study(jax.random.key(11), 64, batch_size=24, **SHORT)  # 3 batches, the last padded
    for name in ("pooled", "unpooled", "hierarchical"):
        for field in ("rmse_alpha", "rmse_beta", "sigma_mean", "max_rhat", "acceptance_rate"):
            np.testing.assert_array_equal(getattr(large[name], field)[:4], getattr(small[name], field),
                                          err_msg=f"{name}.{field}")
        assert getattr(large[name], "rmse_alpha").shape == (64,)


def _dataset(key, d, num_groups=75, group_size=5):
    """Dataset ``d`` of ``jaxmh.study(key, ...)`` and its truth, simulated here, outside the study."""
    k_data, _ = jax.random.split(key)
    arrays, truth = simulate_arrays(fold_in(k_data, d), num_groups, group_size)
    data = GroupedData(x=np.asarray(arrays["x"]), y=np.asarray(arrays["y"]),
                       group=np.asarray(arrays["group"]))
    return data, {k: np.asarray(v, np.float64) for k, v in truth.items()}


def _study_model_key(key, name):
    """The key ``jaxmh.study(key, ...)`` gives model ``name`` (its layout of keys, which this
    module's exact-reproduction test depends on)."""
    from jaxmh.study import model_key

    return model_key(key, name)


def _rmse(estimate, truth):
    return float(np.sqrt(np.mean((np.asarray(estimate, np.float64) - truth) ** 2)))


def test_study_scores_each_dataset_against_its_own_truth():
    """The unpooled model has flat priors, so every dataset's exact posterior is known.

    The posterior means of alpha_i and beta_i are the per-group OLS fits (their
    U(-100, 100) bounds are far outside the posterior), and with alpha and beta
    integrated out p(sigma | y) is proportional to sigma^-(N - 2G) exp(-RSS / (2 sigma^2))
    on (0, 10), so E[sigma | y] = sqrt(RSS / 2) Gamma((N - 2G - 2) / 2) / Gamma((N - 2G - 1) / 2)
    (the bound at 10 is dozens of posterior sds away).

    By the triangle inequality the study's RMSE of its posterior means differs from the
    OLS fits' RMSE by at most the root mean square of the 75 Monte Carlo errors of those
    means, which is about sqrt(mean(MCSE_i^2)) (an average of 75 squared errors: 4 x is a
    wide margin).  The MCSEs come from jaxmh.fit run with the study's sampler and settings
    on the same dataset with another seed (the same distribution of Monte Carlo errors);
    that run, and the study's R-hat, must pass the library's convergence thresholds.
    """
    key = jax.random.key(5)
    settings = dict(num_chains=4, num_samples=12_000, num_warmup=1000)
    result = jaxmh.study(key, 3, models=(TUTORIAL["unpooled"],), batch_size=3, **settings)["unpooled"]
    assert result.method == "blocked"  # fit's default for a model with groups
    for d in range(3):
        data, truth = _dataset(key, d)
        ols = ols_by_group(data)
        run = jaxmh.fit(jax.random.key(100 + d), jaxmh.models.unpooled(data, priors="tutorial"),
                        method="blocked", **settings)
        check = jaxmh.summary(run, warn=False)
        assert check.flagged == {}, f"dataset {d}: the reference run has not converged: {check.flagged}"
        assert result.max_rhat[d] <= RHAT_THRESHOLD, f"dataset {d}: R-hat {result.max_rhat[d]}"
        for name in ("alpha", "beta"):
            mcse = np.array([check[f"{name}[{i}]"]["mcse_mean"] for i in range(data.num_groups)])
            got, exact = getattr(result, f"rmse_{name}")[d], _rmse(ols[name], truth[name])
            bound = 4 * np.sqrt(np.mean(mcse ** 2))
            assert bound < 0.25 * exact  # power: an RMSE of 0, or one against another truth, fails
            assert abs(got - exact) < bound, f"dataset {d}: rmse_{name} {got} vs exact {exact} (bound {bound})"
        df = data.num_obs - 2 * data.num_groups
        rss = ols["sigma"] ** 2 * df
        exact_sigma = np.sqrt(rss / 2) * np.exp(math.lgamma((df - 2) / 2) - math.lgamma((df - 1) / 2))
        assert_within_mcse(result.sigma_mean[d], exact_sigma, check["sigma"]["mcse_mean"], z=4.0,
                           what=f"dataset {d}: posterior mean of sigma")


def test_partial_pooling_wins_on_most_datasets():
    result = jaxmh.study(jax.random.key(2), 12, models=(TUTORIAL["unpooled"], TUTORIAL["hierarchical"]),
                         num_samples=1500, num_warmup=1000)
    wins = result.hierarchical_wins()
    assert wins["alpha"] >= 0.9 and wins["beta"] >= 0.9
    table = result.table()
    assert "hierarchical beats unpooled" in table and "R-hat>1.01" in table
    as_json = json.loads(json.dumps(result.to_dict()))
    assert len(as_json["models"]["hierarchical"]["rmse_alpha"]) == 12


def test_study_with_the_tutorial_sampler(x64):
    """With method="rwm", dataset d's chains are exactly what jaxmh.sample runs on that dataset.

    The study documents that dataset d's chain c is chain d * num_chains + c of one run,
    with the keys of the tutorial's sampler (``fit(method="rwm")``: warm-up and sampling on
    one key, split from the model's key, see ``_study_model_key``).  So
    jaxmh.sample with jaxmh.rwm(sd 0.1) on dataset d, started where the study starts it,
    draws the study's chains, and every number the study reports for that dataset is
    recomputed here from those draws: the acceptance rate as the share of steps that
    moved the chain (a rejected proposal leaves every coordinate unchanged, an accepted
    one changes them all with probability one), the RMSEs and mean sigma from the
    posterior means, and Gelman-Rubin's R-hat from the chains' means and variances.
    Three datasets in batches of two: dataset 2 runs in a second, padded batch.
    (64-bit floats, so that the study's log-densities, from sufficient statistics, and
    the model's agree to far below any accept/reject margin.)
    """
    key, num_chains, num_samples, num_warmup = jax.random.key(2), 4, 150, 150
    result = jaxmh.study(key, 3, models=(TUTORIAL["hierarchical"],), method="rwm", num_chains=num_chains,
                         num_samples=num_samples, num_warmup=num_warmup, batch_size=2)["hierarchical"]
    assert result.method == "rwm"
    k_init, _, k_run = jax.random.split(_study_model_key(key, "hierarchical"), 3)
    total = num_warmup + num_samples
    for d in range(3):
        data, truth = _dataset(key, d)
        model = jaxmh.models.hierarchical(data, priors="tutorial")
        start = model.init(fold_in(k_init, d), num_chains)
        # chains d * num_chains ... of this run are the dataset's; the chains before them
        # only give those chains their indices
        starts = jax.tree.map(lambda v: np.concatenate([v] * (d + 1)), start)
        run = jaxmh.sample(k_run, jaxmh.rwm(model.logdensity, 0.1), starts, num_samples=total)  # warm-up kept
        draws = {k: np.asarray(v[d * num_chains:], np.float64) for k, v in run.draws.items()}
        flat = np.concatenate([v.reshape(num_chains, total, -1) for v in draws.values()], axis=-1)
        moved = np.any(flat[:, num_warmup:] != flat[:, num_warmup - 1:-1], axis=-1)
        np.testing.assert_allclose(result.acceptance_rate[d], moved.mean(), rtol=1e-12,
                                   err_msg=f"dataset {d}: acceptance rate")
        kept = {k: v[:, num_warmup:] for k, v in draws.items()}
        for name in ("alpha", "beta"):
            np.testing.assert_allclose(getattr(result, f"rmse_{name}")[d],
                                       _rmse(kept[name].mean(axis=(0, 1)), truth[name]), rtol=1e-9,
                                       err_msg=f"dataset {d}: rmse_{name}")
        np.testing.assert_allclose(result.sigma_mean[d], kept["sigma"].mean(), rtol=1e-9,
                                   err_msg=f"dataset {d}: sigma_mean")
        rhats = []
        for v in kept.values():
            v = v.reshape(num_chains, num_samples, -1)
            within, between_over_n = v.var(axis=1, ddof=1).mean(axis=0), v.mean(axis=1).var(axis=0, ddof=1)
            rhats.append(np.sqrt(((num_samples - 1) / num_samples * within + between_over_n) / within))
        np.testing.assert_allclose(result.max_rhat[d], np.max(np.concatenate(rhats)), rtol=1e-9,
                                   err_msg=f"dataset {d}: max_rhat")


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_datasets=0), "num_datasets"),
    (dict(models=("pooled", "nested")), "unknown model"),
    (dict(models=()), "models is empty"),
    (dict(models=("pooled", "pooled")), "twice"),
    (dict(method="nuts"), "method"),
    (dict(method="blocked"), "pooled model has none"),
    (dict(num_groups=1, models=("hierarchical",)), "num_groups"),
    (dict(batch_size=0), "batch_size"),
])
def test_study_rejects_bad_arguments(kwargs, match):
    args = dict(num_datasets=2, **SHORT)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        jaxmh.study(jax.random.key(0), args.pop("num_datasets"), **args)


def test_study_cli_prints_table_and_writes_outputs(tmp_path, capsys):
    out, js = tmp_path / "rmse.png", tmp_path / "study.json"
    code = cli.main(["study", "--datasets", "3", "--samples", "100", "--warmup", "100",
                     "--out", str(out), "--json", str(js)])
    assert code == 0
    text = capsys.readouterr().out
    assert "hierarchical beats unpooled" in text and "datasets per second" in text
    assert out.exists() and out.stat().st_size > 10_000
    assert set(json.loads(js.read_text())["models"]) == {"pooled", "unpooled", "hierarchical"}


def test_study_cli_errors_cleanly(capsys):
    assert cli.main(["study", "--datasets", "2", "--models", "pooled", "--method", "blocked"]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err
