"""Small datasets shipped with jaxmh (sources and licences in ``jaxmh/datasets/README.md``)."""

from __future__ import annotations

import csv
import os
import shutil
from importlib import resources

import numpy as np

from jaxmh.data import GroupedData, from_csv, read_truth_csv

__all__ = ["tutorial", "radon", "eight_schools", "save_csv", "NAMES"]

#: Bundled datasets and their CSV files (see :func:`save_csv`).
NAMES = {"tutorial": "tutorial_data.csv", "radon": "radon_mn.csv", "eight_schools": "eight_schools.csv",
         "reaction_times": "reaction_times.csv"}


def _path(filename: str):
    return resources.as_file(resources.files(__name__) / filename)


def tutorial() -> tuple[GroupedData, dict]:
    """The tutorial's exact simulated data, as R's ``set.seed(1)`` made it.

    75 individuals x 5 observations from Bølstad (2019), "The Benefits of
    Bayesian Hierarchical Modeling", regenerated with the post's R code
    (R 4.2.2, default RNG).  Returns ``(data, truth)`` with ``truth["alpha"]``
    and ``truth["beta"]`` in the data's group order (group ``g`` is the R
    individual ``g + 1``).
    """
    with _path("tutorial_data.csv") as path:
        data = from_csv(path, x="x", y="y", group="i")
    with _path("tutorial_truth.csv") as path:
        truth = read_truth_csv(path, data)
    truth["sigma"] = 2.0
    return data, truth


def radon() -> tuple[GroupedData, tuple[str, ...]]:
    """Minnesota radon: log radon by floor in 919 houses of 85 counties.

    ``x`` is the floor of the measurement (0 basement, 1 first floor), ``y``
    the log radon activity (``log(pCi/L + 0.1)``) and the groups are the
    counties, in alphabetical order (group ``g`` is the posterior database's
    ``county_idx = g + 1``).  Counties have 1 to 116 houses.

    Source: Gelman & Hill (2006), *Data Analysis Using Regression and
    Multilevel/Hierarchical Models*, chapter 12 (the EPA's 1987 radon survey);
    values as in the Stan posterior database's ``radon_mn`` (BSD-3-Clause).
    The CSV (with the county uranium ``log_uppm`` too) can be written with
    ``save_csv("radon", path)``.

    Returns
    -------
    (GroupedData, tuple of str)
        The data (``data.labels`` are the county names) and the county names.

    Examples
    --------
    >>> from jaxmh.datasets import radon
    >>> data, counties = radon()
    >>> data.num_obs, data.num_groups, counties[:2]
    (919, 85, ('AITKIN', 'ANOKA'))
    """
    with _path("radon_mn.csv") as path:
        data = from_csv(path, x="floor", y="log_radon", group="county")
    return data, data.labels


def eight_schools() -> tuple[np.ndarray, np.ndarray]:
    """Eight schools: estimated SAT-coaching effects ``y`` and their standard errors ``sigma``.

    Source: Rubin (1981), "Estimation in parallel randomized experiments",
    *Journal of Educational Statistics* 6(4); Gelman et al., *Bayesian Data
    Analysis* (3rd ed.), section 5.5.  Schools A-H in order.  Fit it with
    :func:`jaxmh.models.eight_schools`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``y`` and ``sigma``, each shaped ``(8,)``.

    Examples
    --------
    >>> from jaxmh.datasets import eight_schools
    >>> y, sigma = eight_schools()
    >>> y.tolist(), sigma.tolist()
    ([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0], [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    """
    with _path("eight_schools.csv") as path, open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return (np.array([float(r["y"]) for r in rows]), np.array([float(r["sigma"]) for r in rows]))


def save_csv(name: str, path: str | os.PathLike) -> str:
    """Write a bundled dataset's CSV file to ``path`` (to try ``jaxmh fit`` on a real file).

    Parameters
    ----------
    name
        One of ``"tutorial"``, ``"radon"``, ``"eight_schools"``, ``"reaction_times"``
        (simulated reaction times in ms, 18 subjects x 10 days; columns
        ``Subject``, ``Days``, ``Reaction``; ``examples/make_reaction_times.py``).
    path
        Where to write it.

    Returns
    -------
    str
        ``path``.
    """
    if name not in NAMES:
        raise ValueError(f"name must be one of {sorted(NAMES)}, got {name!r}")
    with _path(NAMES[name]) as source:
        shutil.copyfile(source, path)
    return os.fspath(path)
