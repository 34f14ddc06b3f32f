"""Readers for community platforms' own export formats; each turns an export into canonical files
that `Engine.load` loads.
"""

from __future__ import annotations
