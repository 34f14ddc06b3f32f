"""Deterministic identity rules: how e-mails, names and handles are normalised, and which records
they link for certain.

Every rule exists twice, and a test keeps the two in step:

* as a DuckDB SQL expression (``email_sql``, ``name_sql``, ``handle_sql``, ``free_mail_sql``),
  which is what resolution runs, set-based, over every record at once;
* as a pure-Python function of one value (``normalise_email``, ``normalise_name``,
  ``normalise_handle``, ``email_domain``, ``is_free_mail``), for tests, explanations and the
  occasional single value.

The rules:

* **e-mail**: trim, then reject what is obviously not an address (no single ``@``, characters
  outside the usual ASCII set, a domain without a dot, a system sender such as ``noreply@``, an
  RFC 2606 example domain): those become null. Then lowercase, drop a ``+tag`` from the local
  part, and for providers that ignore dots (``gmail.com``, ``googlemail.com``, both written as
  ``gmail.com``) drop the dots of the local part. ``Jane.Doe+community@GoogleMail.com`` becomes
  ``janedoe@gmail.com``.
* **name**: ``"Last, First"`` (exactly one comma) becomes ``"First Last"``; lowercase, accents
  stripped (DuckDB ``strip_accents``: ``José`` → ``jose``; and ``ø ł æ ß ...`` written as in
  ASCII: ``Søren`` → ``soren``), apostrophes dropped (``O'Brien`` → ``obrien``), any other
  character that is not a letter or digit becomes a space, whitespace collapsed. Empty becomes
  null.
* **handle**: lowercase, accents stripped, leading ``@`` and surrounding whitespace removed.
* **free mail**: a domain is free mail if it matches one of the patterns in ``free_mail``
  (``yahoo.*`` matches ``yahoo.com`` and ``yahoo.co.uk``, not ``yahoo.acme.com``). A free-mail
  domain says nothing about a person's employer.

The records as linkage sees them (names spelled by addresses, blocking keys) and the deterministic
links (the same address, an explicit map) are built from these rules in
:mod:`commetrics.identity.features`.

The Python twins agree with the SQL on Latin scripts (tested); other scripts may differ where
Python's and DuckDB's lowercase differ (Greek final sigma, for one).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

#: Domains (``*`` is a wildcard) of free mail providers: an address there names no employer.
DEFAULT_FREE_MAIL: tuple[str, ...] = (
    "gmail.com", "googlemail.com", "yahoo.*", "ymail.com", "rocketmail.com", "hotmail.*", "outlook.*",
    "live.*", "msn.com", "icloud.com", "me.com", "mac.com", "aol.*", "proton.me", "protonmail.*", "pm.me",
    "gmx.*", "web.de", "t-online.de", "freenet.de", "mail.com", "email.com", "zoho.com", "zohomail.com",
    "fastmail.*", "tutanota.com", "tuta.io", "hey.com", "mail.ru", "inbox.ru", "list.ru", "bk.ru",
    "yandex.*", "ya.ru", "qq.com", "foxmail.com", "163.com", "126.com", "yeah.net", "sina.com", "sohu.com",
    "aliyun.com", "naver.com", "daum.net", "hanmail.net", "rediffmail.com", "libero.it", "virgilio.it",
    "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "btinternet.com", "sky.com",
    "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "bellsouth.net", "cox.net", "shaw.ca",
    "rogers.com", "bigpond.com", "optusnet.com.au", "seznam.cz", "wp.pl", "o2.pl", "interia.pl",
    "onet.pl", "abv.bg", "uol.com.br", "bol.com.br", "terra.com.br",
)

#: Providers that ignore dots in the local part; the first is the canonical spelling.
DOT_BLIND_DOMAINS: tuple[str, ...] = ("gmail.com", "googlemail.com")

#: Local parts of system senders: shared by many people, so never evidence of one person.
SYSTEM_LOCAL_PARTS: tuple[str, ...] = ("noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon")

#: Documentation-only domains (RFC 2606): placeholders, not addresses.
EXAMPLE_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net")

#: Common English nicknames and the given name they stand for (both normalised).
NICKNAMES: Mapping[str, str] = {
    "abby": "abigail", "alex": "alexander", "andy": "andrew", "becky": "rebecca", "ben": "benjamin",
    "bill": "william", "billy": "william", "bob": "robert", "bobby": "robert", "charlie": "charles",
    "chris": "christopher", "dan": "daniel", "danny": "daniel", "dave": "david", "debbie": "deborah",
    "ed": "edward", "eddie": "edward", "greg": "gregory", "jeff": "jeffrey", "jen": "jennifer",
    "jenny": "jennifer", "jess": "jessica", "jim": "james", "jimmy": "james", "joe": "joseph",
    "jon": "jonathan", "kate": "katherine", "katie": "katherine", "kim": "kimberly", "liz": "elizabeth",
    "beth": "elizabeth", "maggie": "margaret", "matt": "matthew", "mike": "michael", "nick": "nicholas",
    "pat": "patricia", "pete": "peter", "rick": "richard", "rich": "richard", "rob": "robert",
    "sam": "samuel", "steve": "steven", "sue": "susan", "tim": "timothy", "tom": "thomas",
    "tony": "anthony", "vicky": "victoria", "will": "william", "zach": "zachary", "liv": "olivia",
}

# One pattern, used by SQL (RE2) and Python alike: the whole trimmed value must match it.
_EMAIL_PATTERN = (
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_EDGE_SPACE = r"^[ \t\n\r\f]+|[ \t\n\r\f]+$"  # what "trim" removes, the same in RE2 and Python
_HANDLE_EDGES = r"^[ \t\n\r\f@]+|[ \t\n\r\f]+$"
_APOSTROPHES = "'’`"


def _sql_text(value: str) -> str:
    """A SQL string literal (only ever for this module's own constants)."""
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_sql_text(v) for v in values) + "]"


# --- e-mail -------------------------------------------------------------------------------------


def normalise_email(value: str | None) -> str | None:
    """Return the normalised form of one e-mail address, or ``None`` if it is not one.

    Examples
    --------
    >>> normalise_email("  Jane.Doe+community@GoogleMail.com ")
    'janedoe@gmail.com'
    >>> normalise_email("jane.doe+x@Acme.com")
    'jane.doe@acme.com'
    >>> normalise_email("not an address") is None
    True
    """
    if value is None:
        return None
    trimmed = re.sub(_EDGE_SPACE, "", value)
    if not re.fullmatch(_EMAIL_PATTERN, trimmed):
        return None
    local, _, domain = trimmed.lower().partition("@")
    if domain in DOT_BLIND_DOMAINS:
        domain = DOT_BLIND_DOMAINS[0]
    local = re.sub(r"\+.*$", "", local)
    if domain == DOT_BLIND_DOMAINS[0]:
        local = local.replace(".", "")
    if not re.search(r"[a-z0-9]", local) or local in SYSTEM_LOCAL_PARTS or domain in EXAMPLE_DOMAINS:
        return None
    return f"{local}@{domain}"


def email_sql(column: str) -> str:
    """A DuckDB expression: ``column`` (an e-mail address) normalised, as ``normalise_email``."""
    # ``concat`` (NULL -> '', which no address matches, so the result is still NULL) keeps DuckDB
    # 2.0 from folding this expression over a column it knows to be all NULL, which fails with
    # "BindBuiltinScalarFunction did not return a BoundFunctionExpression".
    trimmed = f"regexp_replace(concat({column}, ''), {_sql_text(_EDGE_SPACE)}, '', 'g')"
    lowered = f"lower({trimmed})"
    domain = (f"(case when split_part({lowered}, '@', 2) in {_sql_tuple(DOT_BLIND_DOMAINS)} "
              f"then {_sql_text(DOT_BLIND_DOMAINS[0])} else split_part({lowered}, '@', 2) end)")
    untagged = f"regexp_replace(split_part({lowered}, '@', 1), '\\+.*$', '')"
    undotted = f"replace({untagged}, '.', '')"
    local = f"(case when {domain} = {_sql_text(DOT_BLIND_DOMAINS[0])} then {undotted} else {untagged} end)"
    return (
        f"(case when regexp_full_match({trimmed}, {_sql_text(_EMAIL_PATTERN)})"
        f" and regexp_matches({local}, '[a-z0-9]')"
        f" and {local} not in {_sql_tuple(SYSTEM_LOCAL_PARTS)}"
        f" and {domain} not in {_sql_tuple(EXAMPLE_DOMAINS)}"
        f" then {local} || '@' || {domain} end)"
    )


def email_key_sql(column: str) -> str:
    """A DuckDB expression: the form in which an e-mail *identifies someone* (looking a person up,
    erasing them): the normal form of ``email_sql``, else the address trimmed and lower-cased, since
    placeholder and role addresses, which linkage ignores, are still someone's data. The SQL twin of
    ``normalise_identifier("email", ...)``."""
    return f"coalesce({email_sql(column)}, lower(trim({column})))"


def _sql_tuple(values: Iterable[str]) -> str:
    return "(" + ", ".join(_sql_text(v) for v in values) + ")"


def email_domain(email: str | None) -> str | None:
    """The domain of a normalised e-mail address (``None`` for ``None``)."""
    if email is None or "@" not in email:
        return None
    return email.rpartition("@")[2]


# --- free mail ----------------------------------------------------------------------------------


#: What ``*`` in a free-mail pattern stands for: a top-level domain, alone or under a second level
#: (``com``, ``fr``, ``co.uk``, ``com.br``), so ``outlook.*`` matches ``outlook.fr`` but not
#: ``outlook.acme.com``.
_ANY_SUFFIX = r"[a-z]{2,3}(?:\.[a-z]{2,3})?"


def free_mail_pattern(free_mail: Iterable[str] = DEFAULT_FREE_MAIL) -> str:
    """One regular expression (RE2 and Python alike) that a free-mail domain matches in full."""
    alternatives = []
    for pattern in free_mail:
        parts = pattern.strip().lower().split("*")
        alternatives.append(_ANY_SUFFIX.join(re.escape(part) for part in parts))
    return "(?:" + "|".join(alternatives) + ")" if alternatives else "(?!)"


def is_free_mail(domain: str | None, free_mail: Iterable[str] = DEFAULT_FREE_MAIL) -> bool:
    """Whether ``domain`` matches one of the free-mail patterns (``yahoo.*`` matches ``yahoo.co.uk``)."""
    if domain is None:
        return False
    return re.fullmatch(free_mail_pattern(free_mail), domain.lower()) is not None


def free_mail_sql(domain: str, parameter: str = "free_mail") -> str:
    """A DuckDB expression: whether ``domain`` is free mail; bind ``free_mail_pattern(...)`` to ``$parameter``."""
    return f"coalesce(regexp_full_match({domain}, ${parameter}), false)"


# --- names and handles --------------------------------------------------------------------------


#: Letters that ``strip_accents`` keeps but people write in ASCII another way (``Søren`` → ``soren``).
FOLDED_LETTERS: Mapping[str, str] = {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "æ": "ae",
                                      "œ": "oe", "ß": "ss", "þ": "th"}


def _strip_accents(value: str) -> str:
    """Lowercase text without accents, as DuckDB ``strip_accents``, then ``FOLDED_LETTERS``."""
    decomposed = unicodedata.normalize("NFD", value)
    stripped = unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))
    return stripped.translate({ord(letter): ascii_letters for letter, ascii_letters in FOLDED_LETTERS.items()})


def _strip_accents_sql(text: str) -> str:
    text = f"strip_accents({text})"
    for letter, ascii_letters in FOLDED_LETTERS.items():
        text = f"replace({text}, {_sql_text(letter)}, {_sql_text(ascii_letters)})"
    return text


def normalise_name(value: str | None) -> str | None:
    """Return the normalised form of one person's name, or ``None`` if nothing is left.

    Examples
    --------
    >>> normalise_name("  Doe,   JOSÉ-María ")
    'jose maria doe'
    >>> normalise_name("Seán O'Brien")
    'sean obrien'
    """
    if value is None:
        return None
    if value.count(",") == 1:
        last, _, first = value.partition(",")
        value = re.sub(_EDGE_SPACE, "", first) + " " + re.sub(_EDGE_SPACE, "", last)
    text = _strip_accents(value.lower())
    text = re.sub(f"[{_APOSTROPHES}]", "", text)
    text = re.sub(r"(?:[^\w ]|_)+", " ", text)
    text = re.sub(r" +", " ", text).strip(" ")
    return text or None


def name_sql(column: str) -> str:
    """A DuckDB expression: ``column`` (a person's name) normalised, as ``normalise_name``."""
    commas = f"(length({column}) - length(replace({column}, ',', '')))"
    first = f"regexp_replace(split_part({column}, ',', 2), {_sql_text(_EDGE_SPACE)}, '', 'g')"
    last = f"regexp_replace(split_part({column}, ',', 1), {_sql_text(_EDGE_SPACE)}, '', 'g')"
    ordered = f"(case when {commas} = 1 then {first} || ' ' || {last} else {column} end)"
    text = _strip_accents_sql(f"lower({ordered})")
    text = f"regexp_replace({text}, {_sql_text(f'[{_APOSTROPHES}]')}, '', 'g')"
    text = f"regexp_replace({text}, '[^\\p{{L}}\\p{{N}} ]+', ' ', 'g')"
    text = f"trim(regexp_replace({text}, ' +', ' ', 'g'), ' ')"
    return f"nullif({text}, '')"


def normalise_handle(value: str | None) -> str | None:
    """Return the normalised form of one community handle (``"@JaneD "`` → ``"janed"``)."""
    if value is None:
        return None
    text = re.sub(_HANDLE_EDGES, "", _strip_accents(value.lower()))
    return text or None


def handle_sql(column: str) -> str:
    """A DuckDB expression: ``column`` (a handle) normalised, as ``normalise_handle``."""
    return f"nullif(regexp_replace({_strip_accents_sql(f'lower({column})')}, {_sql_text(_HANDLE_EDGES)}, '', 'g'), '')"


def domain_sql(column: str) -> str:
    """A DuckDB expression: a company domain (``https://www.Acme.com/`` → ``acme.com``)."""
    text = f"lower(regexp_replace({column}, {_sql_text(_EDGE_SPACE)}, '', 'g'))"
    text = f"regexp_replace({text}, '^(?:[a-z]+://)?(?:www\\.)?([^/?#]*).*$', '\\1')"
    return f"nullif({text}, '')"


def nickname_sql(first_name: str) -> str:
    """A DuckDB expression: the given name a nickname stands for (``bob`` → ``robert``), else itself."""
    nicknames = f"map({_sql_list(NICKNAMES)}, {_sql_list(NICKNAMES.values())})"
    return f"coalesce(map_extract_value({nicknames}, {first_name}), {first_name})"


def normalise_identifier(kind: str, value: str) -> str:
    """The form of an identifier that is pseudonymised: e-mails as the identity rules normalise them
    (case, whitespace, ``+tag``, provider dots), handles lower case without ``@``, ids trimmed."""
    text = str(value).strip()
    if kind == "email":
        return normalise_email(text) or text.lower()  # placeholder addresses too: someone's data
    if kind == "handle":
        return text.lower().lstrip("@")
    return text
