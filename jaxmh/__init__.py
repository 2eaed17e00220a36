"""jaxmh: Bayesian hierarchical models with vectorised Metropolis MCMC in JAX."""

from jaxmh import (adaptation, comparison, compilation_cache, data, datasets, default_priors, diagnostics,
                   kernels, methods, models, plots, prior_checks, priors, stablemath)
from jaxmh.comparison import Comparison, ModelFit, compare
from jaxmh.fitting import fit
from jaxmh.kernels.random_walk import rwm
from jaxmh.models.formula import model
from jaxmh.predict import predict
from jaxmh.psis_loo import Loo, loo
from jaxmh.ranking import Ranking, compare_models
from jaxmh.sampling import Result, sample
from jaxmh.study import Study, study
from jaxmh.summary import Summary, summary

__version__ = "0.1.0"

__all__ = ["Comparison", "ModelFit", "Result", "adaptation", "compare", "comparison", "compilation_cache", "fit", "model",
           "data", "datasets", "default_priors", "diagnostics", "kernels", "methods", "models", "plots", "prior_checks",
           "priors", "stablemath", "rwm", "loo", "Loo", "predict", "compare_models", "Ranking", "sample", "summary", "Summary", "Study", "study", "__version__"]
