"""Triggers: what starts a run (events and schedules)."""
