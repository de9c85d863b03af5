"""Automations: records, lifecycle, and the SDK-shaped services."""
