"""Identity resolution: community members and CRM contacts linked into people.

``resolve(records)`` returns a :class:`Resolution`: which person each record belongs to, the
links that made each person, and ``explain(record_id)``. It runs in four steps:

1. **Normalise** every record in DuckDB (``rules`` and ``features``: e-mail, name, handle, company
   domain; a record without a name takes the one its address spells, ``jane.doe@`` → ``jane doe``).
2. **Deterministic links**: the same normalised e-mail address, or an explicit map row (member
   id or handle → address, from an export). Their connected components are computed with
   ``scipy.sparse.csgraph.connected_components``.
3. **Probabilistic links** (Splink 5 on DuckDB) between records that step 2 left apart: names,
   e-mail local parts, handles and company domains, with term-frequency adjustments (two
   "james smith" records are weaker evidence than two "ines kowalczyk"; a handle that nobody
   else holds is strong evidence), and whether anyone else has the name at the company
   (``Namesakes``). Trained on the data itself: the prior from deterministic rules, u by seeded
   random sampling, m by expectation maximisation on two blocking rules (on a hashed sample of
   records when the pairs would be many). Pairs at or above ``threshold`` link. The trained
   model (``Model``: Splink's model JSON) scores a pair from the two records alone, their term
   frequencies included, so the store keeps it and scores later records with it.
4. **People**: the connected components of all links (deterministic, probabilistic, and
   ``link`` overrides, which win over everything), then three constraints, enforced only in the
   components that break one:

   * an ``unlink`` override separates two records whatever the evidence;
   * a person has **one address per work domain**: a probabilistic link never joins
     ``jsmith@acme.com`` and ``jsmith2@acme.com`` (two colleagues with one name, bridged by a third
     record such as a member with a personal address and the account ``acme.com``);
   * a record whose links to two such addresses are about equally strong joins neither (a coin
     toss is not evidence).

   In such a component the links are re-added one at a time, strongest first (override, e-mail,
   map, then probabilistic by match weight), and a link that would break a constraint is dropped:
   the unlinked records end in different people, and each contested record goes with the side
   of its strongest link. When overrides contradict each other through other records (link a–b,
   link b–c, unlink a–c), the unlink wins.

Person ids are ``"p:"`` + the smallest record id of the person, so a re-run on the same records
(in any order) gives the same ids; when new records join a person, it keeps its id unless one of
them sorts first, and when two people merge, the merged person keeps the smaller id.

The comparisons guard against two false merges (see ``_comparisons``): the same name at another
company with another e-mail local part is a different person unless a handle agrees (someone
who changed employer needs an explicit map, or a record that bridges the two), and two contacts
with different addresses at the same company are colleagues, however alike their names. A
third record with that name at that company (a personal address and the account) links to
neither: ``namesake`` evidence, and the constraints above.

Splink's ``cluster_pairwise_predictions_at_threshold`` is not used: the clusters must combine the
deterministic links, the predictions and the overrides, and honour the constraints above, so
the components are computed here (the same connected components at the same threshold).

The package's modules follow these steps: ``inputs`` (the records, maps and overrides, checked),
``comparisons`` (the Splink settings: comparisons, blocking rules, ``Namesakes``),
``frequencies`` (the term-frequency lookups), ``model`` (training, ``Model``), ``scoring`` (a model
applied to candidate pairs), ``clusters`` (people from links, under the constraints) and
``pipeline`` (``resolve`` and ``Resolution``).
"""

from __future__ import annotations

from .clusters import AMBIGUITY_MARGIN
from .comparisons import (
    BLOCKING_KEYS,
    COLLEAGUE_M_PROBABILITY,
    MAX_BLOCK_SIZE,
    NAME_DIFFERS_M_PROBABILITY,
    NAMESAKE_SHARE_BOUNDS,
    NEUTRAL,
    ONE_EDIT_APART,
    RARE_M_PROBABILITY,
    RARE_U_PROBABILITY,
    TWO_WORK_DOMAINS_M_PROBABILITY,
    Namesakes,
)
from .comparisons import _namesakes as _namesakes
from .frequencies import NAME_FREQUENCY_FLOOR, name_frequency_sql, value_frequency_sql
from .inputs import MAPS_SQL, OPTIONAL_RECORD_COLUMNS, RECORD_COLUMNS, SOURCES
from .model import EM_MAX_PAIRS, FREQUENCY_COLUMNS, SEED, Model
from .model import _pair_sample as _pair_sample
from .pipeline import MIN_RECORDS_FOR_PROBABILISTIC, Resolution, check_threshold, resolve

__all__ = [
    "AMBIGUITY_MARGIN",
    "BLOCKING_KEYS",
    "COLLEAGUE_M_PROBABILITY",
    "EM_MAX_PAIRS",
    "FREQUENCY_COLUMNS",
    "MAPS_SQL",
    "MAX_BLOCK_SIZE",
    "MIN_RECORDS_FOR_PROBABILISTIC",
    "NAMESAKE_SHARE_BOUNDS",
    "NAME_DIFFERS_M_PROBABILITY",
    "NAME_FREQUENCY_FLOOR",
    "NEUTRAL",
    "ONE_EDIT_APART",
    "OPTIONAL_RECORD_COLUMNS",
    "RARE_M_PROBABILITY",
    "RARE_U_PROBABILITY",
    "RECORD_COLUMNS",
    "SEED",
    "SOURCES",
    "TWO_WORK_DOMAINS_M_PROBABILITY",
    "Model",
    "Namesakes",
    "Resolution",
    "check_threshold",
    "name_frequency_sql",
    "resolve",
    "value_frequency_sql",
]
