"""The score analyses in the terminal: member engagement, account health, changes, validation."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ...results import Result
from . import RENDERERS
from .tables import render_frames

__all__ = ["render_validation"]


def _members(result: Result, limit: int = 20, **_: Any) -> str:
    table: pd.DataFrame = result["members"]
    shown = table.sort_values("score", ascending=False) if "score" in table else table
    return render_frames([(f"Member engagement as of {result['as_of']:%Y-%m-%d}", shown.head(limit).round(1))]) + (
        f"{len(table):,} members with consent shown; {result['withheld_without_consent']:,} without consent are "
        "counted in account figures but never listed.\n")


def _accounts(result: Result, limit: int = 20, **_: Any) -> str:
    table: pd.DataFrame = result["accounts"]
    columns = [c for c in ("account_id", "segment", "health", "band", "trend", "community", "product_usage", "support",
                           "relationship", "commercial", "active_members", "missing") if c in table]
    shown = table.sort_values("health", ascending=False)[columns]
    return render_frames([(f"Account health as of {result['as_of']:%Y-%m-%d}", shown.head(limit).round(1))])


def _changes(result: Result, limit: int = 20, **_: Any) -> str:
    params = result.params
    label = "band" if params.get("level") == "accounts" else "tier"
    out = render_frames([(f"{str(params.get('level', '')).capitalize()} whose {label} changed over "
                          f"{params.get('days')} days", result["changes"].head(limit).round(1))])
    if params.get("level") == "members":
        out += f"{result['withheld_without_consent']:,} members without consent are not listed.\n"
    return out


def render_validation(result: Result, **_: Any) -> str:
    lines = [
        f"Health taken before {result['renewals']:,} decided renewals ({result['churned']:,} churned):",
        f"  AUC for churn {result['auc']:.3f} (95% bootstrap {result['auc_low']:.3f}-{result['auc_high']:.3f})",
        f"  without the community component {result['auc_without_community']:.3f}; community adds "
        f"{result['community_gain']:+.3f} ({result['community_gain_low']:+.3f} to "
        f"{result['community_gain_high']:+.3f})",
    ]
    if result.get("learned_weights"):
        pairs = ", ".join(f"{k} {result['expert_weights'][k]:.0f} -> {v:.0f}"
                          for k, v in result["learned_weights"].items())
        lines.append(f"  weights, configured -> learned: {pairs}")
        lines.append(f"  on the latest {result['holdout_renewals']:,} renewals: AUC "
                     f"{result['holdout_auc_expert']:.3f} configured, {result['holdout_auc_learned']:.3f} learned")
    return "\n".join(lines) + "\n" + render_frames([("Churn per band (95% Wilson intervals)",
                                                      result["bands"].round(3))])


RENDERERS.register("scores.members", _members)
RENDERERS.register("scores.accounts", _accounts)
RENDERERS.register("scores.changes", _changes)
RENDERERS.register("scores.validation", render_validation)
