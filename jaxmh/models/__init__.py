"""Model builders: data in, :class:`Model` (log-density over a dict pytree + starting values) out."""

from jaxmh.models.base import GroupSplit, Model
from jaxmh.models.eight_schools import eight_schools, with_theta
from jaxmh.models.hierarchical import hierarchical
from jaxmh.models.intercepts import intercepts
from jaxmh.models.pooled import pooled
from jaxmh.models.unpooled import unpooled

__all__ = ["GroupSplit", "Model", "eight_schools", "hierarchical", "intercepts", "pooled", "unpooled",
           "with_theta"]
