"""Grouped long-format data, the tutorial's simulator, and CSV loading."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks

__all__ = ["GroupedData", "simulate", "from_csv", "read_truth_csv"]


@dataclass(frozen=True, eq=False)
class GroupedData:
    """Observations ``(x, y)`` in long format with an integer group index.

    Parameters
    ----------
    x, y
        1-D arrays of equal length: the predictor and the outcome.
    group
        1-D integer array, the group (individual) of each row, in ``0..G-1``;
        every group must have at least one row.  Group sizes may differ.
    labels
        Optional names of the groups (``labels[g]`` is group ``g``'s name).
    dropped_rows
        Row numbers that :func:`from_csv` with ``drop_missing=True`` left out
        for a missing ``x`` or ``y`` (1-based data rows, the header not
        counted: the numbering of ``from_csv``'s error messages); empty
        otherwise.  Not part of the data: it plays no role in fitting.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmh.data import GroupedData
    >>> d = GroupedData(x=np.array([0., 1., 2.]), y=np.array([1., 2., 2.]), group=np.array([0, 0, 1]))
    >>> d.num_groups, d.group_sizes.tolist()
    (2, [2, 1])
    """

    x: np.ndarray
    y: np.ndarray
    group: np.ndarray
    labels: tuple = field(default=None)
    dropped_rows: tuple = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        x = _float_vector(self.x, "x")
        y = _float_vector(self.y, "y")
        group = np.asarray(self.group)
        if group.ndim != 1:
            raise ValueError(f"group must be 1-D, got shape {group.shape}")
        if group.size and not np.issubdtype(group.dtype, np.integer):
            if np.issubdtype(group.dtype, np.floating) and np.all(np.mod(group, 1) == 0):
                group = group.astype(np.int64)
            else:
                raise TypeError(
                    f"group must hold integer indices 0..G-1, got dtype {group.dtype}; "
                    "use from_csv or map labels to integers first"
                )
        if not (len(x) == len(y) == len(group)):
            raise ValueError(
                f"x, y and group must have equal lengths, got {len(x)}, {len(y)} and {len(group)}"
            )
        if len(x) == 0:
            raise ValueError("the data have no rows")
        if group.min() < 0:
            raise ValueError(f"group indices must be >= 0, found {group.min()}")
        counts = np.bincount(group)
        missing = np.flatnonzero(counts == 0)
        if missing.size:
            raise ValueError(
                f"group indices must cover 0..{len(counts) - 1} with every group present; "
                f"groups {missing.tolist()[:10]} have no rows"
            )
        labels = self.labels
        if labels is not None:
            labels = tuple(labels)
            if len(labels) != len(counts):
                raise ValueError(f"labels has {len(labels)} names for {len(counts)} groups")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "group", group.astype(np.int32))
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "dropped_rows", tuple(int(r) for r in self.dropped_rows))

    @property
    def num_groups(self) -> int:
        """Number of groups ``G``."""
        return int(self.group.max()) + 1

    @property
    def num_obs(self) -> int:
        """Number of rows ``N``."""
        return int(self.x.shape[0])

    @property
    def group_sizes(self) -> np.ndarray:
        """Rows per group, shape ``(G,)``."""
        return np.bincount(self.group, minlength=self.num_groups)

    def __repr__(self) -> str:
        sizes = self.group_sizes
        return (
            f"GroupedData(num_obs={self.num_obs}, num_groups={self.num_groups}, "
            f"group sizes {sizes.min()}..{sizes.max()})"
        )


def _float_vector(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numeric") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} has {bad.size} non-finite value(s), first at row {bad[0]}")
    return arr


def simulate_arrays(
    key: jax.Array,
    num_groups: int,
    group_size: int,
    mu_alpha: float = 2.0,
    sigma_alpha: float = 1.0,
    mu_beta: float = -2.0,
    sigma_beta: float = 1.0,
    sigma: float = 2.0,
) -> tuple[dict, dict]:
    """The tutorial's data-generating process as pure JAX (jittable, vmappable).

    Returns ``({"x", "y", "group"}, {"alpha", "beta", "sigma"})`` with rows
    ordered group by group.
    """
    k_alpha, k_beta, k_x, k_eps = jax.random.split(key, 4)
    alpha = mu_alpha + sigma_alpha * jax.random.normal(k_alpha, (num_groups,))
    beta = mu_beta + sigma_beta * jax.random.normal(k_beta, (num_groups,))
    x = jax.random.normal(k_x, (num_groups, group_size))
    y = alpha[:, None] + beta[:, None] * x + sigma * jax.random.normal(k_eps, (num_groups, group_size))
    group = jnp.repeat(jnp.arange(num_groups, dtype=jnp.int32), group_size)
    data = {"x": x.reshape(-1), "y": y.reshape(-1), "group": group}
    return data, {"alpha": alpha, "beta": beta, "sigma": jnp.asarray(sigma, x.dtype)}


def simulate(
    key: jax.Array,
    num_groups: int = 75,
    group_size: int = 5,
    *,
    mu_alpha: float = 2.0,
    sigma_alpha: float = 1.0,
    mu_beta: float = -2.0,
    sigma_beta: float = 1.0,
    sigma: float = 2.0,
) -> tuple[GroupedData, dict]:
    """Simulate the tutorial's data.

    ``alpha_i ~ N(mu_alpha, sigma_alpha^2)``, ``beta_i ~ N(mu_beta, sigma_beta^2)``,
    ``x_ij ~ N(0, 1)`` and ``y_ij ~ N(alpha_i + beta_i x_ij, sigma^2)`` for
    ``num_groups`` individuals with ``group_size`` observations each.

    Returns
    -------
    (GroupedData, dict)
        The data and the truth: ``{"alpha": (G,), "beta": (G,), "sigma": ()}``
        as NumPy arrays.

    Examples
    --------
    >>> import jax
    >>> from jaxmh.data import simulate
    >>> data, truth = simulate(jax.random.key(1))
    >>> data.num_obs, truth["alpha"].shape
    (375, (75,))
    """
    key = _checks.as_key(key)
    num_groups = _checks.positive_int(num_groups, "num_groups")
    group_size = _checks.positive_int(group_size, "group_size")
    for name, value in [("sigma_alpha", sigma_alpha), ("sigma_beta", sigma_beta), ("sigma", sigma)]:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be finite and > 0, got {value}")
    arrays, truth = simulate_arrays(
        key, num_groups, group_size, mu_alpha, sigma_alpha, mu_beta, sigma_beta, sigma
    )
    data = GroupedData(np.asarray(arrays["x"]), np.asarray(arrays["y"]), np.asarray(arrays["group"]))
    return data, {k: np.asarray(v) for k, v in truth.items()}


#: Separators other than a comma that a one-column header gives away, with their names.
_OTHER_DELIMITERS = {";": "';' (semicolons)", "\t": "tabs"}


def _delimiter_hint(fieldnames: Sequence[str]) -> str:
    """A hint when the header is one field holding another separator (a ';' or tab file)."""
    if len(fieldnames) != 1:
        return ""
    for sep, name in _OTHER_DELIMITERS.items():
        if sep in fieldnames[0]:
            return (f". The file looks delimited by {name}, but jaxmh reads comma-separated files: "
                    "save it as CSV with commas")
    return ""


def _read_columns(path: str | os.PathLike, columns: Sequence[str]) -> tuple[dict, int]:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a CSV file")
    with open(path, newline="", encoding="utf-8-sig") as handle:  # a spreadsheet's byte-order mark is not a column name
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise ValueError(f"{path} is empty: expected a header row with columns {list(columns)}")
        missing = [c for c in columns if c not in reader.fieldnames]
        if missing:
            raise ValueError(
                f"{path}: column(s) {missing} not found; the file has {list(reader.fieldnames)}"
                + _delimiter_hint(reader.fieldnames)
            )
        out = {c: [] for c in columns}
        width = len(reader.fieldnames)
        for i, row in enumerate(reader):
            if None in row or any(v is None for v in row.values()):  # more or fewer fields than the header
                fields = width + len(row.get(None, ())) - sum(v is None for v in row.values())
                raise ValueError(
                    f"{path}: row {i + 1} has {fields} field(s) but the header has {width}; "
                    "every row needs one value per column"
                )
            for c in columns:
                out[c].append(row[c])
    return out, len(out[columns[0]])


def _numeric_column(values: list, column: str, path: str, first_row: int = 1) -> np.ndarray:
    arr = np.empty(len(values))
    for i, v in enumerate(values):
        try:
            arr[i] = float(v)
        except (TypeError, ValueError):
            raise ValueError(
                f"{path}: column {column!r} must be numeric; row {i + first_row} has {v!r}"
            ) from None
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(
            f"{path}: column {column!r} has {bad.size} missing or non-finite value(s), "
            f"first at row {bad[0] + first_row} ({values[bad[0]]!r})"
        )
    return arr


#: Cell values that ``from_csv(..., drop_missing=True)`` treats as missing (compared lower-case).
MISSING = ("", "na", "n/a", "nan", "null", "none")


def _drop_missing(cols: dict, x: str, y: str, group: str, path) -> tuple[dict, tuple]:
    """Remove rows whose x or y is missing; fail if a group loses all its rows.

    Returns the remaining columns and the 1-based numbers of the dropped data rows.
    """
    keep, dropped = [], []
    for i, (a, b) in enumerate(zip(cols[x], cols[y])):
        if (a or "").strip().lower() in MISSING or (b or "").strip().lower() in MISSING:
            dropped.append(i + 1)
            continue
        for column, value in ((x, a), (y, b)):  # the rest must be numbers: report the file's row
            _numeric_column([value], column, os.fspath(path), first_row=i + 1)
        keep.append(i)
    before = list(dict.fromkeys(cols[group]))
    out = {c: [v[i] for i in keep] for c, v in cols.items()}
    if not keep:
        raise ValueError(f"{path}: no rows left after dropping rows with a missing {x!r} or {y!r}")
    left = set(out[group])
    empty = [g for g in before if g not in left]
    if empty:
        raise ValueError(
            f"{path}: group(s) {empty[:10]} of column {group!r} have no rows left after dropping "
            f"rows with a missing {x!r} or {y!r}; fill in their values or remove them from the file"
        )
    return out, tuple(dropped)


def from_csv(path: str | os.PathLike, x: str = "x", y: str = "y", group: str = "i", *,
             drop_missing: bool = False) -> GroupedData:
    """Read long-format grouped data from a CSV file with a header row.

    Group labels of any kind (numbers or strings) are mapped to indices
    ``0..G-1`` in order of first appearance; the labels are kept in
    ``data.labels``.

    Parameters
    ----------
    path
        The CSV file.
    x, y, group
        Column names of the predictor, the outcome and the group label.
    drop_missing
        Drop rows whose ``x`` or ``y`` is empty or ``NA``/``NaN``/``null``
        (see ``MISSING``) instead of raising; a group left with no rows is
        still an error.  Other non-numeric or infinite values always raise.
        The numbers of the dropped rows (1-based, the header not counted)
        are kept in ``data.dropped_rows``.

    Returns
    -------
    GroupedData
        With ``labels`` and, after ``drop_missing``, ``dropped_rows``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is a directory or has no data rows, a column is missing
        (with a hint when the file is separated by ';' or tabs instead of
        commas), a row has the wrong number of fields, or a value is not a
        finite number.
    """
    cols, n = _read_columns(path, [x, y, group])
    if n == 0:
        raise ValueError(f"{path} has a header but no data rows")
    dropped = ()
    if drop_missing:
        cols, dropped = _drop_missing(cols, x, y, group, path)
    xs = _numeric_column(cols[x], x, os.fspath(path))
    ys = _numeric_column(cols[y], y, os.fspath(path))
    labels, index = [], {}
    for v in cols[group]:
        if v == "" or v is None:
            raise ValueError(f"{path}: column {group!r} has an empty group label")
        if v not in index:
            index[v] = len(labels)
            labels.append(v)
    codes = np.array([index[v] for v in cols[group]], dtype=np.int32)
    return GroupedData(xs, ys, codes, labels=tuple(labels), dropped_rows=dropped)


def read_truth_csv(path: str | os.PathLike, data: GroupedData | None = None, group: str = "i") -> dict:
    """Read true ``alpha``, ``beta`` per group (columns ``i, alpha, beta``).

    With ``data``, rows are matched to ``data.labels`` so the truth lines up
    with the model's groups.
    """
    cols, n = _read_columns(path, [group, "alpha", "beta"])
    alpha = _numeric_column(cols["alpha"], "alpha", os.fspath(path))
    beta = _numeric_column(cols["beta"], "beta", os.fspath(path))
    if data is not None and data.labels is not None:
        where = {label: k for k, label in enumerate(cols[group])}
        missing = [label for label in data.labels if label not in where]
        if missing:
            raise ValueError(f"{path}: no truth for group(s) {missing[:10]}")
        order = np.array([where[label] for label in data.labels])
        alpha, beta = alpha[order], beta[order]
    elif data is not None and n != data.num_groups:
        raise ValueError(f"{path} has {n} rows but the data have {data.num_groups} groups")
    return {"alpha": alpha, "beta": beta}
