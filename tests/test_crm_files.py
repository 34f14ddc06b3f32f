"""The CRM import files of a real workspace: every HubSpot contact row can be matched, and tags say one thing
once. (HubSpot matches imported contacts by e-mail; a row without one cannot be matched.)"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app

from .conftest import NOW, write_csv

DAY = timedelta(days=1)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _workspace(tmp_path: Path) -> Path:
    """Members of every tier, active or not; some without an e-mail address, two of those resolved to a CRM
    contact (one with an address, one without)."""
    directory = tmp_path / "ws"
    members = [  # id, email, activities (days ago, type) — posts earn 3 points, reactions 0.25
        ("m-champ", "champ@acme.io", [(d, "post") for d in range(1, 25)]),
        ("m-active", "active@acme.io", [(d, "post") for d in range(2, 9)]),
        ("m-casual-old", "old@acme.io", [(40, "post"), (41, "post"), (42, "post"), (43, "post")]),
        ("m-dormant-recent", "back@acme.io", [(3, "reaction")]),  # one small thing lately: dormant, but recent
        ("m-dormant", "gone@acme.io", [(300, "post")]),
        ("m-no-mail-linked", "", [(5, "post")]),  # resolved to c-linked, which has an address
        ("m-no-mail-bare", "", [(6, "post")]),  # resolved to c-bare, which has none either
        ("m-no-mail", "", [(7, "post")]),  # no contact at all
    ]
    with Engine.init(directory) as engine:
        engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "email", "joined_at", "consent"],
                                         [[m, e, "2025-01-01", "true"] for m, e, _ in members]), now=NOW)
        engine.load("contacts", write_csv(tmp_path / "c.csv", ["contact_id", "email", "name", "created_at", "consent"],
                                          [["c-linked", "Linked@Acme.io", "Lin Ked", "2025-01-02", "true"],
                                           ["c-bare", "", "Bare Ly", "2025-01-02", "true"]]), now=NOW)
        rows = [[f"{m}-{i}", m, (NOW - d * DAY).isoformat(), kind]
                for m, _, acts in members for i, (d, kind) in enumerate(acts)]
        engine.load("activities", write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"], rows),
                    now=NOW)
        engine.override_identity("m:m-no-mail-linked", "c:c-linked", "link")
        engine.override_identity("m:m-no-mail-bare", "c:c-bare", "link")
    return directory


def test_tags_are_the_tier_once_and_recent_activity_under_its_own_name(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    with Engine(workspace, read_only=True) as engine:
        contacts, _ = engine.crm_records(as_of=NOW)
        scores = engine.scores("members", as_of=NOW).table.set_index("member_id")
    tags = dict(zip(contacts["member_id"], contacts["community_tags"], strict=True))
    tiers = scores["tier"].to_dict()
    assert tiers["m-active"] == "active"
    assert tiers["m-dormant-recent"] == "dormant"
    assert tags["m-active"] == "community-active;community-recent"  # was community-active;community-active
    assert tags["m-dormant-recent"] == "community-dormant;community-recent"  # was ...;community-active
    assert tags["m-dormant"] == "community-dormant"
    assert tags["m-casual-old"] == "community-casual"
    for member, text in tags.items():
        parts = text.split(";")
        assert len(parts) == len(set(parts)), member
        assert parts[0] == f"community-{tiers[member]}"
        assert ("community-recent" in parts) == bool(scores.loc[member, "active"]), member
        assert not (tiers[member] != "active" and "community-active" in parts), member


def test_every_hubspot_contact_row_has_an_email_and_the_rest_are_in_a_file_of_their_own(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    out = tmp_path / "crm"
    result = CliRunner().invoke(app, ["export", "crm", "--target", "hubspot", "--out", str(out), "--as-of",
                                      NOW.date().isoformat(), "-w", str(workspace)])
    assert result.exit_code == 0, result.output
    main = _rows(out / "hubspot_contacts.csv")
    assert all(row["Email"] for row in main)
    emails = {row["commetrics_member_id"]: row["Email"] for row in main}
    assert emails["m-no-mail-linked"] == "Linked@Acme.io"  # the address of the CRM contact it resolved to
    assert emails["m-champ"] == "champ@acme.io"
    apart = _rows(out / "hubspot_contacts_without_email.csv")
    assert {row["commetrics_member_id"]: row["crm_contact_id"] for row in apart} == {
        "m-no-mail-bare": "c-bare", "m-no-mail": ""}
    assert set(emails) | {row["commetrics_member_id"] for row in apart} == {
        "m-champ", "m-active", "m-casual-old", "m-dormant-recent", "m-dormant", "m-no-mail-linked",
        "m-no-mail-bare", "m-no-mail"}  # nobody lost
    assert "2 members have no e-mail address" in result.output
    assert "hubspot_contacts_without_email.csv" in result.output
    # Salesforce matches by the member id: its file keeps every row.
    again = CliRunner().invoke(app, ["export", "crm", "--target", "salesforce", "--out", str(tmp_path / "sf"),
                                     "--as-of", NOW.date().isoformat(), "-w", str(workspace)])
    assert again.exit_code == 0, again.output
    assert len(_rows(tmp_path / "sf" / "salesforce_contacts.csv")) == 8
    assert not (tmp_path / "sf" / "hubspot_contacts_without_email.csv").exists()
