"""Keeping secrets out of what bench prints, logs and reports.

A tracking URI may carry credentials (``https://user:secret@host``, ``?token=...``); every place
that shows a URI to a person (stderr, MLflow tags, the HTML report) shows :func:`uri` of it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameters whose values are credentials (compared lower-case, as substrings).
SECRET_KEYS = ("password", "passwd", "secret", "token", "key", "auth", "credential", "signature")


def _secret(name: str) -> bool:
    name = name.lower()
    return any(word in name for word in SECRET_KEYS)


def uri(value: str) -> str:
    """``value`` with the password of its user-info and every secret-looking query value replaced by ``***``.

    ``https://alice:pw@host:5000/x?token=t&a=1`` -> ``https://alice:***@host:5000/x?token=***&a=1``. A user
    name alone is kept (it is not a secret and says whose store it is); anything unparsable is returned
    with every ``user:password@`` pattern masked."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return re.sub(r"(//[^:/@\s]*):[^@/\s]*@", rf"\1:{MASK}@", value)
    netloc = parts.netloc
    if "@" not in netloc and not parts.query:
        return value  # nothing to mask (and urlunsplit would drop the empty authority of sqlite:////path)
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _secret(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def text(value: str, secrets: tuple[str, ...] = ()) -> str:
    """``value`` with every URI in it masked (:func:`uri`) and every literal in ``secrets`` replaced by ``***``."""
    value = re.sub(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+", lambda m: uri(m.group(0)), value)
    for secret in secrets:
        if secret:
            value = value.replace(secret, MASK)
    return value
