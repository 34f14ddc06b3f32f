"""The demo written as platform exports and loaded back through the connectors gives the direct load's figures.

One community (1,000 members, seed 3) is loaded twice: directly (``Engine.demo``) and from the exports that
``Engine.demo_exports`` writes (Slack, Segment, HubSpot, and canonical CSV for what no platform carries),
through ``Engine.demo(from_exports=...)``. The published Results are compared figure by figure.

What differs, and why, is asserted exactly:

* ids and names each platform gives its own: activity and outcome ids, ``ref_id``, the channel of
  Segment's activities (``product``) and of a program's Slack channel (``onboarding``), tags (neither
  Slack nor Segment carries them), the ``source`` of each row;
* contacts' consent (the HubSpot connector reads none) and members' consent: a Slack profile holds none,
  and a member consents only when every record of theirs says so, so through the exports nobody does and
  the person-level list of member scores withholds everyone;
* floating-point sums, in the last bits: a sum over rows in another order (the store's row order follows
  the loads) rounds differently, so figures that are sums of fractions agree to 1e-9, not bit for bit.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from commetrics import Engine, InputError
from commetrics.cli import app
from commetrics.config import load_config, parse_config
from commetrics.demo.export_slack import SLACK_TYPES, write_slack
from commetrics.metrics.scores import member_engagement

from .conftest import NOW, write_csv

MEMBERS, SEED = 1_000, 3
#: relative tolerance of floating-point figures (sums in another row order differ in the last bits)
RTOL = 1e-9


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("demo-exports")
    exports = Engine.demo_exports(root / "exports", members=MEMBERS, seed=SEED)
    direct, _ = Engine.demo(root / "direct", members=MEMBERS, seed=SEED)
    via, load = Engine.demo(root / "via", from_exports=exports.directory)
    yield exports, direct, via, load
    direct.close()
    via.close()


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Equal figures: whole numbers, text and instants exactly, floating-point numbers to ``RTOL``."""
    if isinstance(a, pd.DataFrame):
        assert isinstance(b, pd.DataFrame), where
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False,
                                      rtol=RTOL, atol=RTOL, obj=where)
    elif isinstance(a, Mapping):
        assert set(a) == set(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, (float, np.floating)) and not isinstance(a, bool):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RTOL, abs_tol=RTOL), (where, a, b)
    else:
        assert a == b, (where, a, b)


def _rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    return sorted(engine.store.con.execute(sql).fetchall(), key=repr)


def test_each_piece_is_in_its_platforms_layout_and_loads_without_a_loss(loaded: Any) -> None:
    exports, _, via, load = loaded
    root = exports.directory
    users = json.loads((root / "slack" / "users.json").read_text())
    assert sum(not u["is_bot"] for u in users) == MEMBERS
    channels = {c["name"] for c in json.loads((root / "slack" / "channels.json").read_text())}
    assert {"forum", "slack", "onboarding"} <= channels
    assert all((root / "slack" / name).is_dir() for name in channels)
    first = next(iter(sorted((root / "segment").glob("*.jsonl.gz"))))
    assert {json.loads(line)["type"] for line in gzip.decompress(first.read_bytes()).splitlines()} <= {
        "identify", "group", "track"}
    assert {p.name for p in (root / "hubspot").iterdir()} == {"companies.csv", "contacts.csv", "deals.csv"}
    assert [s.path for s in exports.residue] == ["billing/subscriptions.csv", "billing/cancellations.csv",
                                                 "product/crm_trials.csv", "surveys/responses.csv"]
    config = load_config(root / "commetrics.toml")
    assert config.sources.segment.activity_events["Question Asked"] == "question"
    assert config.sources.hubspot.deal_types["crosssell"] == "cross_sell"
    assert config.sources.slack.channel_programs["onboarding"] == "onboarding"
    assert (root / "load.sh").read_text().count("load-dump") == 3
    # nothing is quarantined or a duplicate: every record is loaded, or excluded on purpose (the channel bot)
    assert all(r.rows_quarantined == 0 and r.rows_duplicate == 0 for r in load.reports)
    assert load.canonical == tuple((s.path, s.name) for s in exports.residue)
    excluded = via.store.con.execute("select count(*) from quarantine").fetchall()
    assert excluded == [(0,)]


def test_the_tables_match_but_for_what_each_platform_names_its_own_way(loaded: Any) -> None:
    _, direct, via, _ = loaded
    per_member = """select member_id, max(email), max(handle), max(name), min(joined_at), max(entry_path),
                           max(account_id), bool_or(coalesce(is_staff, false)),
                           max(attributes->>'job_role') from members group by member_id"""
    assert _rows(via, per_member) == _rows(direct, per_member)
    latest = """select account_id, name, domain, segment, arr, seats, created_at, attributes::VARCHAR from accounts
                where load_id = (select max(load_id) from accounts a where a.account_id = accounts.account_id)"""
    assert _rows(via, latest) == _rows(direct, latest)
    contacts = "select contact_id, email, name, account_id, lifecycle_stage, created_at from contacts"
    assert _rows(via, contacts) == _rows(direct, contacts)
    assert via.store.con.execute("select count(consent) from contacts").fetchall() == [(0,)]  # HubSpot: no consent
    outcomes = "select member_id, contact_id, account_id, ts, type, value, currency from outcomes"
    assert _rows(via, outcomes) == _rows(direct, outcomes)
    for table, columns in (("subscriptions", "account_id, period_start, period_end, renewed, arr_before, arr_after"),
                           ("surveys", "response_id, member_id, contact_id, ts, kind, score")):
        assert _rows(via, f"select {columns} from {table}") == _rows(direct, f"select {columns} from {table}")
    people = "select record_id, person_id, rule, account_id, account_rule from people"
    assert _rows(via, people) == _rows(direct, people)
    # activities: the same person, instant, type and program; the channel is the platform's own (Slack: the
    # channel, a program's channel for a program, a twin channel "-2" for a second message at one instant;
    # Segment: product), and neither platform carries tags
    slack = ", ".join(f"'{t}'" for t in SLACK_TYPES)
    assert _rows(via, """select member_id, ts, type, program,
                                 case when source = 'slack' then regexp_replace(channel, '-[0-9]+$', '') end
                          from activities""") == _rows(direct, f"""select member_id, ts, type, program,
                                 case when type in ({slack}) then coalesce(program, channel) end from activities""")
    assert via.store.con.execute("select count(tags) from activities").fetchall() == [(0,)]


def test_report_figures_match_the_direct_load(loaded: Any) -> None:
    """The done-when of the connectors issue: the same conversion tables, attribution credit, renewal impact,
    community metrics and scores, published and exact."""
    _, direct, via, _ = loaded
    results: dict[str, Any] = {}
    for name in direct.config.conversions:
        results[f"conversion {name}"] = lambda e, name=name: e.conversion(name, by=("entry_path", "join_month"))
    results["conversion by activity, segment and program"] = lambda e: e.conversion(
        "trial_after_join", by=("first_activity", "segment", "program"))
    results["attribution by program"] = lambda e: e.attribution()
    results["attribution by type"] = lambda e: e.attribution(by="type")
    results["renewal impact"] = lambda e: e.impact("renewal")
    results["community metrics"] = lambda e: e.community_metrics()
    results["account health"] = lambda e: e.scores("accounts")
    for label, run in results.items():
        a, b = run(direct), run(via)
        assert_same(dict(a.exact), dict(b.exact), f"{label} (exact)")
        assert_same(dict(a.published), dict(b.published), f"{label} (published)")
    assert results["renewal impact"](via).exact["renewals"] >= 40  # the comparison ran on real renewals
    engagement = [member_engagement(e.ibis(), e.config.scores.engagement, e.as_of()) for e in (direct, via)]
    assert len(engagement[0]) > 0
    assert_same(engagement[0], engagement[1], "every member's engagement")


def test_members_consent_is_lost_to_slack_and_only_that(loaded: Any) -> None:
    """A Slack profile holds no consent and a member consents only when every record says so: through the exports
    nobody consents, although Segment's records carry exactly the direct load's consent."""
    _, direct, via, _ = loaded
    assert direct.consenting_members()
    assert via.consenting_members() == set()
    segment = "select member_id, consent from members where source = '{}'"
    assert _rows(via, segment.format("segment")) == _rows(direct, segment.format("demo"))
    assert via.store.con.execute("select count(consent) from members where source = 'slack'").fetchall() == [(0,)]
    a, b = direct.scores("members"), via.scores("members")
    assert len(b.exact["members"]) == 0
    assert b.exact["withheld_without_consent"] == len(a.exact["members"]) + a.exact["withheld_without_consent"]


def test_cli_writes_the_exports_and_loads_them_back(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["demo", "--members", "300", "--seed", "1", "--as-exports", str(tmp_path / "ex")])
    assert out.exit_code == 0, out.output
    assert "No platform carries these" in out.output
    assert "billing/subscriptions.csv" in out.output
    assert "load.sh" in out.output
    again = runner.invoke(app, ["demo", "--as-exports", str(tmp_path / "ex")])
    assert again.exit_code == 2
    assert "not an empty folder" in again.output
    both = runner.invoke(app, ["demo", "--real", "--from-exports", str(tmp_path / "ex")])
    assert both.exit_code == 2
    loaded = runner.invoke(app, ["demo", "--from-exports", str(tmp_path / "ex"), "-w", str(tmp_path / "ws"),
                                 "--json"])
    assert loaded.exit_code == 0, loaded.output
    data = json.loads(loaded.output)
    assert [c["table"] for c in data["canonical_files"]] == ["subscriptions", "outcomes", "outcomes", "surveys"]
    assert Path(data["report"]).exists()
    # a workspace loaded from the exports is a demo workspace: loading again with --force replaces it
    twice = runner.invoke(app, ["demo", "--from-exports", str(tmp_path / "ex"), "-w", str(tmp_path / "ws"),
                                "--force"])
    assert twice.exit_code == 0, twice.output


def test_from_exports_needs_a_folder_the_exports_wrote(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--as-exports"):
        Engine.demo(tmp_path / "ws", from_exports=tmp_path)


def test_slack_messages_at_one_instant_reactions_and_threads_load_back_as_written(tmp_path: Path) -> None:
    """The Slack writer's rules on a few rows: two posts of one channel at one second (the second goes to the
    twin channel), a reply with no earlier post (threads under the bot), a reaction on a member's post at its
    second and one on no post (the bot's message carries it), a program's channel, a member reacting twice at
    one instant (two emoji)."""
    T = 1_700_000_000  # 2023-11-14: loads quarantine implausibly early times (early_timestamp)
    members = pd.DataFrame({"member_id": ["m1", "m2"], "email": ["a@x.example", None], "handle": ["a", "b"],
                            "name": ["A A", "B B"], "joined_at": [T + 1_000, T + 1_000], "is_staff": [True, False],
                            "job_role": ["staff", "developer"]})
    rows = [("p1", "m1", T + 5_000, "post", "forum", None), ("p2", "m2", T + 5_000, "post", "forum", None),
            ("r1", "m2", T + 4_000, "reply", "slack", None), ("x1", "m2", T + 5_000, "reaction", "forum", None),
            ("x2", "m1", T + 6_000, "reaction", "forum", None), ("x3", "m1", T + 6_000, "reaction", "forum", None),
            ("o1", "m1", T + 7_000, "post", "forum", "onboarding"),
            ("o2", "m2", T + 7_000, "reaction", "slack", "onboarding")]
    activities = pd.DataFrame(rows, columns=["activity_id", "member_id", "ts", "type", "channel", "program"])
    written = write_slack(tmp_path / "slack", members, activities)
    assert written.programs == {"onboarding": "onboarding"}
    config = parse_config({"sources": {"slack": {"channel_programs": written.programs}}})
    with Engine.in_memory(config=config) as engine:
        reports = engine.load_dump("slack", tmp_path / "slack", now=NOW)
        got = _rows(engine, "select member_id, epoch(ts)::BIGINT, type, program, channel from activities")
        members_got = _rows(engine, "select member_id, email, joined_at, is_staff from members")
    assert reports.excluded["activities"] == {"bot": 2}  # the bot's welcome (a thread root), one reaction host
    assert got == sorted([("m1", T + 5_000, "post", None, "forum"), ("m2", T + 5_000, "post", None, "forum-2"),
                          ("m2", T + 4_000, "reply", None, "slack"), ("m2", T + 5_000, "reaction", None, "forum"),
                          ("m1", T + 6_000, "reaction", None, "forum"), ("m1", T + 6_000, "reaction", None, "forum"),
                          ("m1", T + 7_000, "post", "onboarding", "onboarding"),
                          ("m2", T + 7_000, "reaction", "onboarding", "onboarding")], key=repr)
    assert [(m, e, j.timestamp(), s) for m, e, j, s in members_got] == [("m1", "a@x.example", T + 1_000, True),
                                                                        ("m2", None, T + 1_000, False)]


def test_from_exports_names_the_files_missing_from_the_folder(tmp_path: Path) -> None:
    exports = Engine.demo_exports(tmp_path / "ex", members=200, seed=1)
    (exports.directory / "billing" / "cancellations.csv").unlink()
    (exports.directory / "commetrics.toml").unlink()
    with pytest.raises(InputError, match=r"lacks commetrics\.toml, billing/cancellations\.csv"):
        Engine.demo(tmp_path / "ws", from_exports=exports.directory)
    assert not (tmp_path / "ws").exists()  # refused before the workspace is touched


def test_a_workspace_the_exports_were_loaded_into_keeps_data_loaded_after_them(tmp_path: Path) -> None:
    """``demo --from-exports`` marks its workspace as a demo's, which the demo may replace; data of any other
    source loaded there afterwards is the user's, and the demo refuses the folder."""
    ws = tmp_path / "ws"
    Engine.init(ws).close()
    (ws / ".commetrics-demo").write_text("loaded by `commetrics demo --from-exports`\n", encoding="utf-8")
    members = write_csv(tmp_path / "members.csv", ["member_id", "joined_at"], [["u1", "2025-01-01T00:00:00Z"]])
    with Engine(ws) as engine:
        engine.load("members", members, source="slack")  # a source the exports load: still a demo's
    Engine.demo(ws, members=100, seed=1, force=True)[0].close()
    with Engine(ws) as engine:
        engine.load("members", members, source="crm")
    with pytest.raises(InputError, match="not demo data"):
        Engine.demo(ws, members=100, seed=1, force=True)
