"""Observability: what operators watch a running graphflow with (traces, metrics, health, logs)."""
