"""Graphs: the model, loading, validation and rendering. Knows nothing of engines or stores."""
