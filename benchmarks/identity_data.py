"""Synthetic identity records with known truth: community members and CRM contacts of made-up people.

    from identity_data import generate
    data = generate(100_000, seed=7)   # data.records, data.truth, data.maps, data.scenarios

Used by ``benchmarks/identity.py`` and ``tests/test_identity_linkage.py``. Seeded: the same
``(records, seed)`` gives the same frames.

**People.** Given names come from a list of common ones (some accented, some with a usual
nickname); surnames from a list of common surnames (half the people) or are made up from two or
three syllables (the long tail: two-syllable ones are still shared by many). Both lists are drawn
with Zipf-like weights, so common full names collide often (dozens of "james smith" in 100k
records). Each person works at a company (sizes Zipf-like too) with a work address in the
company's pattern (``first.last``, ``flast``, ...; a clash gets a digit: ``john.smith2``), has a
personal address at a free-mail provider (mostly made from the name, a quarter not:
``bluefox42@gmail.com``) and maybe a community handle (from the name, random, or none).

**Records.** A person has a community member record (75 %), a CRM contact (70 %), or both:

* member: the work address (``MEMBER_WORK_EMAIL_RATE``, 75 %: a vendor's customer community) or
  the personal one, the handle, and the account domain when the platform knows it (90 % with a
  work address, ``PERSONAL_EMAIL_COMPANY_KNOWN_RATE`` = 60 % with a personal one); 12 % have a
  second member record on another platform (same or other address; same or other handle);
* contact: the work address and the company's domain (95 %); 6 % have a duplicate contact
  created from a form with the personal address (the company known for 80 %);
* **changed employer**: 6 % of people with a contact moved to another company and have a second
  contact there with a new work address. The truth says *same person*. For half of those who
  are also members (about a third of them) the community platform's export maps the member to
  the new address; the others have no evidence beyond their name unless another record bridges
  them, and a careful resolver must not link them (the same name at another company with
  another address is what two different people look like). These pairs stay in the truth, so
  recall counts them as missed: that is the fair reading of a target that counts pairs.
* **namesakes**: people with a common name (a top-40 given name and surname) have, at
  ``NAMESAKE_RATE``, a colleague with the same name at the same company (a different person,
  with a ``name2``-style work address): about 2 % of people.

``linkable_groups`` says which true pairs any evidence beyond the name connects (86 % of them at
100k records); the rest have only a name.

**Noise**, per record: 1-character typos in names (5 %), nicknames (``Robert`` → ``Bob``, 15 %
of member names, 5 % of contact names), accents dropped (40 % of accented names), upper/lower
case and extra whitespace, ``Last, First`` in the CRM (5 %), missing names (2 %); in addresses
case and whitespace, ``+tag`` sub-addressing (12 % of member addresses, 3 % of contacts'), gmail
dots moved (30 %) and ``googlemail.com`` (5 %); handles with ``@`` and case changes.

**Explicit maps**: 10 % of members appear in an export that maps their member id to their work
address, besides the changed-employer rows (by member id or by handle).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from itertools import accumulate

import pandas as pd

FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Margaret", "Anthony", "Sandra", "Steven", "Ashley",
    "Andrew", "Kimberly", "Joshua", "Emily", "Kevin", "Donna", "Brian", "Michelle", "George", "Carol",
    "Edward", "Amanda", "Ronald", "Melissa", "Timothy", "Deborah", "Jason", "Stephanie", "Jeffrey", "Rebecca",
    "Ryan", "Laura", "Jacob", "Sharon", "Gary", "Cynthia", "Nicholas", "Kathleen", "Eric", "Amy",
    "Jonathan", "Shirley", "Samuel", "Angela", "Gregory", "Helen", "Alexander", "Anna", "Benjamin", "Brenda",
    "Zachary", "Victoria", "Peter", "Abigail", "Olivia", "Katherine", "José", "María", "Zoë", "Renée",
    "Søren", "François", "Jürgen", "Ana", "Luis", "Carlos", "Sofía", "Lucía", "Mateo", "Chloé",
    "Hélène", "André", "Björn", "Åsa", "Noël", "Inés", "Raúl", "Joël", "Anaïs", "Çağla",
    "Wei", "Li", "Yuki", "Haruto", "Priya", "Arjun", "Aisha", "Omar", "Fatima", "Ahmed",
    "Olga", "Dmitri", "Ivan", "Katarzyna", "Piotr", "Agnieszka", "Lars", "Ingrid", "Sven", "Astrid",
)
SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Bonnet", "Rossi", "Russo", "Ferrari", "Esposito",
    "Bianchi", "Romano", "Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Ivanov",
    "Smirnov", "Kuznetsov", "Popov", "Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu",
    "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Kim", "Park", "Choi", "Patel", "Shah",
    "Singh", "Kumar", "Gupta", "Khan", "Ali", "Hansen", "Johansson", "Andersson", "Nilsson", "Larsen",
    "O'Brien", "O'Connor", "Murphy", "Kelly", "Sullivan", "Walsh", "McCarthy", "Byrne", "Ryan", "Doyle",
    "Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins", "Jesus", "Sousa",
    "Van der Berg", "De Jong", "Jansen", "De Vries", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos",
)
SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "dor", "sel", "tin", "bar", "ko", "wit", "ham", "ber", "gen",
             "stad", "ley", "mar", "rud", "fel", "nor", "quist", "ric", "zan", "pel", "tor", "vik", "dal")
WORDS = ("blue", "fox", "river", "stone", "pixel", "cloud", "tiger", "maple", "echo", "nova", "orbit",
         "lunar", "cedar", "falcon", "ember", "delta", "quartz", "sage", "raven", "comet")
TLDS = (".com", ".com", ".com", ".io", ".co", ".de", ".co.uk", ".fr", ".net", ".ai")
PROVIDERS = (("gmail.com", 45), ("yahoo.com", 8), ("hotmail.com", 8), ("outlook.com", 8), ("icloud.com", 6),
             ("proton.me", 3), ("gmx.de", 3), ("yahoo.co.uk", 2), ("mail.ru", 2), ("qq.com", 2), ("aol.com", 2),
             ("hotmail.co.uk", 2), ("web.de", 2), ("163.com", 1))
NICKNAME_OF = {"Robert": "Bob", "William": "Bill", "Elizabeth": "Liz", "Katherine": "Kate", "Michael": "Mike",
               "James": "Jim", "Jennifer": "Jen", "Christopher": "Chris", "Daniel": "Dan", "Matthew": "Matt",
               "Joseph": "Joe", "Thomas": "Tom", "Anthony": "Tony", "Steven": "Steve", "Andrew": "Andy",
               "Jonathan": "Jon", "Alexander": "Alex", "Nicholas": "Nick", "Benjamin": "Ben", "Samuel": "Sam",
               "Patricia": "Pat", "Margaret": "Maggie", "Rebecca": "Becky", "Jessica": "Jess", "Susan": "Sue",
               "Deborah": "Debbie", "Timothy": "Tim", "Richard": "Rick", "Edward": "Ed", "Charles": "Charlie",
               "Kimberly": "Kim", "Zachary": "Zach", "Gregory": "Greg", "Jeffrey": "Jeff", "Peter": "Pete",
               "Victoria": "Vicky", "Abigail": "Abby", "Olivia": "Liv"}
ACCENTS = str.maketrans("éèêëáàâäãåíìîïóòôöõúùûüñçšśźżłøßğÉÈÁÀÅÖÜÑÇŚŁØ",
                        "eeeeaaaaaaiiiiooooouuuuncsszzlosgEEAAAOUNCSLO")
#: The share of member records that carry the work address: a customer community whose members sign
#: in with their product account (the vendor's community, not an open chat server) is mostly work
#: addresses.
MEMBER_WORK_EMAIL_RATE = 0.75
#: The share of member records with a personal address whose account the platform still knows
#: (a company field in the profile, an enrichment).
PERSONAL_EMAIL_COMPANY_KNOWN_RATE = 0.6
#: Namesake colleagues have common names (two "Inés Kowalczyk"s at one company would be a fluke):
#: people with a top-40 given name and a top-40 surname get one at this rate, about 2 % of people.
COMMON_FIRST = frozenset(FIRST_NAMES[:40])
COMMON_SURNAMES = frozenset(SURNAMES[:40])
NAMESAKE_RATE = 0.15
WORK_PATTERNS = (("first.last", 50), ("flast", 20), ("firstl", 10), ("first", 10), ("first_last", 10))


@dataclass
class _Person:
    key: int
    first: str
    last: str
    company: int
    work_local: str = ""
    personal: str = ""
    handle: str | None = None


@dataclass(frozen=True)
class IdentityData:
    """Generated records with their truth."""

    records: pd.DataFrame  # record_id, source, email, name, handle, account_domain
    truth: pd.DataFrame  # record_id, true_person, kind (which scenario made the record)
    maps: pd.DataFrame  # member_id, handle, email (one of member_id/handle per row)
    scenarios: dict[str, int] = field(default_factory=dict)  # how many people each scenario touched


def _zipf(n: int, exponent: float) -> list[float]:
    """Cumulative Zipf-like weights of ``n`` ranks (for ``random.choices(cum_weights=...)``)."""
    return list(accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))


def _ascii(text: str) -> str:
    """Letters as people write them in an address: ``ACCENTS`` first (``ł`` → ``l``, ``ß`` → ``s``), then
    any other accent dropped (``ń`` → ``n``, ``ę`` → ``e``), so every generated address is ASCII."""
    decomposed = unicodedata.normalize("NFKD", text.translate(ACCENTS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _slug(text: str) -> str:
    return "".join(c for c in _ascii(text).lower() if c.isalnum())


class _Generator:
    def __init__(self, seed: int, companies: int) -> None:
        self.rng = random.Random(seed)
        self.first_weights = _zipf(len(FIRST_NAMES), 0.5)
        self.surname_weights = _zipf(len(SURNAMES), 0.5)
        self.domains: list[str] = []
        seen: set[str] = set()
        while len(self.domains) < companies:
            name = "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 3)))
            domain = name + self.rng.choice(TLDS)
            if domain not in seen:
                seen.add(domain)
                self.domains.append(domain)
        self.company_weights = _zipf(companies, 0.8)
        self.patterns = [self.rng.choices([p for p, _ in WORK_PATTERNS], [w for _, w in WORK_PATTERNS])[0]
                         for _ in range(companies)]
        self.used_work: set[tuple[int, str]] = set()
        self.used_personal: set[str] = set()
        self.used_handles: set[str] = set()

    # --- people ---------------------------------------------------------------------------------

    def surname(self) -> str:
        if self.rng.random() < 0.5:
            return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 3))).capitalize()
        return self.rng.choices(SURNAMES, cum_weights=self.surname_weights)[0]

    def person(self, key: int, first: str | None = None, last: str | None = None,
               company: int | None = None) -> _Person:
        rng = self.rng
        if company is None:
            company = rng.choices(range(len(self.domains)), cum_weights=self.company_weights)[0]
        p = _Person(key, first or rng.choices(FIRST_NAMES, cum_weights=self.first_weights)[0], last or self.surname(),
                    company)
        p.work_local = self.work_local(p.first, p.last, p.company)
        p.personal = self.personal_email(p.first, p.last)
        roll = rng.random()
        if roll < 0.5:
            p.handle = self.unique_handle(self.derived_handle(p.first, p.last))
        elif roll < 0.85:
            p.handle = self.unique_handle(rng.choice(WORDS) + rng.choice(WORDS) + str(rng.randint(1, 99)))
        return p

    def work_local(self, first: str, last: str, company: int) -> str:
        f, s = _slug(first), _slug(last)
        local = {"first.last": f"{f}.{s}", "flast": f"{f[:1]}{s}", "firstl": f"{f}{s[:1]}", "first": f,
                 "first_last": f"{f}_{s}"}[self.patterns[company]]
        candidate, n = local, 1
        while (company, candidate) in self.used_work:
            n += 1
            candidate = f"{local}{n}"
        self.used_work.add((company, candidate))
        return candidate

    def personal_email(self, first: str, last: str) -> str:
        rng = self.rng
        provider = rng.choices([p for p, _ in PROVIDERS], [w for _, w in PROVIDERS])[0]
        f, s = _slug(first), _slug(last)
        while True:
            roll = rng.random()
            if roll < 0.30:
                local = f"{f}.{s}"
            elif roll < 0.50:
                local = f"{f}{s}"
            elif roll < 0.65:
                local = f"{f}.{s}{rng.randint(1, 99)}"
            elif roll < 0.75:
                local = f"{f[:1]}{s}{rng.randint(1, 999)}"
            else:
                local = rng.choice(WORDS) + rng.choice(WORDS) + str(rng.randint(1, 999))
            address = f"{local}@{provider}"
            if address.replace(".", "") not in self.used_personal:
                self.used_personal.add(address.replace(".", ""))
                return address

    def derived_handle(self, first: str, last: str) -> str:
        f, s = _slug(first), _slug(last)
        number = self.rng.randint(1, 99)
        return self.rng.choice((f"{f}{s}", f"{f}_{s}", f"{f[:1]}{s}", f"{f}.{s[:1]}", f"{f}{s}{number}"))

    def unique_handle(self, handle: str) -> str:
        candidate, n = handle, 1
        while candidate in self.used_handles:
            n += 1
            candidate = f"{handle}{n}"
        self.used_handles.add(candidate)
        return candidate

    # --- noise ----------------------------------------------------------------------------------

    def typo(self, word: str) -> str:
        rng = self.rng
        if len(word) < 3:
            return word
        i = rng.randrange(1, len(word) - 1)
        op = rng.choice(("sub", "del", "ins", "swap"))
        letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
        if op == "sub":
            return word[:i] + letter + word[i + 1:]
        if op == "del":
            return word[:i] + word[i + 1:]
        if op == "ins":
            return word[:i] + letter + word[i:]
        return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]

    def noisy_name(self, p: _Person, *, crm: bool) -> str | None:
        rng = self.rng
        if rng.random() < 0.02:
            return None
        first, last = p.first, p.last
        if first in NICKNAME_OF and rng.random() < (0.05 if crm else 0.15):
            first = NICKNAME_OF[first]
        if rng.random() < 0.05:
            if rng.random() < 0.5:
                first = self.typo(first)
            else:
                last = self.typo(last)
        if rng.random() < 0.4:
            first, last = _ascii(first), _ascii(last)
        name = f"{last}, {first}" if crm and rng.random() < 0.05 else f"{first} {last}"
        roll = rng.random()
        if roll < 0.12:
            name = name.upper()
        elif roll < 0.22:
            name = name.lower()
        if rng.random() < 0.1:
            name = "  " + name.replace(" ", "   ") + " "
        return name

    def noisy_email(self, address: str, *, tag_rate: float) -> str:
        rng = self.rng
        local, _, domain = address.partition("@")
        if domain == "gmail.com":
            if rng.random() < 0.3:
                local = local.replace(".", "") if "." in local else local[:2] + "." + local[2:]
            if rng.random() < 0.05:
                domain = "googlemail.com"
        if rng.random() < tag_rate:
            local += "+" + rng.choice(("community", "forum", "news", "events"))
        address = f"{local}@{domain}"
        roll = rng.random()
        if roll < 0.1:
            address = address.title()
        elif roll < 0.15:
            address = address.upper()
        if rng.random() < 0.08:
            address = " " + address + "  "
        return address

    def noisy_handle(self, handle: str | None) -> str | None:
        if handle is None:
            return None
        rng = self.rng
        if rng.random() < 0.2:
            handle = "@" + handle
        if rng.random() < 0.2:
            handle = handle.capitalize()
        return handle


def generate(records: int, seed: int = 7) -> IdentityData:
    """``records`` identity records of made-up people, with the truth and an explicit-map export."""
    people_estimate = max(20, records // 2)
    g = _Generator(seed, companies=max(20, people_estimate // 10))
    rng = g.rng
    rows: list[dict[str, object]] = []  # record fields + internal "key" + "person"
    map_rows: list[dict[str, object]] = []  # internal member key + handle + email
    scenarios = {"people": 0, "changed_employer": 0, "changed_employer_mapped": 0, "namesake_colleagues": 0,
                 "second_member": 0, "duplicate_contact": 0}
    queue: list[_Person] = []
    key = 0
    while len(rows) < records:
        if queue:
            p = queue.pop()
        else:
            key += 1
            p = g.person(key)
            if p.first in COMMON_FIRST and p.last in COMMON_SURNAMES and rng.random() < NAMESAKE_RATE:
                key += 1
                queue.append(g.person(key, p.first, p.last, p.company))
                scenarios["namesake_colleagues"] += 1
        scenarios["people"] += 1
        domain = g.domains[p.company]
        work = f"{p.work_local}@{domain}"
        roll = rng.random()
        is_member, is_contact = roll < 0.75, roll >= 0.30
        member_keys: list[int] = []
        if is_member:
            for platform in range(2 if rng.random() < 0.12 else 1):
                if platform == 0:
                    address = work if rng.random() < MEMBER_WORK_EMAIL_RATE else p.personal
                    handle = p.handle
                else:
                    scenarios["second_member"] += 1
                    address = address if rng.random() < 0.5 else (p.personal if address == work else work)
                    handle = p.handle if rng.random() < 0.6 else (
                        g.unique_handle(g.derived_handle(p.first, p.last)) if rng.random() < 0.5 else None)
                known = rng.random() < (0.9 if address == work else PERSONAL_EMAIL_COMPANY_KNOWN_RATE)
                kind = ("member_work" if address == work else "member_personal") + ("_2" if platform else "")
                rows.append({"key": len(rows), "person": p.key, "source": "member", "kind": kind,
                             "email": g.noisy_email(address, tag_rate=0.12), "name": g.noisy_name(p, crm=False),
                             "handle": g.noisy_handle(handle), "account_domain": domain if known else None})
                member_keys.append(len(rows) - 1)
            if rng.random() < 0.10:
                map_rows.append({"member": member_keys[0], "handle": None, "email": work})
        if is_contact:
            rows.append({"key": len(rows), "person": p.key, "source": "contact", "kind": "contact",
                         "email": g.noisy_email(work, tag_rate=0.03), "name": g.noisy_name(p, crm=True),
                         "handle": None, "account_domain": domain if rng.random() < 0.95 else None})
            if rng.random() < 0.06:
                scenarios["duplicate_contact"] += 1
                rows.append({"key": len(rows), "person": p.key, "source": "contact", "kind": "contact_personal",
                             "email": g.noisy_email(p.personal, tag_rate=0.0), "name": g.noisy_name(p, crm=True),
                             "handle": None, "account_domain": domain if rng.random() < 0.8 else None})
            if rng.random() < 0.06:
                scenarios["changed_employer"] += 1
                company = rng.choices(range(len(g.domains)), cum_weights=g.company_weights)[0]
                new_work = f"{g.work_local(p.first, p.last, company)}@{g.domains[company]}"
                rows.append({"key": len(rows), "person": p.key, "source": "contact", "kind": "contact_new_employer",
                             "email": g.noisy_email(new_work, tag_rate=0.0), "name": g.noisy_name(p, crm=True),
                             "handle": None, "account_domain": g.domains[company]})
                if member_keys and rng.random() < 0.5:
                    scenarios["changed_employer_mapped"] += 1
                    use_handle = p.handle is not None and rng.random() < 0.5
                    map_rows.append({"member": member_keys[0], "handle": p.handle if use_handle else None,
                                     "email": new_work})
    rows = rows[:records]
    order = list(range(len(rows)))
    rng.shuffle(order)
    ids: dict[int, str] = {}
    members = contacts = 0
    for position in order:
        row = rows[position]
        if row["source"] == "member":
            members += 1
            ids[position] = f"m:{members}"
        else:
            contacts += 1
            ids[position] = f"c:C{contacts}"
    frame = pd.DataFrame([{**rows[i], "record_id": ids[i]} for i in order])
    maps = pd.DataFrame(
        [{"member_id": None if m["handle"] else ids[int(str(m["member"]))].removeprefix("m:"),
          "handle": m["handle"], "email": m["email"]} for m in map_rows if int(str(m["member"])) in ids],
        columns=["member_id", "handle", "email"])
    return IdentityData(
        records=frame[["record_id", "source", "email", "name", "handle", "account_domain"]].reset_index(drop=True),
        truth=frame[["record_id", "person", "kind"]].rename(columns={"person": "true_person"}).reset_index(drop=True),
        maps=maps,
        scenarios=scenarios,
    )


# --- scoring against the truth ------------------------------------------------------------------


def _pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_scores(predicted: pd.Series, truth: pd.Series, linkable: pd.Series | None = None) -> dict[str, float]:
    """Pairwise precision and recall of ``predicted`` clusters against ``truth`` (both by record id).

    Counts pairs, never lists them: a cluster of n records holds n(n-1)/2 pairs, and the pairs in
    both a predicted and a true cluster are counted per (predicted, true) intersection. With
    ``linkable`` (a group per record, nested in the truth: see ``linkable_groups``) it also gives
    the recall over the true pairs that evidence beyond the name connects.
    """
    frame = pd.DataFrame({"predicted": predicted, "truth": truth.reindex(predicted.index)})
    found = _pairs(frame.groupby(["predicted", "truth"]).size())
    predicted_pairs = _pairs(frame.groupby("predicted").size())
    true_pairs = _pairs(frame.groupby("truth").size())
    scores = {"precision": found / predicted_pairs if predicted_pairs else 1.0,
              "recall": found / true_pairs if true_pairs else 1.0,
              "true_pairs": true_pairs, "predicted_pairs": predicted_pairs, "found_pairs": found}
    if linkable is not None:
        frame["linkable"] = linkable.reindex(predicted.index)
        linkable_pairs = _pairs(frame.groupby("linkable").size())
        found_linkable = _pairs(frame.groupby(["predicted", "linkable"]).size())
        scores["linkable_pairs"] = linkable_pairs
        scores["linkable_recall"] = found_linkable / linkable_pairs if linkable_pairs else 1.0
    return scores


def linkable_groups(data: IdentityData) -> pd.Series:
    """For each record, a group of the records of the same person that evidence beyond the name connects.

    Two records of one person share evidence if they have the same normalised address, an
    explicit map joins them, they have the same handle, one's handle is the other's e-mail local
    part, they share an e-mail local part that is not made from the name, or both name the same
    company. Groups are the connected components of such pairs within each true person: a pair
    outside one group (a changed employer without a map, a member with a personal address and no
    company) is linkable by its name alone, which a careful resolver must not trust for common
    names. The normalisation is ``commetrics.identity.rules``'.
    """
    import duckdb
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from commetrics.identity import features, rules

    con = duckdb.connect()
    con.register("raw_records", data.records)
    con.register("truth", data.truth)
    con.register("raw_maps", data.maps.astype(object))
    con.execute(f"create table normalised as {features.normalised_records_sql('raw_records', max_block_size=10**9)}",
                {"free_mail": rules.free_mail_pattern()})
    con.execute(f"""create table maps as select 'm:' || member_id as record_id, {rules.handle_sql('handle')} as handle,
                    {rules.email_sql('email')} as email from raw_maps""")
    evidence = con.sql(f"""
        with records as (
            select n.*, t.true_person from normalised as n join truth as t using (record_id)
        ),

        shared as (
            select l.record_id as record_a, r.record_id as record_b
            from records as l
            join records as r
                on l.true_person = r.true_person and l.record_id < r.record_id
            where l.handle = r.handle
                or (l.handle_key = r.email_local_key and not l.handle_from_name)
                or (r.handle_key = l.email_local_key and not r.handle_from_name)
                or (l.email_local_key = r.email_local_key and not l.email_local_from_name
                    and not r.email_local_from_name)  -- a typo in one name must not make it evidence
                or l.company = r.company
        )

        select record_a, record_b from shared
        union all
        select record_a, record_b from ({features.deterministic_edges_sql('normalised', 'maps')})
    """).df()
    ids = pd.Index(sorted(data.records["record_id"]))
    a, b = ids.get_indexer(evidence["record_a"]), ids.get_indexer(evidence["record_b"])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(ids), len(ids)))
    _, labels = connected_components(graph, directed=False)
    con.close()
    return pd.Series(labels, index=ids, name="linkable")
