"""Node kinds: the built-in ones (one module each) and the registry for custom kinds."""

from graphflow.nodes.registry import NodeRegistry, default_registry, node, register_node

__all__ = ["NodeRegistry", "default_registry", "node", "register_node"]
