"""Small datasets shipped with jaxmh."""

from __future__ import annotations

from importlib import resources

from jaxmh.data import GroupedData, from_csv, read_truth_csv

__all__ = ["tutorial"]


def tutorial() -> tuple[GroupedData, dict]:
    """The tutorial's exact simulated data, as R's ``set.seed(1)`` made it.

    75 individuals x 5 observations from Bølstad (2019), "The Benefits of
    Bayesian Hierarchical Modeling", regenerated with the post's R code
    (R 4.2.2, default RNG).  Returns ``(data, truth)`` with ``truth["alpha"]``
    and ``truth["beta"]`` in the data's group order (group ``g`` is the R
    individual ``g + 1``).
    """
    root = resources.files(__name__)
    with resources.as_file(root / "tutorial_data.csv") as path:
        data = from_csv(path, x="x", y="y", group="i")
    with resources.as_file(root / "tutorial_truth.csv") as path:
        truth = read_truth_csv(path, data)
    truth["sigma"] = 2.0
    return data, truth
