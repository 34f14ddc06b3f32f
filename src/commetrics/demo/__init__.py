"""A seeded synthetic B2B customer community with known, planted effects.

``generate(members, seed, out_dir)`` writes one Parquet file per canonical table (see
:mod:`commetrics.schema`) plus ``ground_truth.json``, which states the effects planted in the
data, so that every analysis of commetrics can be checked against a known answer. The same
``(members, seed, as_of, activities_per_member)`` always gives byte-identical files: all
randomness comes from ``numpy.random.default_rng`` seeded from ``seed``, never from the clock.

Planted effects
---------------
1. **Acquisition by entry path.** Members who are neither staff nor existing customers start a
   trial within 90 days of joining with a probability set by their entry path: webinar 2.5 x seo
   in every window (:mod:`commetrics.demo.outcomes`).
2. **Confounded renewal.** Bigger, heavier-using accounts are both likelier to be engaged (at least
   ``K = 5`` activities 180 to 60 days before the renewal) and likelier to renew, so the raw renewal
   difference overstates the true effect (:mod:`commetrics.demo.renewal`).
3. **NPS and activity.** The latent NPS score rises with ``ln(1 + activities of the member before
   the response)`` (:mod:`commetrics.demo.surveys`).

Each of those modules states its effect in full; the numbers are in :mod:`commetrics.demo.params`,
and :mod:`commetrics.demo.ground_truth` writes down what the data should show.
Everything else (names, e-mails, programs, tags, purchases, upgrades, accepted answers, ...) is
plausible noise around these effects.

Modules
-------
``params``        sizes, shares, names and the parameters of the planted effects
``helpers``       seeded draws, money, and Arrow columns from codes
``entities``      accounts, members, CRM contacts, and activity rows before their columns are drawn
``renewal``       effect 2: yearly subscription periods, engagement windows and renewal
``outcomes``      the outcome rows; effect 1: trials, purchases and expansions; renewals and churn
``surveys``       effect 3: NPS answers (and a few CSAT answers)
``activities``    background activity around the exposure windows, written in chunks
``tables``        the accounts, members, contacts, outcomes and subscriptions tables
``ground_truth``  what ``ground_truth.json`` states
``generator``     :func:`generate`: every stage in order, each with its own seeded generator
``exports``       :func:`write_exports`: the community as platform exports (``commetrics demo --as-exports``),
                  written by ``export_slack``, ``export_segment`` and ``export_crm``

Names with a leading underscore are internal to this package.
"""

from __future__ import annotations

from .activities import ACTIVITY_SCHEMA as ACTIVITY_SCHEMA
from .exports import DemoExports, LoadStep, read_steps, write_exports
from .generator import DemoFiles, generate
from .helpers import Progress as Progress
from .params import *  # noqa: F403  (every parameter stays importable from commetrics.demo)
from .params import DEFAULT_AS_OF, GENERATOR_VERSION

__all__ = ["DEFAULT_AS_OF", "GENERATOR_VERSION", "DemoExports", "DemoFiles", "LoadStep", "generate", "read_steps",
           "write_exports"]
