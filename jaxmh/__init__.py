"""jaxmh: Bayesian hierarchical models with vectorised Metropolis MCMC in JAX."""

from jaxmh import data, datasets, kernels, models
from jaxmh.kernels.rwm import rwm
from jaxmh.sampling import Result, sample

__version__ = "0.1.0"

__all__ = ["Result", "data", "datasets", "kernels", "models", "rwm", "sample", "__version__"]
