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
