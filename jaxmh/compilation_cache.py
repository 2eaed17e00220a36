"""A persistent compilation cache for the ``jaxmh`` command, in the user's cache directory.

Compiling the sampler is most of a small fit's wall time.  JAX can keep the
compiled programs on disk and reuse them when the same program is compiled
again (the same command on the same data, or the same model on data whose
numbers it does not embed).  The ``jaxmh`` command turns this on by default;
the Python API leaves JAX's settings alone unless you call :func:`enable`.

Where: ``$JAXMH_CACHE_DIR`` if set; otherwise ``jaxmh/jax`` inside the user's
cache directory (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows); never the
working directory.  ``JAXMH_CACHE_DIR=off`` (or ``0``, ``no``, ``none``, or
empty) turns it off.  If ``JAX_COMPILATION_CACHE_DIR`` is set, JAX's own
setting is left as it is.
"""

from __future__ import annotations

import os
import sys

__all__ = ["default_dir", "enable", "OFF"]

#: Values of ``JAXMH_CACHE_DIR`` that turn the cache off.
OFF = ("", "0", "off", "no", "none", "false")


def default_dir() -> str | None:
    """The cache folder the ``jaxmh`` command uses, or ``None`` when it is turned off."""
    if "JAXMH_CACHE_DIR" in os.environ:
        chosen = os.environ["JAXMH_CACHE_DIR"]
        return None if chosen.strip().lower() in OFF else os.path.abspath(os.path.expanduser(chosen))
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    elif os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(os.path.abspath(base), "jaxmh", "jax")


def enable(path: str | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache in ``path`` (default :func:`default_dir`).

    Every compiled program is cached, however quickly it compiled.  Returns the
    folder in use, or ``None`` when the cache stays off (turned off by
    ``JAXMH_CACHE_DIR``, or the folder cannot be created).  Does nothing but
    return JAX's folder when ``JAX_COMPILATION_CACHE_DIR`` is set.
    """
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    folder = path if path is not None else default_dir()
    if folder is None:
        return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
