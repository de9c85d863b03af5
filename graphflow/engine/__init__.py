"""Running graphs: the executor, run context, journal and notifications."""
