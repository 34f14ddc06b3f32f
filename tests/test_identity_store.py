"""Identity resolution in the store: people and their accounts, resolution before cohorting,
overrides that survive re-runs and re-loads, explanations, staleness and erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from commetrics import Config, Engine, InputError
from commetrics.config import IdentitySettings
from commetrics.errors import UnknownNameError
from commetrics.results import Result

from .conftest import identity_data, write_csv

AS_OF = datetime(2025, 6, 30, tzinfo=UTC)


def _people(engine: Engine) -> dict[str, str]:
    return dict(engine.store.con.execute("select record_id, person_id from people").fetchall())


def _store(tmp_path: Path, *, resolve_on_load: bool = True) -> Engine:
    """Two platforms, a CRM, accounts and an SSO export:

    * Jane: forum member m1 (work address with +tag), Slack member s1 (same address), contact c1;
    * Bob: forum member m2 with a personal address, mapped by the SSO export to his work address,
      which is contact c2's;
    * Ann: contact c3 only (never joined), and her duplicate contact c4 from a web form;
    * Raj: member m3 at a known company domain without any account on his records;
    * Lee: member m4 at a free-mail address (no account from a domain);
    * Kim: member m5 at a domain two accounts share (no account from it).
    """
    engine = Engine.in_memory(Config(identity=IdentitySettings(resolve_on_load=resolve_on_load)))
    accounts = write_csv(tmp_path / "accounts.csv", ["account_id", "name", "domain"], [
        ["A1", "Acme", "https://www.acme.io/"], ["A2", "Initech", "initech.com"], ["A3", "Hooli", "hooli.dev"],
        ["A4", "Globex", "shared.org"], ["A5", "Globex EU", "shared.org"]])
    forum = write_csv(tmp_path / "forum.csv", ["member_id", "email", "name", "joined_at", "account_id"], [
        ["m1", "Jane.Doe+forum@acme.io", "Jane Doe", "2025-01-01T00:00:00Z", ""],
        ["m2", "bluefox42@gmail.com", "Bob Roe", "2025-01-05T00:00:00Z", ""],
        ["m3", "raj@hooli.dev", "Raj Patel", "2025-01-10T00:00:00Z", ""],
        ["m4", "lee@gmail.com", "Lee Chan", "2025-01-10T00:00:00Z", ""],
        ["m5", "kim@shared.org", "Kim Park", "2025-01-10T00:00:00Z", ""]])
    slack = write_csv(tmp_path / "slack.csv", ["member_id", "email", "name", "joined_at", "account_id"], [
        ["s1", "jane.doe@acme.io", "Jane", "2025-02-01T00:00:00Z", "A1"]])
    contacts = write_csv(tmp_path / "contacts.csv", ["contact_id", "email", "name", "account_id", "created_at"], [
        ["c1", "JANE.DOE@ACME.IO", "Doe, Jane", "A1", "2024-12-01T00:00:00Z"],
        ["c2", "bob.roe@initech.com", "Robert Roe", "A2", "2025-01-02T00:00:00Z"],
        ["c3", "ann@initech.com", "Ann Lee", "A2", "2025-01-03T00:00:00Z"],
        ["c4", " Ann@Initech.com ", "Ann Lee", "", "2025-01-04T00:00:00Z"]])
    maps = write_csv(tmp_path / "sso.csv", ["member_id", "email"], [["m2", "Bob.Roe@initech.com"]])
    engine.load("accounts", accounts, source="crm", now=AS_OF)
    engine.load("members", forum, source="forum", now=AS_OF)
    engine.load("members", slack, source="slack", now=AS_OF)
    engine.load("contacts", contacts, source="crm", now=AS_OF)
    engine.load("identity_maps", maps, source="sso", now=AS_OF)
    return engine


def test_members_and_contacts_resolve_into_people_with_accounts(tmp_path: Path) -> None:
    with _store(tmp_path) as engine:
        person = _people(engine)
        assert person["m:m1"] == person["m:s1"] == person["c:c1"] == "p:c:c1"  # normalised e-mail
        assert person["m:m2"] == person["c:c2"] == "p:c:c2"  # the SSO export's map
        assert person["c:c3"] == person["c:c4"] == "p:c:c3"  # the CRM's duplicate contact
        assert len(set(person.values())) == 6  # Jane, Bob, Ann, Raj, Lee, Kim
        rules = dict(engine.store.con.execute("select record_id, rule from people").fetchall())
        assert (rules["m:m2"], rules["m:m1"], rules["m:m4"]) == ("map", "email", "singleton")
        accounts = {r: (a, how) for r, a, how in engine.store.con.execute(
            "select record_id, account_id, account_rule from people").fetchall()}
        assert accounts["m:m1"] == accounts["m:s1"] == ("A1", "contact")  # the CRM contact's account first
        assert accounts["m:m2"] == ("A2", "contact")
        assert accounts["c:c4"] == ("A2", "contact")  # the duplicate gets its person's account
        assert accounts["m:m3"] == ("A3", "domain")  # https://www.hooli.dev/ is hooli.dev
        assert accounts["m:m4"] == (None, None)  # gmail.com is free mail: never an account's domain
        assert accounts["m:m5"] == (None, None)  # shared.org names two accounts: neither
        runs = engine.store.con.execute("select records, people from identity_runs order by run_id desc").fetchall()
        assert runs[0] == (10, 6)
        assert len(runs) == 4  # after each load of members, contacts or maps (not accounts)
        assert engine.identity_note() == ""


def test_conversion_counts_people_and_credits_crm_outcomes_to_members(tmp_path: Path) -> None:
    with _store(tmp_path) as engine:
        outcomes = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "contact_id", "ts", "type"], [
            ["o1", "", "c1", "2025-01-05T00:00:00Z", "trial_start"],  # Jane's trial, keyed by her CRM contact
            ["o2", "", "c2", "2025-03-01T00:00:00Z", "trial_start"],  # Bob's: 55 days after joining
            ["o3", "", "c4", "2025-01-20T00:00:00Z", "trial_start"],  # Ann (never joined): 17 days
            ["o4", "m4", "", "2025-01-12T00:00:00Z", "trial_start"],  # Lee, keyed by member
        ])
        engine.load("outcomes", outcomes, source="crm", now=AS_OF)
        table = engine.conversion(outcome="trial_start", windows=[30, 90], as_of=AS_OF, baseline=True,
                                  exact=True)["rates"]
    rows = {(r["cohort"], r["window_days"]): r for r in table.to_dict(orient="records")}
    # Five people joined (Jane on two platforms counts once): Jane, Bob, Raj, Lee, Kim (m5).
    everyone = rows[("all", 30)]
    assert (everyone["eligible"], everyone["converters"]) == (5, 2)  # Jane (day 4) and Lee (day 2)
    assert rows[("all", 90)]["converters"] == 3  # and Bob (day 55)
    # Ann's two contacts are one person who never joined; Jane's and Bob's contacts joined.
    baseline = rows[("CRM contacts who never joined", 30)]
    assert (baseline["eligible"], baseline["converters"], baseline["existing_customers"]) == (1, 1, 0)


def test_without_resolution_each_member_is_a_person(tmp_path: Path) -> None:
    """The same store before identities are resolved: Jane's two member records count twice and her
    CRM-keyed trial counts for nobody (what resolution fixes), and the store says so."""
    with _store(tmp_path, resolve_on_load=False) as engine:
        outcomes = write_csv(tmp_path / "o.csv", ["outcome_id", "contact_id", "ts", "type"], [
            ["o1", "c1", "2025-01-05T00:00:00Z", "trial_start"]])
        engine.load("outcomes", outcomes, source="crm", now=AS_OF)
        assert "never resolved" in engine.identity_note()
        before = engine.conversion(outcome="trial_start", windows=[30], as_of=AS_OF, baseline=False,
                                   exact=True)["rates"]
        engine.resolve_identities()
        after = engine.conversion(outcome="trial_start", windows=[30], as_of=AS_OF, baseline=False,
                                  exact=True)["rates"]
        assert engine.identity_note() == ""
    assert (before.iloc[0]["eligible"], before.iloc[0]["converters"]) == (6, 0)
    assert (after.iloc[0]["eligible"], after.iloc[0]["converters"]) == (5, 1)


def test_a_load_after_resolution_is_stale_until_resolved_again(tmp_path: Path) -> None:
    with _store(tmp_path, resolve_on_load=False) as engine:
        engine.resolve_identities()
        more = write_csv(tmp_path / "more.csv", ["member_id", "email", "joined_at"], [
            ["m9", "ann@initech.com", "2025-03-01T00:00:00Z"]])
        engine.load("members", more, source="forum", now=AS_OF)
        assert "1 load of members" in engine.identity_note()
        table = engine.conversion(outcome="trial_start", windows=[30], as_of=AS_OF, baseline=True,
                                  exact=True)["rates"]
        assert table[table["cohort"] == "all"].iloc[0]["in_progress"] + \
            table[table["cohort"] == "all"].iloc[0]["eligible"] == 6  # five people, and m9 on its own
        engine.resolve_identities()
        assert _people(engine)["m:m9"] == "p:c:c3"  # Ann joined after all


def test_overrides_win_and_survive_reruns_and_reloads(tmp_path: Path) -> None:
    with _store(tmp_path) as engine:
        result = engine.override_identity("m:m1", "c:c1", "unlink")
        person = _people(engine)
        assert person["m:m1"] != person["c:c1"]
        assert (result["record_a"], result["record_b"], result["replaced"]) == ("c:c1", "m:m1", None)
        engine.override_identity("m4", "m3", "link")  # plain member ids name records too
        assert _people(engine)["m:m3"] == _people(engine)["m:m4"]
        engine.resolve_identities()
        more = write_csv(tmp_path / "more.csv", ["member_id", "email", "joined_at"], [
            ["m9", "someone@else.net", "2025-03-01T00:00:00Z"]])
        engine.load("members", more, source="forum", now=AS_OF)  # resolves again
        person = _people(engine)
        assert person["m:m1"] != person["c:c1"]
        assert person["m:m3"] == person["m:m4"]
        cleared = engine.override_identity("c:c1", "m:m1", "clear")
        assert cleared["replaced"] == "unlink"
        assert _people(engine)["m:m1"] == _people(engine)["c:c1"]
        assert engine.override_identity("m:m1", "c:c1", "link")["replaced"] is None


def test_override_errors_say_what_to_do(tmp_path: Path) -> None:
    with _store(tmp_path) as engine:
        with pytest.raises(UnknownNameError, match="No member, contact or person is known as 'nobody'"):
            engine.override_identity("nobody", "m1", "link")
        with pytest.raises(InputError, match="names 3 records"):
            engine.override_identity("jane.doe@acme.io", "m2", "unlink")
        with pytest.raises(InputError, match="same record"):
            engine.override_identity("m1", "m:m1", "link")
        with pytest.raises(InputError, match="'link' or 'unlink'"):
            engine.override_identity("m1", "m2", "merge")  # type: ignore[arg-type]


def test_explain_names_the_rule_of_every_link(tmp_path: Path) -> None:
    with _store(tmp_path) as engine:
        explained = engine.explain_identity("Jane.Doe@ACME.io")
    (person,) = explained["people"]
    assert person["person_id"] == "p:c:c1"
    assert (person["account_id"], person["account_rule"]) == ("A1", "contact")
    assert [r["record_id"] for r in person["records"]] == ["c:c1", "m:m1", "m:s1"]
    assert {link["rule"] for link in person["links"]} == {"email"}
    assert all("jane.doe@acme.io" in link["detail"]["evidence"] for link in person["links"])


def test_probabilistic_links_in_the_store_are_explained_by_match_weights(tmp_path: Path) -> None:
    """Generated members and contacts with known truth, loaded as files: resolution on load finds
    probabilistic links, each explained comparison by comparison, and keeps precision."""
    data = identity_data().generate(3_000, seed=11)
    records = data.records.merge(data.truth, on="record_id")
    domains = records.dropna(subset=["account_domain"]).drop_duplicates("account_domain")
    account_of = {d: f"A{i}" for i, d in enumerate(domains["account_domain"])}
    members = records[records["source"] == "member"]
    contacts = records[records["source"] == "contact"]
    engine = Engine.in_memory()
    files = {
        "accounts": pd.DataFrame({"account_id": list(account_of.values()), "domain": list(account_of)}),
        "members": pd.DataFrame({"member_id": members["record_id"].str.slice(2), "email": members["email"],
                                 "name": members["name"], "handle": members["handle"],
                                 "joined_at": "2025-01-01T00:00:00Z",
                                 "account_id": members["account_domain"].map(account_of)}),
        "contacts": pd.DataFrame({"contact_id": contacts["record_id"].str.slice(2), "email": contacts["email"],
                                  "name": contacts["name"], "account_id": contacts["account_domain"].map(account_of),
                                  "created_at": "2025-01-01T00:00:00Z"}),
    }
    with engine.batch():
        for table, frame in files.items():
            path = tmp_path / f"{table}.parquet"
            frame.to_parquet(path, index=False)
            engine.load(table, path, source="gen", now=AS_OF)
    people = engine.store.con.execute("select record_id, person_id, rule from people").df()
    assert engine.store.con.execute("select count(*) from identity_runs").fetchall()[0][0] == 1  # once per batch
    joined = people.merge(data.truth, on="record_id")
    pairs = joined.merge(joined, on="person_id").query("record_id_x < record_id_y")
    assert len(pairs) > 500
    precision = (pairs["true_person_x"] == pairs["true_person_y"]).mean()
    assert precision >= 0.97
    probabilistic = people[people["rule"] == "probabilistic"]["record_id"]
    assert len(probabilistic) > 20
    explained = engine.explain_identity(probabilistic.iloc[0])
    links = [link for link in explained["people"][0]["links"] if link["rule"] == "probabilistic"]
    assert links
    assert 0.9 <= links[0]["match_probability"] <= 1
    assert {"name", "email", "handle", "company"} <= set(links[0]["detail"])
    assert all("match_weight" in level for level in links[0]["detail"].values())


def test_forget_removes_the_person_from_people_and_resolves_the_rest_again(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    Engine.init(ws).close()
    with Engine(ws) as engine:
        contacts = write_csv(tmp_path / "c.csv", ["contact_id", "email", "name", "created_at"], [
            ["c1", "jane@acme.io", "Jane Doe", "2025-01-01T00:00:00Z"],
            ["c2", "bob@acme.io", "Bob Roe", "2025-01-01T00:00:00Z"]])
        members = write_csv(tmp_path / "m.csv", ["member_id", "email", "name", "joined_at"], [
            ["m1", "Jane@Acme.io", "Jane Doe", "2025-01-02T00:00:00Z"],
            ["m2", "bob@acme.io", "Bob", "2025-01-02T00:00:00Z"]])
        maps = write_csv(tmp_path / "maps.csv", ["member_id", "email"], [["m1", "jane.private@proton.me"]])
        engine.load("contacts", contacts, now=AS_OF)
        engine.load("members", members, now=AS_OF)
        engine.load("identity_maps", maps, now=AS_OF)
        engine.override_identity("c1", "c2", "unlink")
        out = engine.forget("jane.private@proton.me")  # only the map knows this address
        assert out["rows_deleted"]["people"] == 2
        assert out["rows_deleted"]["identity_maps"] == 1
        assert out["rows_deleted"]["identity_overrides"] == 1
        con = engine.store.con
        assert con.execute("select record_id from people order by 1").fetchall() == [("c:c2",), ("m:m2",)]
        assert con.execute("select count(*) from identity_links where record_a like '%1' or record_b like '%1'"
                           ).fetchall() == [(0,)]
        assert con.execute("select max(records) from identity_runs where run_id = (select max(run_id) "
                           "from identity_runs)").fetchall() == [(2,)]
    data = (ws / "commetrics.duckdb").read_bytes()
    assert b"jane.private" not in data


def test_an_older_store_is_migrated_when_opened_read_only(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    Engine.init(ws).close()
    import duckdb

    con = duckdb.connect(str(ws / "commetrics.duckdb"))
    for table in ("people", "identity_links", "identity_overrides", "identity_runs", "identity_maps"):
        con.execute(f"drop table {table}")
    con.execute("delete from schema_migrations where version >= 4")  # a store from before migration 4
    con.close()
    with Engine(ws, read_only=True) as engine:
        assert engine.status().tables["identity_maps"] == 0
        assert engine.identity_note() == ""


def test_identity_commands(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from commetrics.cli import app

    ws = tmp_path / "ws"
    Engine.init(ws).close()
    runner = CliRunner()
    members = write_csv(tmp_path / "m.csv", ["member_id", "email", "name", "handle", "joined_at"], [
        ["m1", "jane@acme.io", "Jane Doe", "janed", "2025-01-02"],
        ["m2", "bob@initech.com", "Bob Roe", "", "2025-01-02"]])
    contacts = write_csv(tmp_path / "c.csv", ["contact_id", "email", "name", "created_at"], [
        ["c1", "Jane@Acme.io", "Jane Doe", "2025-01-01"]])
    assert runner.invoke(app, ["load", "members", str(members), "-w", str(ws)]).exit_code == 0
    assert runner.invoke(app, ["load", "contacts", str(contacts), "-w", str(ws)]).exit_code == 0
    resolved = runner.invoke(app, ["identity", "resolve", "-w", str(ws)])
    assert resolved.exit_code == 0, resolved.output
    assert "3 records are 2 people (links: 1 by email)" in resolved.output
    shown = runner.invoke(app, ["identity", "explain", "janed", "-w", str(ws)])
    assert shown.exit_code == 2
    assert "No member, contact or person is known as 'janed'" in shown.output
    shown = runner.invoke(app, ["identity", "explain", "m1", "-w", str(ws)], terminal_width=200)
    assert "p:c:c1: 2 record(s)" in shown.output
    assert "same normalised e-mail" in shown.output
    unlinked = runner.invoke(app, ["identity", "unlink", "m1", "c1", "--json", "-w", str(ws)])
    payload = json.loads(unlinked.output)
    assert (payload["person_a"], payload["person_b"]) == ("p:c:c1", "p:m:m1")
    again = json.loads(runner.invoke(app, ["identity", "resolve", "--json", "-w", str(ws)]).output)
    assert again["people"] == 3  # the override holds on a re-run
    explained = json.loads(runner.invoke(app, ["identity", "explain", "c:c1", "--json", "-w", str(ws)]).output)
    assert explained["people"][0]["overrides"][0]["decision"] == "unlink"
    cleared = runner.invoke(app, ["identity", "clear", "c:c1", "m:m1", "-w", str(ws)])
    assert "left to the evidence again (it replaces an earlier unlink)" in cleared.output
    assert "3 records are 2 people" in cleared.output


def test_attribution_journeys_are_a_persons_touches_on_every_platform(tmp_path: Path) -> None:
    """Jane asked on the forum (m1) and attended an AMA on Slack (s1); her purchase is keyed by her CRM
    contact. Resolved, it is one journey forum → ama; unresolved, the purchase has no member and is
    not attributed at all."""
    def run(resolve_on_load: bool) -> Result:
        with _store(tmp_path, resolve_on_load=resolve_on_load) as engine:
            touches = write_csv(tmp_path / "t.csv", ["activity_id", "member_id", "ts", "type", "program"], [
                ["t1", "m1", "2025-03-01T00:00:00Z", "question", "forum"],
                ["t2", "s1", "2025-03-05T00:00:00Z", "webinar_attended", "ama"]])
            buys = write_csv(tmp_path / "b.csv", ["outcome_id", "contact_id", "ts", "type", "value", "currency"], [
                ["b1", "c1", "2025-03-10T00:00:00Z", "purchase", "900", "EUR"]])
            engine.load("activities", touches, source="forum", now=AS_OF)
            engine.load("outcomes", buys, source="crm", now=AS_OF)
            return engine.attribution(["first", "last", "linear"], by="program", as_of=AS_OF, exact=True)

    resolved_result = run(True)
    resolved = resolved_result["models"].set_index(["model", "class"])
    assert resolved.loc[("first", "forum"), "value"] == pytest.approx(900)
    assert resolved.loc[("last", "ama"), "value"] == pytest.approx(900)
    assert resolved.loc[("linear", "forum"), "conversions"] == pytest.approx(0.5)
    assert resolved_result["conversions_without_touch"] == 0
    unresolved = run(False)["models"]
    assert unresolved["conversions"].sum() == 0
