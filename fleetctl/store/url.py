"""The store's URL: which backend it names, checked once, and how it is shown (never with a password)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SCHEMES = ("postgresql", "postgres")
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def masked(url: str) -> str:
    """The URL for messages, doctor and events: any password replaced by ***."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD.sub(r"\1***@", url))


def problem(url: str, *, allow_password: bool = False) -> str | None:
    """What is wrong with a store URL, or None. A password in the fleet file is wrong: it
    belongs in PGPASSWORD or ~/.pgpass (or FLEETCTL_STORE_URL), never in a shared file."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in SCHEMES:
        return f"expected a postgresql://user@host:port/database URL, got scheme {parts.scheme or 'none'!r}"
    if not allow_password and (parts.password is not None or _PASSWORD_PARAM.search(parts.query)):
        return "it holds a password: put the password in PGPASSWORD or ~/.pgpass instead"
    if not parts.path.strip("/"):
        return "it names no database (expected postgresql://user@host:port/database)"
    return None
