"""Size limits of configs (documented in docs/config.md)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_GRAPH_LIMITS", "GraphLimits"]


@dataclass(frozen=True, slots=True)
class GraphLimits:
    """Size limits for configs (documented in docs/config.md).

    The last two bound the compile work of a whole load (inline sub-workflows included), so a
    config within ``max_bytes`` cannot take seconds to load: compiling costs ~40 µs a template
    hole and ~5 µs a character of script.

    Attributes:
        max_bytes: largest config text, in bytes of UTF-8.
        max_nodes: most nodes in one graph.
        max_data: most ``data[]`` resources.
        max_depth: deepest nesting of objects and lists.
        max_aliases: most YAML aliases (``*ref``) in one document.
        max_subworkflow_depth: deepest nesting of inline sub-workflows.
        max_template_holes: most ``{{ }}`` holes in all the templates of a config.
        max_script_chars: most characters of script source compiled for a config: scripts
            (each distinct source once) and the text of templates that have holes.
    """

    max_bytes: int = 1_048_576
    max_nodes: int = 1_000
    max_data: int = 1_000
    max_depth: int = 32
    max_aliases: int = 100
    max_subworkflow_depth: int = 5
    max_template_holes: int = 5_000
    max_script_chars: int = 100_000


DEFAULT_GRAPH_LIMITS = GraphLimits()
