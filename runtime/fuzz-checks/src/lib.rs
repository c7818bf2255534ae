//! The invariants the fuzz targets check, one `pub fn` per target, each panicking when one breaks.
//!
//! Both sides use this crate: the cargo-fuzz crate in `fuzz/` (its own workspace, built on
//! nightly) and `tests/fuzz_regressions.rs`, which replays the seeds and every crash found on
//! stable. As a member of the main workspace it is compiled, linted and tested in CI without
//! nightly. It is not in chatbot-core's tests because it depends on chatbot-core: a dependency
//! of chatbot-core's tests on it would be a cycle.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chatbot_core::aws::dynamodb::{from_item, to_item};
use chatbot_core::crypto::{EnvelopeCipher, decrypt, encrypt};
use chatbot_core::domain::api::{ChatRequest, MAX_BODY_BYTES, MAX_MESSAGE_BYTES};
use chatbot_core::domain::chunking::{MAX_CHUNK_TOKENS, chunk_text, count_tokens};
use chatbot_core::domain::extract::{DocumentKind, ExtractError, ExtractLimits, extract};
use chatbot_core::domain::message::ConversationId;
use chatbot_core::fakes::LocalKeyring;
use chatbot_core::handlers::chat::open_with;
use chatbot_core::handlers::error_response;
use chatbot_core::ports::{Cipher, CipherError, DataKeyProvider, KeyBytes, Sealed, StoreError};
use chatbot_core::{ApiError, ErrorCode};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// chat_request: the body of POST /chat, through the parser the handler calls and the renderer
// every error goes out through.

/// Long enough for a serde message quoting a field name, short enough to never echo a body.
const MAX_ERROR_MESSAGE_CHARS: usize = 256;

pub fn chat_request(body: &[u8]) {
    match ChatRequest::parse(body) {
        Ok(request) => accepted_request(body, &request),
        Err(err) => rejected_request(body, &err),
    }
}

fn accepted_request(body: &[u8], request: &ChatRequest) {
    assert!(body.len() <= MAX_BODY_BYTES, "accepted a {}-byte body", body.len());
    assert!(!request.message.trim().is_empty(), "accepted a blank message");
    assert!(request.message.len() <= MAX_MESSAGE_BYTES, "accepted a {}-byte message", request.message.len());
    let value: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
    let object = value.as_object().expect("an accepted body is a JSON object");
    assert!(
        object.keys().all(|k| k == "message" || k == "conversation_id"),
        "accepted unknown fields: {:?}",
        object.keys().collect::<Vec<_>>()
    );
    assert_eq!(object.get("message").and_then(Value::as_str), Some(request.message.as_str()));
    if let Some(id) = request.conversation_id {
        assert_eq!(ConversationId::parse(&id.to_string()), Some(id), "the id's canonical form re-parses");
    }
    // What a client re-sending the same request in canonical JSON gets: the same request, unless
    // escaping control characters pushed it over the body limit.
    let canonical = serde_json::to_vec(&serde_json::json!({
        "conversation_id": request.conversation_id.map(|c| c.to_string()),
        "message": request.message,
    }))
    .expect("two strings serialise");
    if canonical.len() <= MAX_BODY_BYTES {
        assert_eq!(ChatRequest::parse(&canonical).as_ref(), Ok(request));
    }
}

fn rejected_request(body: &[u8], err: &ApiError) {
    assert!(
        matches!((err.code, err.status), (ErrorCode::BadRequest, 400) | (ErrorCode::PayloadTooLarge, 413)),
        "a bad body must be a 400 or 413, got {err}"
    );
    if body.len() > MAX_BODY_BYTES {
        assert_eq!(err.status, 413, "an oversized body must be a 413: {err}");
    }
    assert!(err.retry_after.is_none());
    assert!(!err.message.trim().is_empty());
    assert!(err.message.chars().count() <= MAX_ERROR_MESSAGE_CHARS, "error message too long: {err}");

    let response = error_response(err, "fuzz-request");
    assert_eq!(response.status().as_u16(), err.status);
    let rendered: Value = serde_json::from_slice(response.body()).expect("an error body is JSON");
    let outer = rendered.as_object().expect("an error body is an object");
    assert_eq!(outer.len(), 1, "only `error` at the top: {rendered}");
    let inner = rendered["error"].as_object().expect("`error` is an object");
    assert_eq!(inner.len(), 3, "code, message and request_id only: {rendered}");
    assert_eq!(inner.get("code").and_then(Value::as_str), Some(err.code.as_str()));
    assert_eq!(inner.get("message").and_then(Value::as_str), Some(&*err.message));
    assert_eq!(inner.get("request_id").and_then(Value::as_str), Some("fuzz-request"));
}

// ---------------------------------------------------------------------------------------------
// envelope_decrypt: the first byte picks a mode, the rest is its input.

const AAD: &[u8] = b"v1|6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11|2026-01-01T00:00:00.000000Z#x|user";
/// The version byte, the 96-bit nonce and the 128-bit GCM tag.
const MIN_BLOB_LEN: usize = 1 + 12 + 16;
/// Version 1 (AAD v1, still read) and 2 (written now) share one layout.
const KNOWN_VERSIONS: [u8; 2] = [1, 2];

pub fn envelope_decrypt(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => arbitrary_blob(rest),
        1 => round_trip(rest),
        _ => stored_message(rest),
    }
}

/// A cipher over a per-process random master key, and one data key of it: no input can know
/// them, so a blob that opens would be a forged GCM tag.
struct Keys {
    cipher: EnvelopeCipher<LocalKeyring>,
    data_key: KeyBytes,
    wrapped: Vec<u8>,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let keyring = LocalKeyring::new("fuzz");
        let fresh = ready(keyring.generate()).expect("the local keyring makes a data key");
        Keys { cipher: EnvelopeCipher::new(keyring), data_key: fresh.plaintext, wrapped: fresh.wrapped }
    })
}

fn arbitrary_blob(blob: &[u8]) {
    let k = keys();
    let direct = decrypt(&k.data_key, blob, AAD);
    let sealed = Sealed { blob: blob.to_vec(), wrapped_key: k.wrapped.clone() };
    let opened = ready(k.cipher.open(&sealed, AAD));
    for result in [direct, opened] {
        match result {
            Ok(_) => panic!("an arbitrary {}-byte blob decrypted", blob.len()),
            Err(CipherError::Malformed(_)) => assert!(
                blob.len() < MIN_BLOB_LEN || !KNOWN_VERSIONS.contains(&blob[0]),
                "a well-shaped blob was called malformed"
            ),
            Err(CipherError::Authentication) => assert!(
                blob.len() >= MIN_BLOB_LEN && KNOWN_VERSIONS.contains(&blob[0]),
                "a malformed blob reached GCM"
            ),
            Err(other) => panic!("unexpected error for a blob under a known data key: {other}"),
        }
    }
}

/// `[aad length, flip position (2 bytes)] aad plaintext`: sealing then opening gives the
/// plaintext back, and a flipped bit, a dropped byte or other AAD makes it fail.
fn round_trip(input: &[u8]) {
    let (control, rest) = input.split_at(input.len().min(3));
    let [aad_len, hi, lo] = <[u8; 3]>::try_from(control).unwrap_or_default();
    let (aad, plaintext) = rest.split_at(usize::from(aad_len).min(rest.len()));
    let k = keys();

    let blob = encrypt(&k.data_key, plaintext, aad).expect("a short plaintext encrypts");
    assert_eq!(blob.len(), MIN_BLOB_LEN + plaintext.len());
    assert_eq!(decrypt(&k.data_key, &blob, aad).expect("round trip").as_slice(), plaintext);

    let bit = usize::from(u16::from_be_bytes([hi, lo])) % (blob.len() * 8);
    let mut flipped = blob.clone();
    flipped[bit / 8] ^= 1 << (bit % 8);
    assert!(decrypt(&k.data_key, &flipped, aad).is_err(), "flipping bit {bit} still decrypted");
    assert!(decrypt(&k.data_key, &blob[..blob.len() - 1], aad).is_err(), "a truncated blob decrypted");
    let other_aad = [aad, b"|"].concat();
    assert!(decrypt(&k.data_key, &blob, &other_aad).is_err(), "the blob opened under other AAD");

    let sealed = ready(k.cipher.seal(plaintext, aad)).expect("the cipher seals");
    assert_eq!(ready(k.cipher.open(&sealed, aad)).expect("and opens").as_slice(), plaintext);
}

const ITEM_FIELDS: [&str; 9] = [
    "conversation_id",
    "timestamp",
    "message_id",
    "role",
    "content",
    "wrapped_key",
    "model",
    "input_tokens",
    "output_tokens",
];

/// A DynamoDB item, its attributes separated by 0xFF (never part of UTF-8), in the order of
/// [`ITEM_FIELDS`]; an empty `wrapped_key` stands for the real one, so the content reaches GCM.
/// The item goes through what reading history does: `from_item`, then `open_with`.
fn stored_message(input: &[u8]) {
    let k = keys();
    let mut item = HashMap::new();
    for (name, raw) in ITEM_FIELDS.iter().zip(input.split(|&b| b == 0xFF)) {
        let value = match (*name, std::str::from_utf8(raw)) {
            ("content", _) => AttributeValue::B(Blob::new(raw)),
            ("wrapped_key", _) if raw.is_empty() => AttributeValue::B(Blob::new(k.wrapped.clone())),
            ("wrapped_key", _) => AttributeValue::B(Blob::new(raw)),
            ("input_tokens" | "output_tokens", Ok(s)) => AttributeValue::N(s.to_owned()),
            (_, Ok(s)) => AttributeValue::S(s.to_owned()),
            // Not text: stands for an attribute of the wrong type.
            (_, Err(_)) => AttributeValue::B(Blob::new(raw)),
        };
        item.insert((*name).to_owned(), value);
    }
    let sealed = match from_item(&item) {
        Ok(sealed) => sealed,
        Err(StoreError::Corrupt(_)) => return,
        Err(other) => panic!("a malformed item must be Corrupt, got {other}"),
    };
    let again = from_item(&to_item(&sealed, 0)).expect("a parsed item re-parses");
    assert_eq!(again, sealed, "to_item and from_item round trip");

    let at = sealed.sort_key.time().expect("a parsed sort key has a time");
    let next = sealed.sort_key.next_time(at);
    let later_exists = at.checked_add(time::Duration::microseconds(1)).is_some();
    assert!(next > at || (!later_exists && next == at), "the next message must sort after this one");
    assert!(ready(open_with(&k.cipher, sealed)).is_err(), "arbitrary stored content decrypted");
}

// ---------------------------------------------------------------------------------------------
// extract_chunk: the first byte picks the key (so the kind), the rest is the document.

const KEYS: [&str; 6] =
    ["docs/a.md", "docs/a.txt", "docs/a.pdf", "docs/A.MARKDOWN", "docs/a.text", "docs/a.html"];

/// Small limits, so fuzz inputs reach every limit and chunking stays fast. A stream inflates to
/// 64 KiB at most: what a 12,000-byte input can hold of them then parses in tens of MiB, well
/// under libFuzzer's RSS limit, where the default 16 MiB would let a few streams take gigabytes
/// (the Lambda bounds that with its worker process, which the fuzz target does not run).
pub const LIMITS: ExtractLimits =
    ExtractLimits { max_bytes: 12_000, max_pages: 8, max_chars: 10_000, max_stream_bytes: 64 * 1024 };

pub fn extract_chunk(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let key = KEYS[usize::from(selector) % KEYS.len()];
    let kind = DocumentKind::of(key);
    let doc = match (kind, extract(key, bytes, &LIMITS)) {
        (_, Ok(doc)) => doc,
        (None, Err(err)) => return assert_eq!(err, ExtractError::Unsupported),
        (Some(kind), Err(err)) => return extract_error(kind, bytes, &err),
    };
    assert_eq!(Some(doc.kind), kind);
    assert!(doc.text.chars().count() <= LIMITS.max_chars);
    assert!(!doc.text.trim().is_empty(), "extracted blank text");
    assert!(!doc.title.is_empty() && doc.title.chars().count() <= 120, "title {:?}", doc.title);
    if doc.kind != DocumentKind::Pdf {
        assert_eq!(Some(doc.text.as_str()), text_of(bytes).as_deref(), "text passes through");
    }

    let chunks = chunk_text(doc.kind, &doc.text);
    assert!(!chunks.is_empty(), "non-blank text gave no chunks");
    for chunk in &chunks {
        assert!(!chunk.is_empty() && chunk.trim() == chunk, "chunk {chunk:?} is not trimmed");
        let tokens = count_tokens(chunk);
        assert!(tokens <= MAX_CHUNK_TOKENS, "a chunk has {tokens} tokens");
        assert!(doc.text.contains(chunk.as_str()), "chunk {chunk:?} is not from the text");
    }
    // Overlap repeats text, so the chunks hold at least as much of it as the document.
    let visible = |s: &str| s.chars().filter(|c| !c.is_whitespace()).count();
    let kept: usize = chunks.iter().map(|c| visible(c)).sum();
    assert!(kept >= visible(&doc.text), "chunking lost text: {kept} of {}", visible(&doc.text));
}

fn extract_error(kind: DocumentKind, bytes: &[u8], err: &ExtractError) {
    assert!(!err.to_string().is_empty());
    match (kind, err) {
        (_, ExtractError::Unsupported) => panic!("a supported kind was refused"),
        (_, ExtractError::TooLarge { size, .. }) => assert!(*size > LIMITS.max_bytes),
        (_, ExtractError::TooMuchText { chars, .. }) => assert!(*chars > LIMITS.max_chars),
        (_, ExtractError::NoText) => {}
        (
            _,
            ExtractError::NeedsTooMuchMemory { .. }
            | ExtractError::TookTooLong { .. }
            | ExtractError::UsedTooMuchCpu { .. }
            | ExtractError::NestedTooDeeply,
        ) => panic!("in-process extraction reported a worker's limit: {err}"),
        (DocumentKind::Pdf, ExtractError::StreamTooLarge { limit }) => {
            assert_eq!(*limit, LIMITS.max_stream_bytes)
        }
        (DocumentKind::Pdf, ExtractError::NotUtf8(_)) => panic!("a PDF was read as text"),
        (DocumentKind::Pdf, _) => {}
        (_, ExtractError::NotUtf8(at)) => assert!(text_of(bytes).is_none() && *at < bytes.len()),
        (_, other) => panic!("a text document failed with a PDF error: {other}"),
    }
}

/// What a text document should extract to: UTF-8 without a byte-order mark, LF line ends.
fn text_of(bytes: &[u8]) -> Option<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).ok().map(|s| s.replace("\r\n", "\n"))
}

// ---------------------------------------------------------------------------------------------

/// Runs a future that never waits (the in-memory fakes), without an async runtime per input.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the in-memory fakes should never wait"),
    }
}
