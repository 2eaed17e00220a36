"""Simulation studies: many datasets at once, a dataset's results independent of how many run."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

import jaxmh
from jaxmh import cli
from jaxmh._threefry import fold_in
from jaxmh.data import simulate_arrays

SHORT = dict(num_samples=150, num_warmup=150)


def test_dataset_results_do_not_depend_on_the_number_of_datasets():
    small = jaxmh.study(jax.random.key(11), 4, batch_size=24, **SHORT)
    large = jaxmh.study(jax.random.key(11), 64, batch_size=24, **SHORT)  # 3 batches, the last padded
    for name in ("pooled", "unpooled", "hierarchical"):
        for field in ("rmse_alpha", "rmse_beta", "sigma_mean", "max_rhat", "acceptance_rate"):
            np.testing.assert_array_equal(getattr(large[name], field)[:4], getattr(small[name], field),
                                          err_msg=f"{name}.{field}")
        assert getattr(large[name], "rmse_alpha").shape == (64,)


def test_study_scores_each_dataset_against_its_own_truth(x64):
    """The unpooled model has flat priors: its posterior means are the per-group OLS fits.

    So the study's RMSE for a dataset must be the RMSE of OLS against that dataset's
    truth, up to Monte Carlo error of the posterior means (bounded here by 4 x the
    posterior sd / sqrt(ESS), with ESS >= 100 for this run).
    """
    key = jax.random.key(5)
    result = jaxmh.study(key, 3, models=("unpooled",), num_samples=4000, num_warmup=1000)
    k_data, _ = jax.random.split(key)
    for d in range(3):
        arrays, truth = simulate_arrays(fold_in(k_data, d), 75, 5)
        x, y = np.asarray(arrays["x"]).reshape(75, 5), np.asarray(arrays["y"]).reshape(75, 5)
        xc = x - x.mean(axis=1, keepdims=True)
        slope = (xc * (y - y.mean(axis=1, keepdims=True))).sum(axis=1) / (xc ** 2).sum(axis=1)
        intercept = y.mean(axis=1) - slope * x.mean(axis=1)
        ols_rmse = np.sqrt(np.mean((intercept - np.asarray(truth["alpha"])) ** 2))
        # posterior sd of an intercept is about sigma / sqrt(5) ~ 1-3; MC error of a mean < 4 * 3 / 10
        assert abs(result["unpooled"].rmse_alpha[d] - ols_rmse) < 4 * 3.0 / np.sqrt(100)
        assert result["unpooled"].max_rhat[d] < 1.05


def test_partial_pooling_wins_on_most_datasets():
    result = jaxmh.study(jax.random.key(2), 12, models=("unpooled", "hierarchical"),
                         num_samples=1500, num_warmup=1000)
    wins = result.hierarchical_wins()
    assert wins["alpha"] >= 0.9 and wins["beta"] >= 0.9
    table = result.table()
    assert "hierarchical beats unpooled" in table and "R-hat>1.01" in table
    as_json = json.loads(json.dumps(result.to_dict()))
    assert len(as_json["models"]["hierarchical"]["rmse_alpha"]) == 12


def test_study_with_the_tutorial_sampler():
    result = jaxmh.study(jax.random.key(2), 3, models=("hierarchical",), method="rwm", **SHORT)
    assert result["hierarchical"].method == "rwm"
    assert np.all((result["hierarchical"].acceptance_rate > 0) & (result["hierarchical"].acceptance_rate < 1))


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
