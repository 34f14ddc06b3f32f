"""Hand community scores to a CRM: import files for HubSpot and Salesforce, or a push through their REST APIs.

Two frames come in: ``contacts`` (one row per consenting person, keyed by ``member_id``) and ``companies``
(one row per account, keyed by ``account_id``). Both are checked, scores are rounded to one decimal, dates
are reduced to the UTC calendar day, and rows are sorted by their external id, so the same input always
gives the same files and the same batches.

Files (:func:`export_files`)
    HubSpot: ``hubspot_contacts.csv`` and ``hubspot_companies.csv``, headed by the property labels and
    internal names that HubSpot's importer maps (dates as ``YYYY-MM-DD``). Salesforce:
    ``salesforce_contacts.csv`` and ``salesforce_accounts.csv`` for the Data Import Wizard or Data Loader,
    custom fields ending in ``__c``. UTF-8, every field quoted, missing values as empty cells, text made
    inert for spreadsheets (:mod:`commetrics.spreadsheet`).

Push (:func:`push`)
    HubSpot: ``POST /crm/v3/objects/{contacts,companies}/batch/upsert``, 100 records a batch; contacts are
    keyed by email (rows without one cannot be upserted and are reported), companies by the unique custom
    property ``commetrics_account_id``. Salesforce: ``PATCH /services/data/v60.0/composite/sobjects/...``
    (sObject Collections upsert by the external-id fields ``Commetrics_Member_Id__c`` and
    ``Commetrics_Account_Id__c``), 200 records a batch. One cheap authenticated GET comes first, so a refused
    token writes nothing. Records the CRM rejects one by one come back in ``PushReport.failed_records``.
    Missing values are left out of a record, so they never blank what the CRM already holds. Salesforce
    needs ``LastName`` for a new Contact and ``Name`` for a new Account, which commetrics does not hold: the
    push updates records that already carry the external id, and reports the others as the CRM rejects them.

Retries
    429, 5xx and connection failures are retried up to ``max_retries`` times, waiting what ``Retry-After``
    says (seconds or an HTTP date) or else 1, 2, 4 … seconds (at most 60) plus up to 10 % jitter drawn
    deterministically from the batch and attempt. 401 and 403 stop the run at once: retrying a refused token
    only burns the rate limit. Any other 4xx stops it with the CRM's own message.

Journal and idempotency
    ``journal`` is a JSON Lines file holding, for every batch the CRM acknowledged, its key: the SHA-256 of
    the target, the object type and the batch's canonical JSON body (plus the records it rejected, so that a
    re-run reports them again). A batch whose key is in the journal is skipped; a batch is journaled only
    after the CRM answered it, with write, flush and fsync. A kill can therefore leave at most one line torn
    (ignored and cut off when read: that batch was never acknowledged) and at most one batch applied but not
    journaled, which the re-run sends again. Every request is an upsert by external id with the same values,
    so sending it again changes nothing: idempotent here means that any number of runs, interrupted anywhere,
    leaves the CRM exactly as one clean run would, with at most one effective update per record. A journal
    belongs to one destination account; when the data changes, the batches from the first changed row on
    get new keys and are sent again, which is again harmless.
"""

from __future__ import annotations

from .files import export_files
from .http import check_url
from .push import PushReport, push
from .records import COMPANY_COLUMNS, CONTACT_COLUMNS, CRM_CONTACT_COLUMN, FILES, TARGETS, CrmError, community_tags

__all__ = ["COMPANY_COLUMNS", "CONTACT_COLUMNS", "CRM_CONTACT_COLUMN", "FILES", "TARGETS", "CrmError", "PushReport",
           "check_url", "community_tags", "export_files", "push"]
