"""Pairs of records to review by hand: the probabilistic pairs whose match probability lies near the threshold.

Resolution keeps every probabilistic link it made (``identity_links``), the ones a constraint set aside
(``identity_dropped_links``) and the pairs it scored just below the threshold — at most ``[identity]
review_margin`` below — which it never links (``identity_near_links``), each with its match probability
and the evidence: every comparison's level and match weight. The pairs within ``margin`` of ``[identity]
match_threshold``, on either side, are those a person should look at: :func:`review_pairs` lists them beside
what each record says (source, name, e-mail, handle) and the manual decision already taken, if any. A
decision (``Engine.override_identity``) is kept in ``identity_overrides`` and wins over the evidence in every
later run. Pairs the model scored lower than the review margin were never kept.
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from ..store import table_exists

__all__ = ["review_pairs"]

_RECORDS = """
    select 'm:' || member_id as record_id, any_value(source) as source, arg_max(email, load_id) as email,
        arg_max(name, load_id) as name, arg_max(handle, load_id) as handle
    from members group by member_id
    union all
    select 'c:' || contact_id, any_value(source), arg_max(email, load_id), arg_max(name, load_id), null
    from contacts group by contact_id
"""


def review_pairs(con: duckdb.DuckDBPyConnection, *, threshold: float, margin: float = 0.05,
                 limit: int = 100) -> pd.DataFrame:
    """Probabilistic pairs with a match probability within ``margin`` of ``threshold``, nearest first.

    Columns: ``record_a``, ``record_b``, ``status`` (``linked``, ``set aside`` by a constraint, or ``not linked``:
    scored below the threshold), ``match_probability``,
    ``match_weight``, ``evidence`` (the comparisons, as a dict), ``source_a``/``name_a``/``email_a``/
    ``handle_a`` and the same for ``b``, and ``decision`` (a manual ``link``/``unlink``, else ``None``)."""
    low, high = threshold - margin, threshold + margin
    parts = ["select record_a, record_b, 'linked' as status, match_probability, match_weight, detail "
             "from identity_links where rule = 'probabilistic' and match_probability between $low and $high"]
    if table_exists(con, "identity_dropped_links"):
        parts.append("select record_a, record_b, 'set aside', match_probability, match_weight, detail "
                     "from identity_dropped_links where rule = 'probabilistic' "
                     "and match_probability between $low and $high")
    if table_exists(con, "identity_near_links"):
        parts.append("select record_a, record_b, 'not linked', match_probability, match_weight, detail "
                     "from identity_near_links where match_probability between $low and $high")
    frame = con.execute(f"""
        with pairs as ({" union all ".join(parts)}), records as ({_RECORDS})
        select p.record_a, p.record_b, p.status, p.match_probability, p.match_weight, p.detail,
            a.source as source_a, a.name as name_a, a.email as email_a, a.handle as handle_a,
            b.source as source_b, b.name as name_b, b.email as email_b, b.handle as handle_b, o.decision
        from pairs as p
        left join records as a on a.record_id = p.record_a
        left join records as b on b.record_id = p.record_b
        left join identity_overrides as o on o.record_a = p.record_a and o.record_b = p.record_b
        order by abs(p.match_probability - $threshold), p.record_a, p.record_b
        limit $limit
    """, {"low": low, "high": high, "threshold": threshold, "limit": limit}).df()
    frame["evidence"] = [json.loads(d) if isinstance(d, str) and d else None for d in frame.pop("detail")]
    return frame
