"""Checks the signature of presigned S3 requests, which moto 5.2.5 never verifies.

AWS: a URL presigned with SigV4 (X-Amz-Algorithm=AWS4-HMAC-SHA256 in the query) is refused with
403 SignatureDoesNotMatch unless the request's method, path, query and every header named in
X-Amz-SignedHeaders hash to X-Amz-Signature, and with 403 AccessDenied ("Request has expired")
after X-Amz-Date plus X-Amz-Expires. So a presigned PUT that sends another Content-Type, or
another number of bytes, than were signed is refused.
moto: accepts any presigned request (it compares only v2-style metadata in the query string).
Patch: recompute the signature as S3 does and answer those errors. The emulator's dummy
credentials have a secret equal to their key id (the tests' "testing", opsctl's "local"), so the
secret is known; any other key id is refused like an unknown key.

Like moto_patches.py, this replaces a moto internal by name, for moto 5.2.5 only.
"""

import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, urlparse

from moto.s3.responses import S3Response

_key_response = S3Response._key_response

# The emulator's dummy key ids (test-support's and opsctl's); the secret is the key id.
_KNOWN_KEYS = {"testing", "local"}


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], str]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return status, {"Content-Type": "application/xml"}, body


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _signature(secret: str, scope: list[str], string_to_sign: str) -> str:
    date, region, service, terminal = scope
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, terminal):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _check(request: Any, full_url: str) -> tuple[int, dict[str, str], str] | None:
    """None when the presigned request is valid (or not presigned with SigV4), else the error."""
    raw_path = request.environ.get("RAW_URI") or urlparse(full_url).path
    path, _, raw_query = raw_path.partition("?")
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    query = dict(pairs)
    if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-Signature" not in query:
        return None
    credential = query.get("X-Amz-Credential", "").split("/")
    if len(credential) != 5 or credential[0] not in _KNOWN_KEYS:
        return _error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    amz_date = query.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        expires = int(query.get("X-Amz-Expires", "0"))
    except ValueError:
        return _error(400, "AuthorizationQueryParametersError", "X-Amz-Date or X-Amz-Expires is malformed.")
    if (datetime.now(timezone.utc) - signed_at).total_seconds() > expires:
        return _error(403, "AccessDenied", "Request has expired")
    signed_headers = query.get("X-Amz-SignedHeaders", "")
    canonical_headers = ""
    for name in signed_headers.split(";"):
        value = request.headers.get(name)
        if value is None:
            return _error(403, "SignatureDoesNotMatch", f"The signed header {name} was not sent.")
        canonical_headers += f"{name}:{' '.join(value.split())}\n"
    canonical_query = "&".join(
        f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs) if k != "X-Amz-Signature"
    )
    canonical_request = "\n".join([
        request.method, path, canonical_query, canonical_headers, signed_headers, "UNSIGNED-PAYLOAD",
    ])
    scope = credential[1:]
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, "/".join(scope),
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    expected = _signature(credential[0], scope, string_to_sign)
    if not hmac.compare_digest(expected, query["X-Amz-Signature"]):
        return _error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    return None


def key_response(self: S3Response, request: Any, full_url: str) -> Any:
    refused = _check(request, full_url)
    if refused is not None:
        return refused
    return _key_response(self, request, full_url)


def apply() -> None:
    S3Response._key_response = key_response
