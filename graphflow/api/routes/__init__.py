"""One module per noun: each lists its :class:`~graphflow.api.operations.Operation` objects."""
