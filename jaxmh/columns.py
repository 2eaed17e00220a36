"""Reading a table (a CSV file, a dict of columns or a pandas DataFrame) into plain numpy columns.

Numeric columns become float64 arrays with NaN for a missing value; every other
column becomes a numpy array of ``str`` with ``""`` for a missing value.  A
missing value is NaN, None, an empty string, ``"NA"`` or ``"NaN"`` (after
stripping whitespace).  Missing values are counted, not rejected: the design
step decides what to do with them for the columns a formula uses.
"""

from __future__ import annotations

import csv
import math
import numbers
import os
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Columns", "MISSING_TEXT", "is_missing", "read_columns"]

#: Text cells that mean "missing" (compared after stripping whitespace).
MISSING_TEXT = frozenset({"", "NA", "NaN"})


class Columns(NamedTuple):
    """A table as named numpy columns.

    Attributes
    ----------
    names
        The column names, in table order.
    values
        ``values[name]`` is a float64 array (numeric column, NaN where missing)
        or a ``str`` array (text column, ``""`` where missing).
    num_rows
        The number of rows.
    missing
        ``missing[name]`` is the number of missing values in that column.
    """

    names: tuple[str, ...]
    values: dict[str, np.ndarray]
    num_rows: int
    missing: dict[str, int]


def is_missing(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the missing cells of one column of :class:`Columns`.

    Parameters
    ----------
    values
        A column as stored in ``Columns.values``.

    Returns
    -------
    np.ndarray
        True where the value is missing (NaN in a numeric column, ``""`` in a text column).
    """
    if values.dtype.kind == "f":
        return np.isnan(values)
    return values == ""


def _missing_cell(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() in MISSING_TEXT
    if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)):
        return math.isnan(float(v))
    try:                                   # NaT, pandas.NA and the like
        return bool(v != v)
    except (TypeError, ValueError):
        return True


def _text(v: Any) -> str:
    if isinstance(v, (numbers.Real, np.floating)) and not isinstance(v, (bool, np.bool_)):
        f = float(v)
        if math.isfinite(f) and f == int(f) and abs(f) < 2 ** 63:
            return str(int(f))
        return repr(f)
    return str(v).strip()


def _column(cells: list, parse_text: bool) -> np.ndarray:
    """One column from a list of cells: float64 if every non-missing cell is a number, else str."""
    present = [c for c in cells if not _missing_cell(c)]
    numeric = True
    for c in present:
        if isinstance(c, str):
            if not parse_text:
                numeric = False
                break
            try:
                float(c)
            except ValueError:
                numeric = False
                break
        elif not isinstance(c, numbers.Real):
            numeric = False
            break
    if numeric:
        return np.array([math.nan if _missing_cell(c) else float(c) for c in cells], dtype=np.float64)
    return np.array(["" if _missing_cell(c) else _text(c) for c in cells], dtype=str)


def _from_array(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    if arr.dtype.kind == "U":
        stripped = np.char.strip(arr)
        missing = np.isin(stripped, list(MISSING_TEXT))
        return np.where(missing, "", stripped).astype(str)
    return _column(list(arr.tolist()), parse_text=False)


def _finish(names: list, columns: dict, source: str) -> Columns:
    lengths = {n: len(columns[n]) for n in names}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{n!r} has {k}" for n, k in lengths.items())
        raise ValueError(f"{source}: columns of unequal length ({detail})")
    missing = {n: int(is_missing(columns[n]).sum()) for n in names}
    num_rows = next(iter(lengths.values())) if lengths else 0
    return Columns(tuple(names), {n: columns[n] for n in names}, int(num_rows), missing)


def _check_names(names: list, source: str) -> None:
    seen: set = set()
    for n in names:
        if n == "":
            raise ValueError(f"{source}: a column has an empty name")
        if n in seen:
            raise ValueError(f"{source}: duplicate column name {n!r}")
        seen.add(n)


def _read_csv(path: str) -> Columns:
    source = f"data file {path!r}"
    if not os.path.exists(path):
        raise ValueError(f"{source} not found")
    if os.path.isdir(path):
        raise ValueError(f"{source} is a directory, not a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError as err:
        raise ValueError(f"{source} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise ValueError(f"{source}: malformed CSV ({err})") from None
    # csv.reader gives [] for blank lines; skip them
    numbered = [(line, r) for line, r in rows if r and any(c.strip() for c in r)]
    if not numbered:
        raise ValueError(f"{source} is empty: expected a header row with the column names")
    header_line, header = numbered[0]
    names = [h.strip() for h in header]
    _check_names(names, source)
    body = numbered[1:]
    for line, row in body:
        if len(row) != len(names):
            raise ValueError(f"{source}: line {line} has {len(row)} fields, the header has {len(names)}")
    columns = {n: _column([row[j].strip() for _, row in body], parse_text=True) for j, n in enumerate(names)}
    if not body:
        columns = {n: np.zeros(0, dtype=np.float64) for n in names}
    return _finish(names, columns, source)


def read_columns(data: Any, *, drop_missing: bool = False) -> Columns:
    """Read a table into named numpy columns.

    Parameters
    ----------
    data
        A CSV file (``str`` or ``os.PathLike``; UTF-8, optionally with a BOM,
        header row required), a dict of columns (numpy arrays or lists; text
        allowed), a pandas DataFrame (pandas itself is optional), or a
        :class:`Columns` (returned as is).
    drop_missing
        Drop every row with a missing value in any column.  The design step
        drops rows only for the columns a formula uses, so it calls this with
        the default (False) and drops there.

    Returns
    -------
    Columns
        The columns, their row count and their missing-value counts.

    Raises
    ------
    ValueError
        File not found or empty, a line with more or fewer fields than the
        header (the message gives the line), columns of unequal length,
        duplicate column names.

    Examples
    --------
    >>> cols = read_columns({"y": [1.5, None, 3], "g": ["a", "NA", "b"]})
    >>> cols.names, cols.num_rows, cols.missing
    (('y', 'g'), 3, {'y': 1, 'g': 1})
    >>> cols.values["y"], cols.values["g"].tolist()
    (array([1.5, nan, 3. ]), ['a', '', 'b'])
    """
    if isinstance(data, Columns):
        cols = data
    elif isinstance(data, (str, os.PathLike)):
        cols = _read_csv(os.fspath(data))
    elif hasattr(data, "columns") and hasattr(data, "to_dict"):  # a pandas DataFrame, by duck typing
        names = [str(c) for c in data.columns]
        _check_names(names, "data frame")
        cols = _finish(names, {n: _from_array(n, data[c].to_numpy()) for n, c in zip(names, data.columns)},
                       "data frame")
    elif isinstance(data, dict):
        names = [str(k) for k in data]
        _check_names(names, "data")
        for n, v in zip(names, data.values()):
            if np.ndim(v) == 0:
                raise ValueError(f"data: column {n!r} is a single value, expected a list or array of values")
        cols = _finish(names, {n: _from_array(n, v) for n, v in zip(names, data.values())}, "data")
    else:
        raise TypeError(f"data: expected a CSV path, a dict of columns or a pandas DataFrame, "
                        f"got {type(data).__name__}")
    if drop_missing and cols.num_rows:
        keep = np.ones(cols.num_rows, dtype=bool)
        for n in cols.names:
            keep &= ~is_missing(cols.values[n])
        values = {n: cols.values[n][keep] for n in cols.names}
        cols = Columns(cols.names, values, int(keep.sum()), {n: 0 for n in cols.names})
    return cols
