"""The samplers :func:`jaxmh.fit`, :func:`jaxmh.compare` and :func:`jaxmh.study` offer, by name.

A method is a kernel (:class:`jaxmh.kernels.base.Kernel`) and whether warm-up
tunes it.  Every driver resolves ``method=`` here, so the command line, the
API and the documentation list the same choices; a user's own kernel is
passed as a :class:`Method` (or a bare ``Kernel``: tuned when it can be).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from jaxmh.kernels import blocked_gibbs, group_blocked, random_walk
from jaxmh.kernels.base import Kernel

__all__ = ["Method", "METHODS", "default", "resolve"]


class Method(NamedTuple):
    """A sampler: a kernel, whether warm-up tunes it, and how headers describe it."""

    name: str
    kernel: Kernel
    tuned: bool
    about: str


#: name -> :class:`Method`.
METHODS = {
    "rwm": Method("rwm", random_walk.KERNEL, False,
                  "random-walk Metropolis (the tutorial's): one fixed proposal sd"),
    "adaptive": Method("adaptive", random_walk.KERNEL, True,
                       "adaptive random-walk Metropolis: per-coordinate sds tuned in warm-up"),
    "blocked": Method("blocked", group_blocked.KERNEL, True,
                      "group-blocked Metropolis-within-Gibbs: per-group sds tuned in warm-up"),
    "gibbs": Method("gibbs", blocked_gibbs.KERNEL, True,
                    "blocked Gibbs: fixed and group-level effects drawn exactly, sds, correlations and sigma "
                    "by a tuned random walk with interweaving"),
}


def default(model: Any) -> str:
    """``"gibbs"`` for a model with conditional updates (formula models), ``"blocked"`` for a model with
    a group split, ``"adaptive"`` otherwise."""
    if getattr(model, "conditionals", None) is not None:
        return "gibbs"
    return "blocked" if getattr(model, "split", None) is not None else "adaptive"


def resolve(method: Any, model: Any, *, fallback: bool = False) -> Method:
    """The :class:`Method` that ``method`` names for ``model``.

    ``method``: ``None`` (the model's default), a name of :data:`METHODS`, a
    :class:`Method` or a :class:`~jaxmh.kernels.base.Kernel`.  Raises
    ``ValueError`` when the kernel cannot sample ``model``, unless
    ``fallback``, which then gives the model's default.
    """
    if method is None:
        method = default(model)
    if isinstance(method, str):
        if method not in METHODS:
            raise ValueError(f"method must be one of {tuple(METHODS)}, a jaxmh.methods.Method or a kernel, "
                             f"got {method!r}")
        method = METHODS[method]
    elif isinstance(method, Kernel):
        method = Method(method.name, method, method.adaptation is not None, method.name)
    elif not isinstance(method, Method):
        raise TypeError(f"method must be one of {tuple(METHODS)}, a jaxmh.methods.Method or a "
                        f"jaxmh.kernels.Kernel, got {type(method).__name__}")
    try:
        method.kernel.target_of(model)
    except ValueError:
        if not fallback:
            raise
        return METHODS[default(model)]
    if method.tuned and method.kernel.adaptation is None:
        raise ValueError(f"method {method.name!r} is tuned, but its kernel has no adaptation")
    return method
