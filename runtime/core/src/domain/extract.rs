//! Text extraction from uploaded documents: PDF (through `lopdf`), plain text and Markdown.
//!
//! A document that is too big, has too many pages, is password-protected or malformed fails
//! with an [`ExtractError`] that says which and why, and the caller goes on with the next
//! document. The limits here are checked while reading: a compressed stream stops inflating at
//! [`ExtractLimits::max_stream_bytes`], and text stops accumulating once it passes
//! `max_chars`. They bound what the reader is asked to do, not what lopdf allocates doing it
//! (a small stream can parse into objects many times its size), so documents from outside are
//! read in the worker process of [`crate::extract_worker`], under memory and CPU limits.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What kind of document a key names, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocumentKind {
    Pdf,
    Markdown,
    Text,
}

impl DocumentKind {
    /// The kind of `key`, or `None` for a type ingestion does not read.
    pub fn of(key: &str) -> Option<Self> {
        let name = key.rsplit('/').next().unwrap_or(key);
        let ext = name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase())?;
        match ext.as_str() {
            "pdf" => Some(Self::Pdf),
            "md" | "markdown" => Some(Self::Markdown),
            "txt" | "text" => Some(Self::Text),
            _ => None,
        }
    }
}

/// Per-document limits. A document over any of them fails alone; the defaults fit the
/// ingestion Lambda's 1024 MB and 5 minutes with room for several documents per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    pub max_bytes: u64,
    pub max_pages: usize,
    /// Extracted text beyond this is refused rather than truncated: a silently partial document
    /// would give answers that look complete.
    pub max_chars: usize,
    /// The most one compressed stream (an object stream while loading, or one page's content)
    /// may inflate to. Real pages and object streams are far smaller; a stream past it is a
    /// compression bomb or a drawing with no text worth reading.
    pub max_stream_bytes: usize,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self { max_bytes: 20 * 1024 * 1024, max_pages: 500, max_chars: 2_000_000, max_stream_bytes: 16 << 20 }
    }
}

/// Why a document could not be read. Every variant is permanent: reading the same bytes again
/// fails the same way. The last five come from the worker process's limits.
#[derive(Debug, Clone, Error, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExtractError {
    #[error("unsupported document type (only .pdf, .md, .markdown, .txt and .text are ingested)")]
    Unsupported,
    #[error("the document is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: u64, limit: u64 },
    #[error("the PDF has {pages} pages, over the {limit}-page limit")]
    TooManyPages { pages: usize, limit: usize },
    /// `chars` is what was read before stopping, so at least `limit + 1`.
    #[error("the extracted text has over {limit} characters (the limit); stopped reading at {chars}")]
    TooMuchText { chars: usize, limit: usize },
    #[error("a compressed stream in the PDF inflates past the {limit}-byte limit (a compression bomb?)")]
    StreamTooLarge { limit: usize },
    #[error("the PDF is password-protected; upload an unprotected copy")]
    Encrypted,
    #[error("the PDF could not be read: {0}")]
    MalformedPdf(String),
    #[error("the file is not valid UTF-8 text (first bad byte at offset {0})")]
    NotUtf8(usize),
    #[error("no text could be extracted (a scanned PDF needs OCR before upload)")]
    NoText,
    #[error("the document needs more than {limit_mib} MiB of memory to read (a compression bomb?)")]
    NeedsTooMuchMemory { limit_mib: u64 },
    #[error("reading the document took longer than {seconds} s")]
    TookTooLong { seconds: u64 },
    #[error("reading the document used more than {seconds} s of CPU time")]
    UsedTooMuchCpu { seconds: u64 },
    #[error("the document is nested too deeply to read (the reader ran out of stack)")]
    NestedTooDeeply,
    #[error("the document reader crashed on this file ({0})")]
    ReaderCrashed(String),
}

/// A document's text and a title for citations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedText {
    pub kind: DocumentKind,
    pub title: String,
    pub text: String,
}

/// Extracts the text of the document stored under `key`.
pub fn extract(key: &str, bytes: &[u8], limits: &ExtractLimits) -> Result<ExtractedText, ExtractError> {
    let kind = DocumentKind::of(key).ok_or(ExtractError::Unsupported)?;
    let size = bytes.len() as u64;
    if size > limits.max_bytes {
        return Err(ExtractError::TooLarge { size, limit: limits.max_bytes });
    }
    let text = match kind {
        DocumentKind::Pdf => pdf_text(bytes, limits)?,
        DocumentKind::Markdown | DocumentKind::Text => utf8_text(bytes, limits)?,
    };
    if text.trim().is_empty() {
        return Err(ExtractError::NoText);
    }
    let title = title_of(key, kind, &text);
    Ok(ExtractedText { kind, title, text })
}

fn utf8_text(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| ExtractError::NotUtf8(e.valid_up_to()))?;
    let text = text.replace("\r\n", "\n");
    let chars = text.chars().count();
    if chars > limits.max_chars {
        return Err(ExtractError::TooMuchText { chars, limit: limits.max_chars });
    }
    Ok(text)
}

/// A PDF's text gathered page by page up to a character limit: the push that passes it fails,
/// so a document whose pages each stay small cannot add up to a huge string.
struct CappedText {
    text: String,
    chars: usize,
    limit: usize,
}

impl CappedText {
    fn new(limit: usize) -> Self {
        Self { text: String::new(), chars: 0, limit }
    }

    fn push(&mut self, piece: &str) -> Result<(), ExtractError> {
        self.chars = self.chars.saturating_add(piece.chars().count());
        if self.chars > self.limit {
            return Err(ExtractError::TooMuchText { chars: self.chars, limit: self.limit });
        }
        self.text.push_str(piece);
        Ok(())
    }
}

fn pdf_text(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(ExtractError::MalformedPdf("it does not start with a %PDF- header".into()));
    }
    // Object streams inflate while the document loads, before the page count is known.
    let options = lopdf::LoadOptions::with_max_decompressed_size(limits.max_stream_bytes);
    // lopdf opens documents protected by an empty user password on its own; what is still
    // encrypted after loading needs a password we do not have.
    let doc = lopdf::Document::load_mem_with_options(bytes, options).map_err(|e| classify_pdf_error(&e))?;
    if doc.is_encrypted() && !doc.was_encrypted() {
        return Err(ExtractError::Encrypted);
    }
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    if pages.is_empty() {
        return Err(ExtractError::MalformedPdf("it has no pages".into()));
    }
    if pages.len() > limits.max_pages {
        return Err(ExtractError::TooManyPages { pages: pages.len(), limit: limits.max_pages });
    }
    let mut text = CappedText::new(limits.max_chars);
    for page in pages {
        let page_text = doc
            .extract_text_with_limit(&[page], limits.max_stream_bytes)
            .map_err(|e| classify_pdf_error(&e))?;
        text.push(page_text.trim_end())?;
        text.push("\n\n")?;
    }
    Ok(text.text)
}

fn classify_pdf_error(err: &lopdf::Error) -> ExtractError {
    if let lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { limit }) = err {
        return ExtractError::StreamTooLarge { limit: *limit };
    }
    let message = err.to_string();
    let lower = message.to_ascii_lowercase();
    if lower.contains("decrypt") || lower.contains("password") || lower.contains("encrypt") {
        ExtractError::Encrypted
    } else {
        ExtractError::MalformedPdf(message)
    }
}

/// The first Markdown heading, else the first non-empty line of text (for PDFs and plain text),
/// else the file name; at most 120 characters.
fn title_of(key: &str, kind: DocumentKind, text: &str) -> String {
    let heading = match kind {
        DocumentKind::Markdown => {
            text.lines().map(str::trim).find_map(|l| l.strip_prefix('#')).map(|h| h.trim_start_matches('#'))
        }
        DocumentKind::Pdf | DocumentKind::Text => text.lines().map(str::trim).find(|l| !l.is_empty()),
    };
    let file_name = key.rsplit('/').next().unwrap_or(key);
    let title = heading.map(str::trim).filter(|t| !t.is_empty()).unwrap_or(file_name);
    title.chars().take(120).collect()
}

#[cfg(test)]
use test_support::pdf as test_pdf;

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_pdf as pdf;

    #[test]
    fn pdf_text_comes_out_page_by_page() {
        let bytes = pdf::sample_pdf(&[&["Jane Doe", "Languages: Rust, Go"], &["Second page here"]]);
        let got = extract("docs/cv.pdf", &bytes, &ExtractLimits::default()).unwrap();
        assert_eq!(got.kind, DocumentKind::Pdf);
        assert_eq!(got.title, "Jane Doe");
        assert!(got.text.contains("Languages: Rust, Go"), "{:?}", got.text);
        let first = got.text.find("Jane Doe").unwrap();
        let second = got.text.find("Second page here").unwrap();
        assert!(first < second);
    }

    #[test]
    fn pdfs_over_the_page_limit_are_refused() {
        let bytes = pdf::sample_pdf(&[&["one"], &["two"], &["three"]]);
        let limits = ExtractLimits { max_pages: 2, ..ExtractLimits::default() };
        assert_eq!(
            extract("docs/x.pdf", &bytes, &limits),
            Err(ExtractError::TooManyPages { pages: 3, limit: 2 })
        );
    }

    #[test]
    fn a_stream_that_inflates_past_the_limit_is_refused_while_loading() {
        // One object stream of 2 MiB of integers, from a file of a few hundred bytes.
        let bomb = pdf::compression_bomb_pdf(1, 1 << 20);
        assert!(bomb.len() < 2048, "{}", bomb.len());
        let limits = ExtractLimits { max_stream_bytes: 1 << 20, ..ExtractLimits::default() };
        assert_eq!(
            extract("docs/b.pdf", &bomb, &limits),
            Err(ExtractError::StreamTooLarge { limit: 1 << 20 })
        );
        let roomy = ExtractLimits { max_stream_bytes: 4 << 20, ..ExtractLimits::default() };
        assert_eq!(extract("docs/b.pdf", &bomb, &roomy).map(|d| d.title), Ok("Quarterly report".to_owned()));
    }

    #[test]
    fn nesting_past_the_readers_limit_is_refused_not_a_stack_overflow() {
        // lopdf gives up at 100 levels; the worker process covers a reader that would not.
        let nested = pdf::deeply_nested_pdf(50_000);
        assert!(matches!(
            extract("docs/n.pdf", &nested, &ExtractLimits::default()),
            Err(ExtractError::MalformedPdf(_))
        ));
        let shallow = extract("docs/n.pdf", &pdf::deeply_nested_pdf(20), &ExtractLimits::default());
        assert_eq!(shallow.map(|d| d.title), Ok("Nested".to_owned()));
    }

    #[test]
    fn pdf_text_stops_accumulating_as_soon_as_it_passes_the_limit() {
        let line = "x".repeat(100);
        let pages: Vec<[&str; 1]> = (0..40).map(|_| [line.as_str()]).collect();
        let pages: Vec<&[&str]> = pages.iter().map(|p| &p[..]).collect();
        let limits = ExtractLimits { max_chars: 1000, ..ExtractLimits::default() };
        // 102 characters a page with the page break: the tenth page passes 1000.
        assert_eq!(
            extract("docs/long.pdf", &pdf::sample_pdf(&pages), &limits),
            Err(ExtractError::TooMuchText { chars: 1018, limit: 1000 })
        );
    }

    #[test]
    fn kinds_come_from_the_extension_case_insensitively() {
        assert_eq!(DocumentKind::of("docs/CV.PDF"), Some(DocumentKind::Pdf));
        assert_eq!(DocumentKind::of("docs/notes.md"), Some(DocumentKind::Markdown));
        assert_eq!(DocumentKind::of("docs/a b/plain.txt"), Some(DocumentKind::Text));
        assert_eq!(DocumentKind::of("docs/photo.jpg"), None);
        assert_eq!(DocumentKind::of("docs/README"), None);
        assert_eq!(DocumentKind::of("docs.d/README"), None);
    }

    #[test]
    fn markdown_title_is_its_first_heading() {
        let got = extract("docs/cv.md", b"\xEF\xBB\xBF\n# Jane Doe\r\nSkills", &ExtractLimits::default());
        let got = got.unwrap();
        assert_eq!(got.title, "Jane Doe");
        assert_eq!(got.text, "\n# Jane Doe\nSkills");
    }

    #[test]
    fn unsupported_and_oversized_documents_fail_with_reasons() {
        let limits = ExtractLimits { max_bytes: 4, ..ExtractLimits::default() };
        assert_eq!(extract("docs/x.docx", b"hi", &limits), Err(ExtractError::Unsupported));
        assert_eq!(
            extract("docs/x.txt", b"hello", &limits),
            Err(ExtractError::TooLarge { size: 5, limit: 4 })
        );
        let limits = ExtractLimits { max_chars: 3, ..ExtractLimits::default() };
        assert_eq!(
            extract("docs/x.txt", b"hello", &limits),
            Err(ExtractError::TooMuchText { chars: 5, limit: 3 })
        );
    }

    #[test]
    fn invalid_utf8_and_empty_text_are_refused() {
        let limits = ExtractLimits::default();
        assert_eq!(extract("docs/x.txt", b"ab\xFFcd", &limits), Err(ExtractError::NotUtf8(2)));
        assert_eq!(extract("docs/x.md", b" \n\t", &limits), Err(ExtractError::NoText));
    }

    #[test]
    fn corrupt_pdfs_fail_cleanly() {
        let limits = ExtractLimits::default();
        assert!(matches!(extract("docs/x.pdf", b"not a pdf", &limits), Err(ExtractError::MalformedPdf(_))));
        let truncated = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\nxref\n0 99\n";
        assert!(matches!(extract("docs/x.pdf", truncated, &limits), Err(ExtractError::MalformedPdf(_))));
    }
}
