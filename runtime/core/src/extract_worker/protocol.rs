//! The worker's stdin and stdout: one versioned, length-checked frame each way.
//!
//! Request: `CBXQ`, version, the key's length (u32) and the key, then `max_bytes`, `max_pages`,
//! `max_chars`, `max_stream_bytes` and the document's length (u64 each), then the document.
//! Response: `CBXR`, version, status (0 text, 1 refusal), the body's length (u64), the body: for
//! text the kind (u8), the title's length (u32), the title and the text; for a refusal the
//! [`ExtractError`] as JSON. Integers are little-endian. Both ends are the same executable, but
//! the parent checks every length anyway: the worker is the process a hostile file may own.

use std::io::{self, Read, Write};

use thiserror::Error;

use crate::domain::extract::{DocumentKind, ExtractError, ExtractLimits, ExtractedText};

const REQUEST_MAGIC: &[u8; 4] = b"CBXQ";
const RESPONSE_MAGIC: &[u8; 4] = b"CBXR";
const VERSION: u8 = 1;
/// S3 keys are at most 1024 bytes.
const MAX_KEY_BYTES: usize = 4096;
/// Room for a refusal's JSON and the frame around the text.
const RESPONSE_OVERHEAD: usize = 64 * 1024;
/// Longer reader messages are cut, so a refusal always fits the overhead.
const MAX_MESSAGE_CHARS: usize = 1000;
const MAX_TITLE_CHARS: usize = 120;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub(super) struct ProtocolError(String);

fn bad(what: impl Into<String>) -> ProtocolError {
    ProtocolError(what.into())
}

/// What the worker is asked to read.
pub(super) struct Request {
    pub key: String,
    pub limits: ExtractLimits,
    pub document: Vec<u8>,
}

/// Everything of a request up to the document's bytes, which follow it on the pipe.
pub(super) fn request_header(key: &str, limits: &ExtractLimits, document_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + key.len());
    out.extend_from_slice(REQUEST_MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    for n in
        [limits.max_bytes, limits.max_pages as u64, limits.max_chars as u64, limits.max_stream_bytes as u64]
    {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&(document_len as u64).to_le_bytes());
    out
}

pub(super) fn read_request(input: &mut impl Read) -> Result<Request, ProtocolError> {
    let mut head = [0u8; 9];
    input.read_exact(&mut head).map_err(|e| bad(format!("reading the request: {e}")))?;
    if &head[..4] != REQUEST_MAGIC || head[4] != VERSION {
        return Err(bad("not a version-1 extraction request"));
    }
    let key_len = u32::from_le_bytes([head[5], head[6], head[7], head[8]]) as usize;
    if key_len > MAX_KEY_BYTES {
        return Err(bad(format!("a {key_len}-byte key")));
    }
    let mut key = vec![0u8; key_len];
    input.read_exact(&mut key).map_err(|e| bad(format!("reading the key: {e}")))?;
    let key = String::from_utf8(key).map_err(|_| bad("the key is not UTF-8"))?;
    let mut numbers = [0u64; 5];
    for n in &mut numbers {
        let mut raw = [0u8; 8];
        input.read_exact(&mut raw).map_err(|e| bad(format!("reading the limits: {e}")))?;
        *n = u64::from_le_bytes(raw);
    }
    let [max_bytes, max_pages, max_chars, max_stream_bytes, document_len] = numbers;
    let size = |n: u64| usize::try_from(n).map_err(|_| bad(format!("{n} does not fit this machine")));
    let limits = ExtractLimits {
        max_bytes,
        max_pages: size(max_pages)?,
        max_chars: size(max_chars)?,
        max_stream_bytes: size(max_stream_bytes)?,
    };
    // The parent refuses an oversized document before starting a worker.
    if document_len > max_bytes {
        return Err(bad(format!("a {document_len}-byte document over the {max_bytes}-byte limit")));
    }
    let mut document = vec![0u8; size(document_len)?];
    input.read_exact(&mut document).map_err(|e| bad(format!("reading the document: {e}")))?;
    Ok(Request { key, limits, document })
}

pub(super) fn write_response(
    out: &mut impl Write,
    result: &Result<ExtractedText, ExtractError>,
) -> io::Result<()> {
    let (status, body) = match result {
        Ok(doc) => {
            let mut body = Vec::with_capacity(5 + doc.title.len() + doc.text.len());
            body.push(kind_byte(doc.kind));
            body.extend_from_slice(&u32::try_from(doc.title.len()).unwrap_or(u32::MAX).to_le_bytes());
            body.extend_from_slice(doc.title.as_bytes());
            body.extend_from_slice(doc.text.as_bytes());
            (0u8, body)
        }
        Err(err) => (1u8, serde_json::to_vec(&shortened(err.clone())).map_err(io::Error::other)?),
    };
    out.write_all(RESPONSE_MAGIC)?;
    out.write_all(&[VERSION, status])?;
    out.write_all(&(body.len() as u64).to_le_bytes())?;
    out.write_all(&body)
}

/// The most a well-formed response for `limits` can take: the longest text, in UTF-8.
pub(super) fn max_response_bytes(limits: &ExtractLimits) -> usize {
    limits.max_chars.saturating_mul(4).saturating_add(RESPONSE_OVERHEAD)
}

/// The worker's result, checked against the limits it was given.
pub(super) fn read_response(
    bytes: &[u8],
    limits: &ExtractLimits,
) -> Result<Result<ExtractedText, ExtractError>, ProtocolError> {
    let (head, body) =
        bytes.split_at_checked(14).ok_or_else(|| bad(format!("a {}-byte response", bytes.len())))?;
    if &head[..4] != RESPONSE_MAGIC || head[4] != VERSION {
        return Err(bad("not a version-1 extraction response"));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&head[6..14]);
    if u64::from_le_bytes(len) != body.len() as u64 {
        return Err(bad("the response's length does not match its body"));
    }
    match head[5] {
        0 => text_body(body, limits).map(Ok),
        1 => serde_json::from_slice(body).map(Err).map_err(|e| bad(format!("an unreadable refusal: {e}"))),
        other => Err(bad(format!("unknown status {other}"))),
    }
}

fn text_body(body: &[u8], limits: &ExtractLimits) -> Result<ExtractedText, ProtocolError> {
    let (&kind, rest) = body.split_first().ok_or_else(|| bad("an empty text body"))?;
    let kind = match kind {
        0 => DocumentKind::Pdf,
        1 => DocumentKind::Markdown,
        2 => DocumentKind::Text,
        other => return Err(bad(format!("unknown document kind {other}"))),
    };
    let (title_len, rest) = rest.split_at_checked(4).ok_or_else(|| bad("a truncated title"))?;
    let title_len = u32::from_le_bytes([title_len[0], title_len[1], title_len[2], title_len[3]]) as usize;
    let (title, text) = rest.split_at_checked(title_len).ok_or_else(|| bad("a truncated title"))?;
    let title = std::str::from_utf8(title).map_err(|_| bad("the title is not UTF-8"))?;
    let text = std::str::from_utf8(text).map_err(|_| bad("the text is not UTF-8"))?;
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(bad("a title that is empty or over 120 characters"));
    }
    if text.trim().is_empty() || text.chars().count() > limits.max_chars {
        return Err(bad("text that is blank or over the character limit"));
    }
    Ok(ExtractedText { kind, title: title.to_owned(), text: text.to_owned() })
}

fn kind_byte(kind: DocumentKind) -> u8 {
    match kind {
        DocumentKind::Pdf => 0,
        DocumentKind::Markdown => 1,
        DocumentKind::Text => 2,
    }
}

fn shortened(err: ExtractError) -> ExtractError {
    let cut = |s: String| s.chars().take(MAX_MESSAGE_CHARS).collect();
    match err {
        ExtractError::MalformedPdf(message) => ExtractError::MalformedPdf(cut(message)),
        ExtractError::ReaderCrashed(message) => ExtractError::ReaderCrashed(cut(message)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(result: &Result<ExtractedText, ExtractError>) -> Vec<u8> {
        let mut out = Vec::new();
        write_response(&mut out, result).unwrap();
        out
    }

    #[test]
    fn requests_and_responses_round_trip() {
        let limits = ExtractLimits { max_pages: 7, ..ExtractLimits::default() };
        let mut wire = request_header("docs/cv.pdf", &limits, 3);
        wire.extend_from_slice(b"abc");
        let request = read_request(&mut wire.as_slice()).unwrap();
        assert_eq!(
            (request.key.as_str(), request.limits, request.document.as_slice()),
            ("docs/cv.pdf", limits, &b"abc"[..])
        );

        let doc = ExtractedText {
            kind: DocumentKind::Pdf,
            title: "Jane Doe".into(),
            text: "Jane Doe\n\nRust".into(),
        };
        assert_eq!(read_response(&response(&Ok(doc.clone())), &limits), Ok(Ok(doc)));
        let refusal = Err(ExtractError::TooManyPages { pages: 9, limit: 7 });
        assert_eq!(read_response(&response(&refusal), &limits), Ok(refusal));
    }

    #[test]
    fn a_response_that_breaks_its_frame_or_the_limits_is_refused() {
        let limits = ExtractLimits { max_chars: 5, ..ExtractLimits::default() };
        let doc =
            |text: &str| Ok(ExtractedText { kind: DocumentKind::Text, title: "t".into(), text: text.into() });
        let good = response(&doc("hello"));
        assert!(read_response(&good, &limits).is_ok());
        assert!(read_response(&good[..good.len() - 1], &limits).is_err(), "truncated");
        assert!(read_response(&[&good[..], b"!"].concat(), &limits).is_err(), "trailing bytes");
        assert!(read_response(&response(&doc("hello!")), &limits).is_err(), "over max_chars");
        let mut other_version = good.clone();
        other_version[4] = 2;
        assert!(read_response(&other_version, &limits).is_err());
    }

    #[test]
    fn a_request_for_an_oversized_document_is_refused_before_reading_it() {
        let limits = ExtractLimits { max_bytes: 10, ..ExtractLimits::default() };
        let wire = request_header("docs/a.txt", &limits, 11);
        assert!(read_request(&mut wire.as_slice()).is_err());
    }

    #[test]
    fn long_reader_messages_are_cut_to_fit_the_frame() {
        let long = Err(ExtractError::MalformedPdf("x".repeat(100_000)));
        let wire = response(&long);
        assert!(wire.len() < RESPONSE_OVERHEAD);
        let Ok(Err(ExtractError::MalformedPdf(message))) = read_response(&wire, &ExtractLimits::default())
        else {
            panic!("a refusal");
        };
        assert_eq!(message.len(), MAX_MESSAGE_CHARS);
    }
}
