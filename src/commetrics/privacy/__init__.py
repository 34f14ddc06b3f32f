"""Privacy rules applied to every output: small-cell suppression, pseudonyms, erasure."""
