"""The closed list of reasons a row is quarantined.

Every quarantined row carries exactly one of these codes (the first check it fails), the column
where one applies, the file, the line and the load id. The list is closed: a test checks that
each code has a fixture that produces it.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a row was quarantined instead of loaded."""

    BAD_ENCODING = "bad_encoding"
    WRONG_COLUMN_COUNT = "wrong_column_count"
    UNTERMINATED_QUOTE = "unterminated_quote"
    LINE_TOO_LONG = "line_too_long"
    MALFORMED_RECORD = "malformed_record"
    FIELD_TOO_LONG = "field_too_long"
    MISSING_KEY = "missing_key"
    MISSING_VALUE = "missing_value"
    BAD_ID = "bad_id"
    BAD_TIMESTAMP = "bad_timestamp"
    EARLY_TIMESTAMP = "early_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_EMAIL = "bad_email"
    UNKNOWN_ENUM = "unknown_enum"
    BAD_NUMBER = "bad_number"
    SCORE_OUT_OF_RANGE = "score_out_of_range"
    NON_FINITE_MONEY = "non_finite_money"
    NEGATIVE_MONEY = "negative_money"
    BAD_BOOLEAN = "bad_boolean"
    BAD_CURRENCY = "bad_currency"
    BAD_JSON = "bad_json"
    END_BEFORE_START = "end_before_start"
    DUPLICATE_KEY_CONFLICT = "duplicate_key_conflict"


#: What each reason means and what to do about it (shown by `commetrics quarantine`).
REASON_HELP: dict[Reason, str] = {
    Reason.BAD_ENCODING: "The line is not valid UTF-8. Re-export the file as UTF-8, or name its encoding with "
                         "--encoding (e.g. latin-1).",
    Reason.WRONG_COLUMN_COUNT: "The line has more or fewer fields than the header. Check delimiters and quoting.",
    Reason.UNTERMINATED_QUOTE: "A quoted value never closes. Check the quoting of that line.",
    Reason.LINE_TOO_LONG: "The line is longer than the reader accepts. Check for a missing line break.",
    Reason.MALFORMED_RECORD: "The record cannot be parsed (JSON Lines: not a JSON object).",
    Reason.FIELD_TOO_LONG: "A value is longer than ingest.max_field_bytes. Shorten it or raise the limit.",
    Reason.MISSING_KEY: "A key column is empty. Every row needs its identifier.",
    Reason.MISSING_VALUE: "A required column is empty.",
    Reason.BAD_ID: "The identifier holds a NUL character, or in JSON is not a string or a whole number. Fix it "
                   "in the export.",
    Reason.BAD_TIMESTAMP: "The timestamp cannot be read. Use ISO 8601 (2024-05-01T14:30:00Z) or name the "
                          "format with --date-format, e.g. '%d/%m/%Y %H:%M'.",
    Reason.EARLY_TIMESTAMP: "The timestamp is before ingest.earliest_timestamp: a placeholder such as "
                            "0001-01-01 or 1970-01-01, not a real date. Fix it or lower the limit.",
    Reason.FUTURE_TIMESTAMP: "The timestamp is later than load time plus ingest.future_tolerance_hours.",
    Reason.BAD_EMAIL: "The e-mail address is not of the form name@domain.tld.",
    Reason.UNKNOWN_ENUM: "The value is not in the accepted list. Fix it or add it to [ingest] in commetrics.toml.",
    Reason.BAD_NUMBER: "The number is not written in plain ASCII digits, is negative where it cannot be, or "
                       "(an amount) has more than two decimal places. Amounts written 1.234,56 or 1,234.56: "
                       "load again with --decimal-separator.",
    Reason.SCORE_OUT_OF_RANGE: "The survey score is outside its scale (nps 0-10, csat 1-5, ces 1-7).",
    Reason.NON_FINITE_MONEY: "The amount is NaN, infinite or too large for 16 digits.",
    Reason.NEGATIVE_MONEY: "The amount is negative. Record refunds and churn as outcomes, not negative values.",
    Reason.BAD_BOOLEAN: "The value is not one of true/false/yes/no/1/0.",
    Reason.BAD_CURRENCY: "The currency is not a three-letter ISO 4217 code.",
    Reason.BAD_JSON: "The attributes value is not a JSON object.",
    Reason.END_BEFORE_START: "period_end is before period_start.",
    Reason.DUPLICATE_KEY_CONFLICT: "Another row with the same key and different content was loaded first.",
}

#: DuckDB CSV reader error types -> our reasons.
DUCKDB_REJECT_REASONS: dict[str, Reason] = {
    "INVALID ENCODING": Reason.BAD_ENCODING,
    "INVALID UNICODE": Reason.BAD_ENCODING,
    "TOO MANY COLUMNS": Reason.WRONG_COLUMN_COUNT,
    "MISSING COLUMNS": Reason.WRONG_COLUMN_COUNT,
    "UNQUOTED VALUE": Reason.UNTERMINATED_QUOTE,
    "LINE SIZE OVER MAXIMUM": Reason.LINE_TOO_LONG,
}
