"""Keyed pseudonyms: HMAC-SHA-256 with a per-workspace secret key.

A pseudonym replaces an identifier (member id, contact id, e-mail, handle) in exports and in the
erasure ledger. It is ``HMAC-SHA-256(key, kind + ":" + normalised identifier)``, written as
``<key id>:<64 hex digits>``: without the key nobody can test a guessed e-mail against it (a
salted or plain hash falls to a dictionary of likely addresses), and the key id says which key
made it, so a rotated key's pseudonyms stay recognisable.

The keys live in ``commetrics.keys`` beside the store — never in ``commetrics.toml``, the
database, an export or a log — readable by the owner only. ``commetrics keys rotate`` adds a new
active key; retired keys are kept because the erasure ledger still holds pseudonyms made with
them (a re-loaded file must still be recognised as belonging to an erased person).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import WorkspaceError
from ..identity.rules import normalise_identifier
from ..store import KEY_FILE, fsync_path

__all__ = ["KEY_FILE", "Keyring", "normalise_identifier"]

KEY_BYTES = 32


@dataclass
class Keyring:
    """The workspace's pseudonym keys: ``{key id: secret}`` and which one is active."""

    keys: dict[str, bytes]
    active: str
    path: Path | None = None
    created: dict[str, str] = field(default_factory=dict)

    # -- files ------------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path | None = None) -> Keyring:
        """A new keyring with one random 32-byte key, written to ``path`` (owner-only) when given."""
        ring = cls(keys={"k1": secrets.token_bytes(KEY_BYTES)}, active="k1", path=path,
                   created={"k1": datetime.now(UTC).isoformat(timespec="seconds")})
        if path is not None:
            ring.save()
        return ring

    @classmethod
    def open(cls, path: Path) -> Keyring:
        """The keyring at ``path``; a missing file is created (a new workspace, or one from before keys)."""
        if not path.exists():
            return cls.create(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            keys = {str(k): bytes.fromhex(v["secret"]) for k, v in data["keys"].items()}
            ring = cls(keys=keys, active=str(data["active"]), path=path,
                       created={str(k): str(v.get("created_at", "")) for k, v in data["keys"].items()})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            msg = (f"The pseudonym key file {path} cannot be read ({exc}). Restore it from your backup of the "
                   "workspace; without it, pseudonyms and the erasure ledger cannot be matched.")
            raise WorkspaceError(msg) from None
        if ring.active not in ring.keys or any(len(k) != KEY_BYTES for k in ring.keys.values()):
            msg = f"The pseudonym key file {path} is damaged (no active key of {KEY_BYTES} bytes). Restore it."
            raise WorkspaceError(msg)
        _owner_only(path)
        return ring

    def save(self) -> None:
        """Write the keyring atomically with permissions 0600 (owner read/write only).

        The temporary file is always a new one: a file or link left at its name (by a crash, or by someone
        else) is removed first, and the new one is created exclusively, never through a link, and set to
        0600 whatever the umask — its permissions are never inherited."""
        if self.path is None:
            return
        data = {"active": self.active,
                "keys": {k: {"secret": v.hex(), "created_at": self.created.get(k, "")} for k, v in self.keys.items()}}
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.unlink(missing_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            descriptor = os.open(temporary, flags, 0o600)
            try:
                os.fchmod(descriptor, 0o600)
            except BaseException:
                os.close(descriptor)
                raise
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            fsync_path(self.path.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise WorkspaceError(
                f"Cannot write the pseudonym keys {self.path}: {exc.strerror or exc}. The workspace folder must be "
                "writable by you (check its permissions and free space); nothing was changed.") from None

    def rotate(self) -> str:
        """Add a new random key and make it active; return its id. Retired keys are kept."""
        number = 1 + max(int(k[1:]) for k in self.keys if k[1:].isdigit())
        key_id = f"k{number}"
        self.keys[key_id] = secrets.token_bytes(KEY_BYTES)
        self.created[key_id] = datetime.now(UTC).isoformat(timespec="seconds")
        self.active = key_id
        self.save()
        return key_id

    # -- pseudonyms -------------------------------------------------------------------------------

    def pseudonym(self, kind: str, value: str, key_id: str | None = None, *, purpose: str = "") -> str:
        """``<key id>:<hex>`` — the keyed pseudonym of one identifier of ``kind`` (email, handle,
        member_id, contact_id). ``purpose`` separates domains: an export's pseudonyms
        (``purpose="export"``) never equal the erasure ledger's (no purpose), so holding both
        links nothing."""
        chosen = key_id or self.active
        prefix = f"{purpose}|" if purpose else ""
        message = f"{prefix}{kind}:{normalise_identifier(kind, value)}".encode()
        return f"{chosen}:{hmac.new(self.keys[chosen], message, hashlib.sha256).hexdigest()}"

    def pseudonyms(self, kind: str, values: Iterable[str | None], key_id: str | None = None, *,
                   purpose: str = "") -> list[str | None]:
        """:meth:`pseudonym` of each value (``None`` stays ``None``)."""
        return [None if v is None else self.pseudonym(kind, v, key_id, purpose=purpose) for v in values]


def _owner_only(path: Path) -> None:
    """Take away what others may do with the key file (a copy or an old release may have widened it)."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except OSError:
        pass  # a key file we cannot tighten (not ours, read-only) still opens; `store check` reports it
