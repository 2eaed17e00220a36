"""Model builders: data in, :class:`Model` (log-density over a dict pytree + starting values) out."""

from jaxmh.models.base import GroupSplit, Model
from jaxmh.models.hierarchical import hierarchical
from jaxmh.models.pooled import pooled
from jaxmh.models.unpooled import unpooled

__all__ = ["GroupSplit", "Model", "hierarchical", "pooled", "unpooled"]
