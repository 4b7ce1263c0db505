"""A Twilio webhook, read cheaply: its form, and the signature Twilio put over it.

Both run on the event loop for every webhook, before any flow work, so they are written
for speed (measured with `bench/run.py`) while giving exactly what the general-purpose
code gives:

- `read_form` splits an `application/x-www-form-urlencoded` body the way Starlette's
  `request.form()` does (python-multipart's rules: `&` separates, empty pieces are
  skipped, a piece without `=` is a name with an empty value, bytes are read as Latin-1
  and then percent-decoded as UTF-8), in one pass of `str` methods instead of a callback
  per piece;
- `signature` is twilio's `RequestValidator.compute_signature` (reference §3.1): the URL,
  then every parameter name in code-point order followed by each of its distinct values,
  sorted; HMAC-SHA1 with the auth token; Base64. The sorted parameters are joined once,
  however many forms of the URL are tried (with and without the default port).

`tests/test_request.py` holds both to Starlette's parser and twilio's own computation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import unquote_plus

from starlette.datastructures import FormData, UploadFile

__all__ = ["MAX_FIELDS", "TooManyFields", "read_form", "signature", "signed_params"]

MAX_FIELDS = 1000  # Starlette's own limit


class TooManyFields(ValueError):
    """A body with more fields than any webhook sends."""


def read_form(body: bytes) -> FormData:
    """`b"To=%2B48&Digits=1"` → `FormData([("To", "+48"), ("Digits", "1")])`."""
    items: list[tuple[str, str | UploadFile]] = []
    for piece in body.decode("latin-1").split("&"):
        if piece:
            name, _, value = piece.partition("=")
            items.append((unquote_plus(name), unquote_plus(value)))
    if len(items) > MAX_FIELDS:
        raise TooManyFields(f"more than {MAX_FIELDS} fields")
    return FormData(items)


def signed_params(form: FormData) -> str:
    """What Twilio appends to the URL before signing: `CallSidCA1…FromX…To+48…`."""
    values: dict[str, set[str]] = {}
    for name, value in form.multi_items():  # one pass: `getlist` per name would be quadratic
        if isinstance(value, str):
            values.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def signature(token: bytes, url: str, params: str) -> str:
    """The `X-Twilio-Signature` of a request to `url` whose `signed_params` are `params`."""
    digest = hmac.new(token, (url + params).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
