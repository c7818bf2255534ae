"""CloudWatch's Smithy RPC v2 CBOR protocol in front of moto 5.2.5, which speaks only awsJson1_0 for it.

The Rust SDK (aws-sdk-cloudwatch) POSTs CBOR to /service/GraniteServiceVersion20100801/operation/<Op>
and reads CBOR back; moto answers the same operations as JSON on "/" with an X-Amz-Target header.
This WSGI shim translates one into the other around moto's app and lets every other request pass
untouched. install() must run before moto.server.main builds its app.
"""

import base64
import datetime
import gzip
import io
import json
import re
from typing import Any, Callable, Iterable

import cbor2
import moto.server
from botocore.loaders import Loader
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from werkzeug.wsgi import get_input_stream

TARGET_PREFIX = "GraniteServiceVersion20100801"
_PATH = re.compile(rf"^/service/{TARGET_PREFIX}/operation/([A-Za-z0-9]+)$")
_TIMESTAMP_TAG = 1  # RFC 8949: epoch seconds, the only timestamp form RPC v2 CBOR allows

# The same model moto parses and serializes CloudWatch with, so the shim agrees with it on which
# output members are timestamps, blobs and numbers: JSON cannot say so and CBOR must.
_MODEL = Loader().load_service_model("cloudwatch", "service-2")
_SHAPES: dict[str, dict] = _MODEL["shapes"]


def _to_json(value: Any) -> Any:
    """A decoded CBOR request as awsJson1_0 writes it: epoch-second numbers and base64 blobs."""
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    if isinstance(value, datetime.datetime):  # cbor2 decodes tag 1 (and tag 0) to an aware datetime
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def _epoch_seconds(value: Any) -> float | int:
    if isinstance(value, (int, float)):
        return value
    # moto's serializer writes epoch numbers, but an ISO string costs one line to accept.
    parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def _to_cbor(value: Any, shape_name: str | None) -> Any:
    """A JSON response value, typed by its shape: the SDK's CBOR decoder is strict, e.g. a double
    member must be a CBOR float (never an int) and a timestamp must carry tag 1."""
    shape = _SHAPES.get(shape_name or "", {})
    kind = shape.get("type")
    if value is None:
        return None
    if kind == "structure" and isinstance(value, dict):
        members = shape.get("members", {})
        # Null members are dropped: the SDK treats a missing member as unset, which is what moto means.
        return {
            key: _to_cbor(item, members.get(key, {}).get("shape"))
            for key, item in value.items()
            if item is not None
        }
    if kind == "list" and isinstance(value, list):
        return [_to_cbor(item, shape["member"]["shape"]) for item in value]
    if kind == "map" and isinstance(value, dict):
        value_shape = shape["value"]["shape"]
        return {key: _to_cbor(item, value_shape) for key, item in value.items() if item is not None}
    if kind == "timestamp":
        return cbor2.CBORTag(_TIMESTAMP_TAG, _epoch_seconds(value))
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    return value  # strings, enums, and anything unmodelled go as they are


class CborDispatcher(DomainDispatcherApplication):
    """moto's dispatcher, with CloudWatch's CBOR requests translated to JSON and back."""

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        match = _PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "POST" or match is None:
            return super().__call__(environ, start_response)
        operation = match.group(1)
        if operation not in _MODEL["operations"]:
            return _reply(start_response, "404 Not Found", [], {"__type": "UnknownOperationException",
                                                                "message": f"no operation {operation}"})

        body = get_input_stream(environ, safe_fallback=False).read()
        try:
            # The SDK gzips PutMetricData bodies above 10 KiB (request compression); moto would not
            # inflate them, and the JSON forwarded below is not compressed.
            if environ.pop("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
                body = gzip.decompress(body)
            request = _to_json(cbor2.loads(body)) if body else {}
        except (cbor2.CBORDecodeError, OSError, EOFError) as e:  # OSError, EOFError: bad gzip
            return _reply(start_response, "400 Bad Request", [], {"__type": "SerializationException",
                                                                  "message": f"malformed CBOR body: {e}"})
        payload = json.dumps(request).encode("utf-8")

        # Rewritten into the awsJson1_0 request moto answers. The Authorization header stays: its
        # credential scope (service "monitoring", the region) is how moto picks its backend.
        environ.update({
            "PATH_INFO": "/",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "HTTP_X_AMZ_TARGET": f"{TARGET_PREFIX}.{operation}",
            "CONTENT_LENGTH": str(len(payload)),
            "wsgi.input": io.BytesIO(payload),
            "wsgi.input_terminated": True,
        })
        environ.pop("HTTP_TRANSFER_ENCODING", None)  # the JSON body has a length now

        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None  # moto's Flask apps return their body, never write() it

        chunks = super().__call__(environ, capture)
        try:
            moto_body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()

        status: str = captured["status"]
        text = moto_body.decode("utf-8").strip()
        decoded = json.loads(text) if text.startswith("{") else {}
        if int(status.split()[0]) >= 300:
            # Errors carry only __type and message; the SDK strips any "namespace#" from __type.
            if not text.startswith("{"):
                decoded = {"__type": "InternalFailure", "message": text or status}
            error = {k: decoded[k] for k in ("__type", "message") if k in decoded}
            if "message" not in error and "Message" in decoded:
                error["message"] = decoded["Message"]
            document: Any = error
        else:
            document = _to_cbor(decoded, _MODEL["operations"][operation].get("output", {}).get("shape"))
        # moto's other headers (request id, x-amzn-query-error for query-compatible error codes) stay.
        kept = [(k, v) for k, v in captured["headers"]
                if k.lower() not in ("content-type", "content-length", "smithy-protocol")]
        return _reply(start_response, status, kept, document)


def _reply(start_response: Callable, status: str, headers: list, document: Any) -> list[bytes]:
    body = cbor2.dumps(document)
    start_response(status, headers + [
        ("smithy-protocol", "rpc-v2-cbor"),
        ("Content-Type", "application/cbor"),
        ("Content-Length", str(len(body))),
    ])
    return [body]


def install() -> None:
    """Makes moto.server.main build the shim instead of its plain dispatcher."""
    moto.server.DomainDispatcherApplication = CborDispatcher  # type: ignore[misc]
