"""A Bedrock runtime double in front of moto 5.2.5, whose bedrock-runtime has no Converse and
answers InvokeModel with an empty body for any model id.

It answers the calls the chatbot makes, `Converse` (POST /model/<id>/converse), `ConverseStream`
(POST /model/<id>/converse-stream) and the Titan text embedding through `InvokeModel`
(POST /model/<id>/invoke), for a set of granted model ids only. Any other id gets the
AccessDeniedException Bedrock sends for a model the account has no access to, in Bedrock's
restJson1 error shape, so an operator's "no model access" path can be exercised on the wire. The
replies are a double's: a fixed one-word answer, a fixed few words streamed one word a delta, and a
deterministic unit vector, with token counts that are word counts.

ConverseStream answers `application/vnd.amazon.eventstream` as Bedrock does: binary frames
(messageStart, a contentBlockDelta per word, contentBlockStop, messageStop, metadata), each sent
as soon as it is made, so a client sees the deltas one after another. The environment variable
EMULATOR_BEDROCK_STREAM_PAUSE_MS (milliseconds, default 0) of the emulator's process sets a pause
before each delta after the first, for tests that need deltas spread over time.

install() must run before moto.server.main builds its app; it wraps whatever dispatcher is
installed by then (cloudwatch_cbor's), so the two shims compose.
"""

import hashlib
import json
import math
import os
import re
import struct
import time
import uuid
import zlib
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import unquote

import moto.server
from werkzeug.wsgi import get_input_stream

_PATH = re.compile(r"^/model/([^/]+)/(converse|converse-stream|invoke)$")
_TITAN_DIMENSIONS = (256, 512, 1024)
_REPLY = "pong"
# Starts with the one-word reply, so a caller that looks for "pong" finds it either way.
_STREAMED_REPLY = "pong from the Bedrock double"
STREAM_PAUSE_VARIABLE = "EMULATOR_BEDROCK_STREAM_PAUSE_MS"
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


def _refusal(request: dict, start_response: Callable) -> list[bytes] | None:
    """Bedrock's ValidationException for a request Converse and ConverseStream both refuse."""
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error(start_response, "400 Bad Request", "ValidationException",
                      "A conversation must start with a user message.")
    max_tokens = (request.get("inferenceConfig") or {}).get("maxTokens", 1)
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return _error(start_response, "400 Bad Request", "ValidationException",
                      "The maximum tokens you requested must be at least 1.")
    return None


def _input_tokens(request: dict) -> int:
    messages = request.get("messages") or []
    prompt = [block.get("text", "") for m in messages for block in m.get("content", []) if isinstance(block, dict)]
    prompt += [block.get("text", "") for block in request.get("system", []) if isinstance(block, dict)]
    return max(1, sum(_words(t) for t in prompt))


def _converse(request: dict, start_response: Callable) -> list[bytes]:
    refusal = _refusal(request, start_response)
    if refusal is not None:
        return refusal
    input_tokens = _input_tokens(request)
    return _json(start_response, "200 OK", {
        "output": {"message": {"role": "assistant", "content": [{"text": _REPLY}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": input_tokens, "outputTokens": 1, "totalTokens": input_tokens + 1},
        "metrics": {"latencyMs": 1},
    })


def event_frame(event_type: str, payload: dict) -> bytes:
    """One event-stream message: the prelude (total length, headers length, their CRC32), the
    headers (type 7, a string with a 16-bit length), the JSON payload and the message's CRC32."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):
        encoded_name, encoded_value = name.encode("utf-8"), value.encode("utf-8")
        headers += struct.pack(">B", len(encoded_name)) + encoded_name
        headers += struct.pack(">BH", 7, len(encoded_value)) + encoded_value
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    prelude = struct.pack(">II", 12 + len(headers) + len(body) + 4, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def stream_pause() -> float:
    """The pause before each delta after the first, in seconds; read once, when the emulator starts."""
    text = os.environ.get(STREAM_PAUSE_VARIABLE, "").strip()
    try:
        return max(0.0, float(text) / 1000.0) if text else 0.0
    except ValueError:
        raise SystemExit(f"{STREAM_PAUSE_VARIABLE}={text!r} is not a number of milliseconds") from None


def _converse_stream(request: dict, start_response: Callable, pause: float) -> Iterable[bytes]:
    refusal = _refusal(request, start_response)
    if refusal is not None:
        return refusal
    input_tokens = _input_tokens(request)
    # No Content-Length: the server sends each frame as a chunk as soon as it is yielded, as
    # Bedrock sends each event as the model writes it.
    start_response("200 OK", [
        ("Content-Type", "application/vnd.amazon.eventstream"),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ])
    return _stream_events(input_tokens, pause)


def _stream_events(input_tokens: int, pause: float) -> Iterator[bytes]:
    started = time.monotonic()
    words = _STREAMED_REPLY.split()
    yield event_frame("messageStart", {"role": "assistant"})
    for i, word in enumerate(words):
        if i and pause:
            time.sleep(pause)
        yield event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": word if i == 0 else " " + word}})
    yield event_frame("contentBlockStop", {"contentBlockIndex": 0})
    yield event_frame("messageStop", {"stopReason": "end_turn"})
    yield event_frame("metadata", {
        "usage": {"inputTokens": input_tokens, "outputTokens": len(words), "totalTokens": input_tokens + len(words)},
        "metrics": {"latencyMs": max(1, round((time.monotonic() - started) * 1000))},
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
    pause = stream_pause()  # a malformed value stops the emulator at start, naming the variable
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
            if operation == "converse-stream":
                return _converse_stream(request, start_response, pause)
            return _titan_embedding(model_id, request, start_response)

    moto.server.DomainDispatcherApplication = BedrockRuntimeDispatcher  # type: ignore[misc]
