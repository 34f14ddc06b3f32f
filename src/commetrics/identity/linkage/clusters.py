"""People from links: connected components, and the constraints that split a component.

The deterministic and override links are made into link rows here too, so that all links reach
``_cluster`` in one shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

#: Match weight (bits) within which a record's links to two different addresses at one work domain
#: count as equally good: it then joins neither (see ``_ambiguous``).
AMBIGUITY_MARGIN = 3.0


# Strength of each kind of link when overrides force a choice (higher wins).
_RULE_RANK: dict[str, int] = {"override": 4, "email": 3, "map": 2, "probabilistic": 1}


# --- deterministic links ------------------------------------------------------------------------


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The connected component of each of ``n`` nodes, given edges ``a[i]``–``b[i]``."""
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


def _deterministic_links(edges: pd.DataFrame) -> pd.DataFrame:
    a, b = edges["record_a"].to_numpy(dtype=object), edges["record_b"].to_numpy(dtype=object)
    detail = [json.dumps({"evidence": e}) for e in edges["evidence"]]
    return pd.DataFrame({"record_a": np.where(a < b, a, b), "record_b": np.where(a < b, b, a), "rule": edges["rule"],
                         "match_probability": np.nan, "match_weight": np.nan, "detail": detail})


def _override_links(overrides: pd.DataFrame) -> pd.DataFrame:
    chosen = overrides[overrides["decision"] == "link"]
    return pd.DataFrame({"record_a": chosen["record_a"], "record_b": chosen["record_b"], "rule": "override",
                         "match_probability": np.nan, "match_weight": np.nan,
                         "detail": json.dumps({"evidence": "manual override: the same person"})})


# --- clusters and overrides ---------------------------------------------------------------------


def _cluster(index: pd.Index, links: pd.DataFrame, overrides: pd.DataFrame,
             work_emails: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """People from the links, with the constraints enforced; returns (people, kept links, dropped links).

    ``index`` holds the record ids in order (the person id is ``"p:"`` + the first of each
    person's). The result for a connected component depends on its own records and links alone,
    so a set of whole components can be clustered apart from the rest (incremental resolution).
    Of two links between the same records only the strongest counts; the links a constraint
    skipped are the dropped ones (a later change to the component may need them again).

    ``work_emails`` has ``record_id``, ``email_domain``, ``email`` of the records whose address is
    not free mail. Two constraints can split a connected component:

    * an ``unlink`` override: the two records end in different people, whatever links them;
    * **one address per work domain**: a person does not have two different addresses at the
      same work domain, so a probabilistic link that would join ``jsmith@acme.com`` and
      ``jsmith2@acme.com`` (two colleagues with one name, bridged by a third record such as a
      member with a personal address) is dropped. Deterministic links and overrides may join
      such addresses (an explicit map knows better).

    Where a component breaks a constraint, its links are re-added strongest first (override,
    e-mail, map, then probabilistic by match weight), skipping each link that would break one.
    """
    links = links.assign(rank=links["rule"].map(_RULE_RANK), weight=links["match_weight"].fillna(np.inf))
    links = links.sort_values(["rank", "weight", "record_a", "record_b"], ascending=[False, False, True, True])
    links = links.drop_duplicates(["record_a", "record_b"]).reset_index(drop=True)
    a = index.get_indexer(links["record_a"])
    b = index.get_indexer(links["record_b"])
    labels = _components(len(index), a, b)
    unlinks = overrides[overrides["decision"] == "unlink"]
    ua, ub = index.get_indexer(unlinks["record_a"]), index.get_indexer(unlinks["record_b"])
    work_nodes = index.get_indexer(work_emails["record_id"])
    work = pd.DataFrame({"label": labels[work_nodes], "domain": work_emails["email_domain"].to_numpy(),
                         "email": work_emails["email"].to_numpy()})
    crowded = work.groupby(["label", "domain"])["email"].nunique()
    contested = set(labels[ua][labels[ua] == labels[ub]].tolist()) | set(crowded[crowded > 1].index.get_level_values(0))
    keep = np.ones(len(links), dtype=bool)
    if contested:
        probabilistic = (links["rule"] == "probabilistic").to_numpy()
        ambiguous = _ambiguous(links, a, b, probabilistic & np.isin(labels[a], list(contested)), work_nodes, work)
        addresses = dict(zip(work_nodes.tolist(), zip(work["domain"], work["email"], strict=True), strict=True))
        labels, keep = _separate(labels, a, b, probabilistic, ~ambiguous,
                                 list(zip(ua.tolist(), ub.tolist(), strict=True)), addresses, contested)
    order = np.arange(len(index))
    first = np.full(labels.max(initial=-1) + 1, len(index))
    np.minimum.at(first, labels, order)
    person = "p:" + index.to_numpy(dtype=object)[first[labels]]
    kept, dropped = links[keep], links[~keep]
    best = pd.concat([kept[["record_a", "rank"]].rename(columns={"record_a": "record_id"}),
                      kept[["record_b", "rank"]].rename(columns={"record_b": "record_id"})])
    best_rank = best.groupby("record_id")["rank"].max()
    names = {rank: rule for rule, rank in _RULE_RANK.items()}
    rule = index.map(best_rank).to_series(index=index).map(names).fillna("singleton").to_numpy()
    people = pd.DataFrame({"record_id": index.to_numpy(dtype=object), "person_id": person, "rule": rule})
    people = people.sort_values(["person_id", "record_id"]).reset_index(drop=True)
    kept = kept.drop(columns=["rank", "weight"]).sort_values(["record_a", "record_b"]).reset_index(drop=True)
    dropped = dropped.drop(columns=["rank", "weight"]).sort_values(["record_a", "record_b"]).reset_index(drop=True)
    return people, kept, dropped


class _Groups:
    """Union-find over the nodes of contested components, with what each group holds."""

    def __init__(self, apart: Sequence[tuple[int, int]], addresses: Mapping[int, tuple[str, str]]) -> None:
        self.parent: dict[int, int] = {}
        self.members: dict[int, set[int]] = {}
        self.domains: dict[int, dict[str, set[str]]] = {}
        self.apart: dict[int, set[int]] = {}
        self.addresses = addresses
        for x, y in apart:
            self.apart.setdefault(x, set()).add(y)
            self.apart.setdefault(y, set()).add(x)

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def _domains(self, root: int) -> dict[str, set[str]]:
        if root not in self.domains:
            domain, email = self.addresses.get(root, (None, None))
            self.domains[root] = {domain: {email}} if domain is not None and email is not None else {}
        return self.domains[root]

    def kept_apart(self, ra: int, rb: int) -> bool:
        """Whether an unlink override forbids joining the groups of roots ``ra`` and ``rb``."""
        small, other = (ra, rb) if len(self.members.get(ra, ())) <= len(self.members.get(rb, ())) else (rb, ra)
        return any(self.find(y) == other for x in self.members.get(small, {small}) for y in self.apart.get(x, ()))

    def two_addresses(self, ra: int, rb: int) -> bool:
        """Whether joining would give one person two different addresses at one work domain."""
        da, db = self._domains(ra), self._domains(rb)
        return any(domain in db and (emails - db[domain]) and (db[domain] - emails) for domain, emails in da.items())

    def join(self, ra: int, rb: int) -> None:
        if len(self.members.get(ra, (ra,))) < len(self.members.get(rb, (rb,))):
            ra, rb = rb, ra
        da, db = self._domains(ra), self._domains(rb)
        for domain, emails in db.items():
            da.setdefault(domain, set()).update(emails)
        self.members[ra] = self.members.pop(ra, {ra}) | self.members.pop(rb, {rb})
        self.domains.pop(rb, None)
        self.parent[rb] = ra


def _ambiguous(links: pd.DataFrame, a: np.ndarray, b: np.ndarray, candidates: np.ndarray, work_nodes: np.ndarray,
               work: pd.DataFrame) -> np.ndarray:
    """Which probabilistic links are an ambiguous choice between two people at one work domain.

    A record (say a member with a personal address and the account ``acme.com``) may link about
    as strongly to ``jsmith@acme.com`` as to ``jsmith2@acme.com``: two colleagues with one name.
    Linking it to the stronger one would be a coin toss, so when its best links to two different
    addresses at one domain are within ``AMBIGUITY_MARGIN`` match weight of each other, all its
    probabilistic links to addresses at that domain are dropped.
    """
    picked = np.flatnonzero(candidates)
    if len(picked) == 0:
        return np.zeros(len(a), dtype=bool)
    weight = links["match_weight"].to_numpy()[picked]
    ends = pd.DataFrame({"link": np.concatenate([picked, picked]), "node": np.concatenate([a[picked], b[picked]]),
                         "partner": np.concatenate([b[picked], a[picked]]), "weight": np.concatenate([weight, weight])})
    address = pd.DataFrame({"partner": work_nodes, "domain": work["domain"].to_numpy(),
                            "email": work["email"].to_numpy()})
    ends = ends.merge(address, on="partner")
    best = ends.groupby(["node", "domain", "email"], as_index=False)["weight"].max()
    best = best.sort_values("weight", ascending=False)
    best["rank"] = best.groupby(["node", "domain"]).cumcount()
    top = best[best["rank"] < 2].pivot_table(index=["node", "domain"], columns="rank", values="weight")
    if 1 not in top.columns:
        return np.zeros(len(a), dtype=bool)
    close = top[(top[0] - top[1]) < AMBIGUITY_MARGIN].reset_index()[["node", "domain"]]
    dropped = ends.merge(close, on=["node", "domain"])["link"].unique()
    ambiguous = np.zeros(len(a), dtype=bool)
    ambiguous[dropped] = True
    return ambiguous


def _separate(labels: np.ndarray, a: np.ndarray, b: np.ndarray, probabilistic: np.ndarray, usable: np.ndarray,
              apart: Sequence[tuple[int, int]], addresses: Mapping[int, tuple[str, str]],
              contested: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Re-cluster the contested components, strongest link first, skipping links that break a constraint.

    ``a``/``b`` are the links' nodes, sorted strongest first; links not ``usable`` are skipped.
    Returns new labels and which links were kept.
    """
    groups = _Groups(apart, addresses)
    keep = usable.copy()
    for i in np.flatnonzero(np.isin(labels[a], list(contested)) & usable).tolist():
        ra, rb = groups.find(int(a[i])), groups.find(int(b[i]))
        if ra == rb:
            continue
        if groups.kept_apart(ra, rb) or (probabilistic[i] and groups.two_addresses(ra, rb)):
            keep[i] = False
            continue
        groups.join(ra, rb)
    new = labels.copy()
    offset = labels.max() + 1
    for node in np.flatnonzero(np.isin(labels, list(contested))).tolist():
        new[node] = offset + groups.find(node)
    _, new = np.unique(new, return_inverse=True)
    return new.astype(np.int64), keep
