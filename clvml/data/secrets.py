"""Secrets in URLs: the one place that masks them (output, errors, logs, MLflow, run table).

A database or tracking URL can carry a secret in two places:

* the user info, ``scheme://user:PASSWORD@host/...``: the password may hold any
  character, ``?``, ``@``, ``/``, ``#`` and ``%`` included, written raw or
  percent-encoded;
* a query parameter whose name looks secret (``password``, ``passwd``, ``pwd``,
  ``secret``, ``token``, ``key``, ``sslpassword``, ``credential``, ``auth``, ``sig``
  ...): ``...?password=PASSWORD&sslmode=require``. Parameters are separated by ``&``
  (as SQLAlchemy and libpq read them), so the value runs to the next ``&``; a ``#``
  does not end it.

:func:`mask_url` replaces both with ``***`` and keeps the rest (scheme, user name,
host, port, database, other parameters) for the reader. :func:`url_secrets` lists the
secret values (raw and decoded) so :func:`scrub` can remove them from any text, e.g. a
driver's error message; :func:`scrub` also masks every URL written in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

__all__ = ["MASK", "mask_url", "scrub", "url_secrets"]

MASK = "***"

#: Query parameter names treated as secret (case-insensitive, anywhere in the name).
SECRET_KEY = re.compile(
    r"pass|pwd|secret|token|key|credential|auth|sig|cookie|session", re.IGNORECASE
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
#: What may follow the user info's ``@``: a host (name, IPv4 or [IPv6]) and a port.
_HOST = re.compile(r"(?:[\w.\-%~]*|\[[0-9A-Fa-f:.%\w]*\])(?::\d*)?")
#: A URL inside free text (an error message), up to white space or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")


def _as_text(url: Any) -> str:
    """The URL as text, password included (a SQLAlchemy URL or Engine, or a string)."""
    inner = getattr(url, "url", url)  # an Engine has .url
    render = getattr(inner, "render_as_string", None)
    if render is not None:
        return str(render(hide_password=False))
    return str(url)


def _split_userinfo(rest: str) -> tuple[str, str | None, str] | None:
    """``rest`` (after ``scheme://``) as (user, password, after-the-@), if it has a password.

    The user name runs to the first ``:`` (it holds no ``/``, ``?``, ``#`` or ``@``).
    The password runs to the LAST ``@`` followed by something that reads as a host
    and port, so a password holding ``@``, ``/``, ``?`` or ``#`` is masked whole.
    """
    colon = rest.find(":")
    if colon < 0 or any(c in rest[:colon] for c in "/?#@"):
        return None
    best = None
    for m in re.finditer("@", rest):
        after = rest[m.end() :]
        host = re.split(r"[/?#]", after, maxsplit=1)[0]
        if _HOST.fullmatch(host):
            best = m.start()
    if best is None or best < colon:
        return None
    return rest[:colon], rest[colon + 1 : best], rest[best + 1 :]


def _mask_query(rest: str) -> str:
    """Mask the values of secret-looking parameters in the query of ``rest``."""
    q = rest.find("?")
    if q < 0:
        return rest
    head, query = rest[:q], rest[q + 1 :]
    pairs = []
    for pair in query.split("&"):
        key, eq, _value = pair.partition("=")
        pairs.append(f"{key}={MASK}" if eq and SECRET_KEY.search(unquote(key)) else pair)
    return f"{head}?{'&'.join(pairs)}"


def mask_url(url: Any) -> str:
    """``url`` with its password and secret query values replaced by ``***``.

    Parameters
    ----------
    url : str, sqlalchemy.engine.URL or sqlalchemy.engine.Engine
        Any URL; text without ``scheme://`` (a path) is returned unchanged.

    Returns
    -------
    str
        Safe for output, error messages, logs and MLflow parameters.

    Examples
    --------
    >>> mask_url("postgresql+psycopg://app:s3cr/et@db:5432/shop?sslmode=require")
    'postgresql+psycopg://app:***@db:5432/shop?sslmode=require'
    >>> mask_url("postgresql://app:Secr?et_42@db/shop")
    'postgresql://app:***@db/shop'
    >>> mask_url("postgresql://db/shop?user=app&password=pw&sslmode=require")
    'postgresql://db/shop?user=app&password=***&sslmode=require'
    >>> mask_url("data/social")
    'data/social'
    """
    text = _as_text(url)
    m = _SCHEME.match(text)
    if m is None:
        return text
    scheme, rest = text[: m.end()], text[m.end() :]
    parts = _split_userinfo(rest)
    if parts is not None:
        user, _password, after = parts
        return f"{scheme}{user}:{MASK}@{_mask_query(after)}"
    return f"{scheme}{_mask_query(rest)}"


def url_secrets(url: Any) -> list[str]:
    """The secret values a URL carries (as written and percent-decoded), longest first."""
    text = _as_text(url)
    m = _SCHEME.match(text)
    if m is None:
        return []
    rest = text[m.end() :]
    found: set[str] = set()
    parts = _split_userinfo(rest)
    if parts is not None:
        found.add(parts[1] or "")
        rest = parts[2]
    inner = getattr(url, "url", url)
    password = getattr(inner, "password", None)
    if password:
        found.add(str(password))
    q = rest.find("?")
    if q >= 0:
        for pair in rest[q + 1 :].split("&"):
            key, eq, value = pair.partition("=")
            if eq and SECRET_KEY.search(unquote(key)):
                found.add(value)
    found |= {unquote(s) for s in found}
    return sorted((s for s in found if s), key=len, reverse=True)


def scrub(text: object, urls: Iterable[Any] = ()) -> str:
    """``text`` with every URL in it masked and the secrets of ``urls`` replaced by ``***``.

    For messages built from other libraries' errors (a driver may quote a value).

    Examples
    --------
    >>> scrub("FATAL: bad password 'pw?1' for sqlite://u:pw?1@h/db", ["postgresql://u:pw?1@h/db"])
    "FATAL: bad password '***' for sqlite://u:***@h/db"
    """
    out = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), str(text))
    for url in urls:
        for secret in url_secrets(url):
            out = out.replace(secret, MASK)
    return out
