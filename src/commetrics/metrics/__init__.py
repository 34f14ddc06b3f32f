"""Metrics computed from the canonical tables (as Ibis expressions)."""
