"""``jaxmh fit``: successful runs on the bundled radon data and on a user's CSV (in-process, small sizes)."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

import jaxmh
from jaxmh import cli
from jaxmh.priors import HalfNormal, Normal
from conftest import write_csv

PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys, argv):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def table(out: str) -> dict:
    """``{row name: [mean, sd, lower, upper, mcse, ess_bulk, ess_tail, r_hat]}`` from the printed tables."""
    rows = {}
    for line in out.splitlines():
        parts = line.rsplit(None, 8)
        if len(parts) != 9:
            continue
        try:
            rows[parts[0].strip()] = [float(v) for v in parts[1:]]
        except ValueError:                       # headers and prose
            continue
    return rows


def grouped_csv(tmp_path, num_groups=6, size=8, seed=3):
    """Groups with string labels (some with spaces), rows interleaved."""
    rng = np.random.default_rng(seed)
    labels = [f"site {c}" for c in "QWERTYUIOP"[:num_groups]]
    alpha, beta = rng.normal(2, 1, num_groups), rng.normal(-1, 0.5, num_groups)
    rows = []
    for _ in range(size):
        for g, name in enumerate(labels):
            x = rng.normal()
            rows.append([name, x, alpha[g] + beta[g] * x + 0.3 * rng.normal(), "note"])
    return write_csv(tmp_path / "sites.csv", ["site", "dose", "response", "comment"], rows), labels


def test_fit_radon_prints_labelled_summary_and_writes_everything(tmp_path, capsys):
    out_dir = tmp_path / "figs"
    code, out, err = run(capsys, [
        "fit", "radon", "--chains", "2", "--samples", "400", "--warmup", "300", "--out", str(out_dir),
        "--save", str(tmp_path / "draws.npz"), "--netcdf", str(tmp_path / "draws.nc")])
    assert code == 0, err
    assert "919 rows, 85 groups (county), 1 to 116 rows per group" in out
    assert "log_radon ~ N(alpha[g] + beta[g] * floor, sigma^2)" in out
    data, counties = jaxmh.datasets.radon()
    defaults = jaxmh.models.hierarchical(data).priors                     # the default priors are shown
    assert "priors [data-scaled defaults" in out
    assert ", ".join(f"{k} ~ {v}" for k, v in defaults.items()) in out
    rows = table(out)
    assert {"mu_alpha", "mu_beta", "sigma", "sigma_alpha", "sigma_beta"} <= set(rows)
    assert {f"alpha[{c}]" for c in counties} | {f"beta[{c}]" for c in counties} <= set(rows)
    assert len(rows) == 175
    # the printed numbers are those of the saved draws
    saved = np.load(tmp_path / "draws.npz", allow_pickle=False)
    assert saved["alpha"].shape == (2, 400, 85)
    assert list(saved["group_labels"]) == list(counties)
    assert rows["mu_alpha"][0] == pytest.approx(saved["mu_alpha"].mean(), abs=6e-4)
    assert rows["alpha[ST LOUIS]"][0] == pytest.approx(saved["alpha"][:, :, counties.index("ST LOUIS")].mean(),
                                                       abs=6e-4)
    assert "not converged" in out or "converged: all 175" in out
    for name in ("caterpillar.png", "shrinkage.png"):
        assert (out_dir / name).read_bytes()[:8] == PNG
        assert f"wrote {out_dir / name}" in out
    import arviz                                                          # in the test extra
    idata = arviz.from_netcdf(tmp_path / "draws.nc")
    assert idata.posterior["alpha"].dims == ("chain", "draw", "county")
    assert list(idata.posterior["county"].values) == list(counties)
    np.testing.assert_array_equal(idata.posterior["beta"].values, saved["beta"])


def test_fit_is_jaxmh_fit_with_the_given_priors(tmp_path, capsys):
    """The command builds the model the options describe: same seed, same draws as the Python API."""
    path, labels = grouped_csv(tmp_path)
    code, out, err = run(capsys, [
        "fit", path, "--y", "response", "--x", "dose", "--group", "site", "--model", "intercepts",
        "--prior", "sigma=half-normal(1)", "--prior", "mu_alpha = normal(0, 10)", "--seed", "7",
        "--chains", "2", "--samples", "300", "--warmup", "100", "--no-plots", "--save", str(tmp_path / "d.npz")])
    assert code == 0, err
    assert "6 groups (site), 8 to 8 rows per group" in out
    data = jaxmh.data.from_csv(path, x="dose", y="response", group="site")
    model = jaxmh.models.intercepts(data, prior_sigma=HalfNormal(1), prior_mu_alpha=Normal(0, 10))
    p = model.priors
    assert (f"mu_alpha ~ normal(0, 10) (--prior), beta ~ {p['beta']}, sigma_alpha ~ {p['sigma_alpha']}, "
            "sigma ~ half-normal(1) (--prior)") in out
    expected = jaxmh.fit(jax.random.key(7), model, num_chains=2, num_samples=300, num_warmup=100)
    saved = np.load(tmp_path / "d.npz")
    for name, value in expected.draws.items():
        np.testing.assert_array_equal(saved[name], np.asarray(value))
    assert list(saved["group_labels"]) == labels
    assert set(table(out)) == {"mu_alpha", "sigma_alpha", "beta", "sigma"} | {f"alpha[{g}]" for g in labels}
    assert list(tmp_path.glob("*.png")) == []                            # --no-plots


@pytest.mark.parametrize("model", ["unpooled", "pooled"])
def test_fit_other_models(tmp_path, capsys, model):
    path, labels = grouped_csv(tmp_path, num_groups=4)
    code, out, err = run(capsys, ["fit", path, "--y", "response", "--x", "dose", "--group", "site",
                                  "--model", model, "--chains", "2", "--samples", "200", "--warmup", "100",
                                  "--out", str(tmp_path)])
    assert code == 0, err
    rows = table(out)
    assert "sigma" in rows
    if model == "pooled":
        assert {"alpha", "beta", "sigma"} == set(rows)
        assert "no caterpillar plot" in out
        assert not (tmp_path / "caterpillar.png").exists()
    else:
        assert {f"beta[{g}]" for g in labels} <= set(rows)
        assert (tmp_path / "caterpillar.png").exists()
    assert not (tmp_path / "shrinkage.png").exists()                     # only models that pool


def test_drop_missing_drops_rows_and_fits(tmp_path, capsys):
    path = write_csv(tmp_path / "gaps.csv", ["g", "x", "y"],
                     [["a", 0.1, 1.0], ["a", "", 1.2], ["a", 0.5, 1.1], ["b", 0.2, "NA"], ["b", 0.3, 2.0],
                      ["b", 0.9, 2.2], ["c", 1.0, 3.0], ["c", 0.0, 2.9]])
    code, out, err = run(capsys, ["fit", path, "--y", "y", "--x", "x", "--group", "g", "--drop-missing",
                                  "--chains", "2", "--samples", "50", "--warmup", "20", "--no-plots"])
    assert code == 0, err
    assert "6 rows, 3 groups (g), 2 to 2 rows per group" in out
    assert "dropped 2 row(s) with a missing 'x' or 'y' (--drop-missing): rows 2, 4" in out  # data rows


def test_a_file_named_like_a_bundled_dataset_wins(tmp_path, capsys, monkeypatch):
    path, _ = grouped_csv(tmp_path, num_groups=3)
    os.replace(path, tmp_path / "radon")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, ["fit", "radon", "--y", "response", "--x", "dose", "--group", "site",
                                  "--chains", "2", "--samples", "50", "--warmup", "20", "--no-plots"])
    assert code == 0, err
    assert "data: radon: 24 rows, 3 groups (site)" in out


def test_fit_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["fit", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--y", "--x", "--group", "--model", "--method", "--prior", "--out", "--save", "--netcdf",
                   "--drop-missing", "intercepts"):
        assert option in out
