"""A Bedrock runtime double in front of moto 5.2.5, whose bedrock-runtime has no Converse and
answers InvokeModel with an empty body for any model id.

It answers the two calls the chatbot makes, `Converse` (POST /model/<id>/converse) and the Titan
text embedding through `InvokeModel` (POST /model/<id>/invoke), for a set of granted model ids
only. Any other id gets the AccessDeniedException Bedrock sends for a model the account has no
access to, in Bedrock's restJson1 error shape, so an operator's "no model access" path can be
exercised on the wire. The replies are a double's: a fixed one-word answer and a deterministic
unit vector, with token counts that are word counts.

install() must run before moto.server.main builds its app; it wraps whatever dispatcher is
installed by then (cloudwatch_cbor's), so the two shims compose.
"""

import hashlib
import json
import math
import re
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import unquote

import moto.server
from werkzeug.wsgi import get_input_stream

_PATH = re.compile(r"^/model/([^/]+)/(converse|invoke)$")
_TITAN_DIMENSIONS = (256, 512, 1024)
_REPLY = "pong"
# AWS's wording for a model the account has not been granted.
ACCESS_DENIED = "You don't have access to the model with the specified model ID."


def _signed_for_bedrock(environ: dict[str, Any]) -> bool:
    """Bedrock runtime requests are signed for service `bedrock`; an S3 key /model/... is not."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        scope = auth.split(",")[0].split()[1].split("/")
        return scope[3] == "bedrock"
    except IndexError:
        return False


def _words(text: Any) -> int:
    return len(str(text).split())


def _error(start_response: Callable, status: str, code: str, message: str) -> list[bytes]:
    # restJson1: the code in x-amzn-ErrorType (AWS appends ":<namespace url>"; SDKs cut it off).
    return _json(start_response, status, {"message": message}, [
        ("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/com.amazon.coral.service/"),
    ])


def _json(start_response: Callable, status: str, document: Any, headers: list | None = None) -> list[bytes]:
    body = json.dumps(document).encode("utf-8")
    start_response(status, (headers or []) + [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ])
    return [body]


def _converse(request: dict, start_response: Callable) -> list[bytes]:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error(start_response, "400 Bad Request", "ValidationException",
                      "A conversation must start with a user message.")
    max_tokens = (request.get("inferenceConfig") or {}).get("maxTokens", 1)
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return _error(start_response, "400 Bad Request", "ValidationException",
                      "The maximum tokens you requested must be at least 1.")
    prompt = [block.get("text", "") for m in messages for block in m.get("content", []) if isinstance(block, dict)]
    prompt += [block.get("text", "") for block in request.get("system", []) if isinstance(block, dict)]
    input_tokens = max(1, sum(_words(t) for t in prompt))
    return _json(start_response, "200 OK", {
        "output": {"message": {"role": "assistant", "content": [{"text": _REPLY}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": input_tokens, "outputTokens": 1, "totalTokens": input_tokens + 1},
        "metrics": {"latencyMs": 1},
    })


def _titan_embedding(model_id: str, request: dict, start_response: Callable) -> list[bytes]:
    if not model_id.startswith("amazon.titan-embed-text"):
        return _error(start_response, "400 Bad Request", "ValidationException",
                      f"the emulator answers InvokeModel for Titan text embeddings only, not {model_id}")
    text = request.get("inputText")
    dimensions = request.get("dimensions", 1024)
    if not isinstance(text, str) or not text:
        return _error(start_response, "400 Bad Request", "ValidationException",
                      "Malformed input request: #: required key [inputText] not found, please reformat your input and try again.")
    if dimensions not in _TITAN_DIMENSIONS:
        return _error(start_response, "400 Bad Request", "ValidationException",
                      f"Malformed input request: #/dimensions: {dimensions} is not a valid enum value, please reformat your input and try again.")
    # A unit vector drawn from the text's hash: the same text always embeds the same way.
    seed = hashlib.sha256(text.encode("utf-8")).digest()
    raw = [((seed[i % len(seed)] ^ (i * 131)) % 255) / 127.0 - 1.0 for i in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return _json(start_response, "200 OK", {
        "embedding": [x / norm for x in raw],
        "inputTextTokenCount": _words(text),
    })


def install(granted: Iterable[str]) -> None:
    """Makes moto.server.main dispatch Bedrock runtime calls to this double, granting `granted`."""
    granted_ids = frozenset(granted)
    base = moto.server.DomainDispatcherApplication

    class BedrockRuntimeDispatcher(base):  # type: ignore[misc, valid-type]
        def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
            match = _PATH.match(environ.get("PATH_INFO", ""))
            if environ.get("REQUEST_METHOD") != "POST" or match is None or not _signed_for_bedrock(environ):
                return super().__call__(environ, start_response)
            model_id, operation = unquote(match.group(1)), match.group(2)
            try:
                request = json.loads(get_input_stream(environ, safe_fallback=False).read() or b"{}")
            except ValueError as e:
                return _error(start_response, "400 Bad Request", "ValidationException", f"malformed JSON body: {e}")
            if not isinstance(request, dict):
                return _error(start_response, "400 Bad Request", "ValidationException", "the body must be a JSON object")
            if model_id not in granted_ids:
                return _error(start_response, "403 Forbidden", "AccessDeniedException", ACCESS_DENIED)
            if operation == "converse":
                return _converse(request, start_response)
            return _titan_embedding(model_id, request, start_response)

    moto.server.DomainDispatcherApplication = BedrockRuntimeDispatcher  # type: ignore[misc]
