"""The CRM as HubSpot CSV exports, and what no platform connector carries as canonical CSV files.

HubSpot (``companies.csv``, ``contacts.csv``, ``deals.csv``, property labels as the UI export writes them,
times as ``YYYY-MM-DD HH:MM:SS`` in the exporting user's zone, UTC here): the accounts, the CRM contacts
with their lifecycle stage and company, and every money outcome keyed by a contact or an account as a
closed-won deal — its Deal Type says which (:data:`DEAL_TYPES`, written into ``[sources.hubspot]``).
Record ids are the demo's ids.

The rest is what a team exports from its billing system and survey tool and loads with
``commetrics load TABLE FILE`` (:data:`RESIDUE`):

* ``billing/subscriptions.csv``: the subscription periods and their renewal decisions;
* ``billing/cancellations.csv``: ``churn`` outcomes (a lost renewal is no won deal);
* ``product/crm_trials.csv``: trials and activations of CRM contacts who never joined the community,
  keyed by contact (Segment keys people by their community member id, which these people have none of);
* ``surveys/responses.csv``: the NPS and CSAT answers.
"""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["DEAL_TYPES", "RESIDUE", "write_hubspot", "write_residue"]

#: HubSpot Deal Type (internal value) -> outcome type
DEAL_TYPES = {"newbusiness": "purchase", "existingbusiness": "upgrade", "renewal": "renewal",
              "crosssell": "cross_sell"}
#: residue file -> (canonical table, source name, what it holds)
RESIDUE = {
    "billing/subscriptions.csv": ("subscriptions", "billing", "subscription periods and renewal decisions"),
    "billing/cancellations.csv": ("outcomes", "billing", "churn: renewals that were lost"),
    "product/crm_trials.csv": ("outcomes", "product", "trials and activations of CRM contacts who never joined"),
    "surveys/responses.csv": ("surveys", "surveys", "NPS and CSAT answers"),
}
_CONTACT_PRODUCT = ("trial_start", "activation")


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value is not pd.NA


def _cell(value: Any) -> str:
    """A CSV cell: empty for missing, ``true``/``false``, numbers as Python writes them (exactly)."""
    if not _present(value):
        return ""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _local(seconds: Any) -> str:
    return "" if not _present(seconds) else datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d %H:%M:%S")


def _iso(seconds: Any) -> str:
    return "" if not _present(seconds) else datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write(path: Path, header: list[str], rows: list[list[str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def crm_outcomes(outcomes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The outcomes keyed by a contact or an account: (HubSpot deals, churn, contacts' trials and activations)."""
    crm = outcomes[outcomes["member_id"].isna()]
    churn = crm[crm["type"] == "churn"]
    product = crm[crm["type"].isin(_CONTACT_PRODUCT)]
    deals = crm[~crm["type"].isin(("churn", *_CONTACT_PRODUCT))]
    unknown = sorted(set(deals["type"]) - set(DEAL_TYPES.values()))
    if unknown:
        msg = f"no HubSpot deal type for the outcome types {unknown}: add them to commetrics.demo.export_crm"
        raise RuntimeError(msg)
    if product["contact_id"].isna().any():
        msg = "a trial or activation keyed by an account only: the demo keys them by member or contact"
        raise RuntimeError(msg)
    return deals, churn, product


def write_hubspot(folder: Path, accounts: pd.DataFrame, contacts: pd.DataFrame, deals: pd.DataFrame) -> dict[str, int]:
    """Write ``companies.csv``, ``contacts.csv`` and ``deals.csv`` (closed-won deals) into ``folder``."""
    counts = {"companies": _write(folder / "companies.csv", ["Record ID", "Company name", "Company Domain Name",
                                                             "Create Date"],
                                  [[r["account_id"], r["name"], r["domain"], _local(r["created_at"])]
                                   for r in accounts.to_dict(orient="records")])}
    rows = []
    for r in contacts.to_dict(orient="records"):
        first, _, last = str(r["name"] or "").partition(" ")
        rows.append([r["contact_id"], first, last, _cell(r["email"]), _cell(r["lifecycle_stage"]),
                     _local(r["created_at"]), _cell(r["account_id"])])
    counts["contacts"] = _write(folder / "contacts.csv", ["Record ID", "First Name", "Last Name", "Email",
                                                          "Lifecycle Stage", "Create Date", "Associated Company ID"],
                                rows)
    deal_type = {kind: name for name, kind in DEAL_TYPES.items()}
    counts["deals"] = _write(
        folder / "deals.csv",
        ["Record ID", "Deal Name", "Pipeline", "Deal Stage", "Deal Type", "Amount", "Currency", "Close Date",
         "Create Date", "Associated Company ID", "Associated Contact ID"],
        [[r["outcome_id"], f"{r['type'].replace('_', ' ').title()} {r['outcome_id']}", "default", "closedwon",
          deal_type[r["type"]], _cell(r["value"]), _cell(r["currency"]), _local(r["ts"]), _local(r["ts"]),
          _cell(r["account_id"]), _cell(r["contact_id"])] for r in deals.to_dict(orient="records")])
    return counts


def write_residue(folder: Path, subscriptions: pd.DataFrame, churn: pd.DataFrame, product: pd.DataFrame,
                  surveys: pd.DataFrame) -> dict[str, int]:
    """Write the canonical CSV files of :data:`RESIDUE` into ``folder``; returns the rows of each."""
    outcome_columns = ["outcome_id", "contact_id", "account_id", "ts", "type", "value", "currency"]

    def outcome_rows(frame: pd.DataFrame) -> list[list[str]]:
        return [[_iso(r[c]) if c == "ts" else _cell(r[c]) for c in outcome_columns]
                for r in frame.to_dict(orient="records")]

    sub_columns = ["account_id", "period_start", "period_end", "renewed", "arr_before", "arr_after"]
    survey_columns = ["response_id", "member_id", "contact_id", "ts", "kind", "score"]
    return {
        "billing/subscriptions.csv": _write(folder / "billing" / "subscriptions.csv", sub_columns, [
            [_iso(r[c]) if c.startswith("period_") else _cell(r[c]) for c in sub_columns]
            for r in subscriptions.to_dict(orient="records")]),
        "billing/cancellations.csv": _write(folder / "billing" / "cancellations.csv", outcome_columns,
                                            outcome_rows(churn)),
        "product/crm_trials.csv": _write(folder / "product" / "crm_trials.csv", outcome_columns, outcome_rows(product)),
        "surveys/responses.csv": _write(folder / "surveys" / "responses.csv", survey_columns, [
            [_iso(r[c]) if c == "ts" else _cell(r[c]) for c in survey_columns]
            for r in surveys.to_dict(orient="records")]),
    }
