"""Model builders: data in, :class:`Model` (log-density over a dict pytree + starting values) out.

The four regression models register themselves by name (:mod:`jaxmh.models.registry`),
in the order the command line lists them.
"""

from jaxmh.models.base import GroupSplit, Model
from jaxmh.models.pooled import pooled
from jaxmh.models.unpooled import unpooled
from jaxmh.models.intercepts import intercepts
from jaxmh.models.hierarchical import hierarchical
from jaxmh.models.eight_schools import eight_schools, with_theta
from jaxmh.models import registry
from jaxmh.models._common import rebindable

__all__ = ["GroupSplit", "Model", "eight_schools", "hierarchical", "intercepts", "pooled", "rebindable",
           "registry", "unpooled", "with_theta"]
