//! Server-Sent Events, cut out of a body as its bytes arrive.

/// One chunk is a few hundred bytes; a line or an event this long is not a chat completion, and
/// the cap keeps a broken server from growing the buffer without end.
const MAX_LINE_BYTES: usize = 64 * 1024;
const MAX_EVENT_BYTES: usize = 64 * 1024;

/// One event: its `data` lines joined by `\n`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SseEvent {
    pub(super) data: String,
    /// Sent as `event: error` or as llama.cpp's `error:` line.
    pub(super) error: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum SseError {
    #[error("a line over {} KiB", MAX_LINE_BYTES >> 10)]
    LineTooLong,
    #[error("an event over {} KiB", MAX_EVENT_BYTES >> 10)]
    EventTooLarge,
    #[error("an event that is not UTF-8")]
    NotUtf8,
}

/// Cuts an SSE body into events as its bytes arrive, by the WHATWG rules a chat server needs:
/// lines end in `\n`, `\r\n` or `\r`; `:` lines are comments (keep-alives); a blank line ends an
/// event. Bytes are kept until their event ends, so a character split across chunks is whole.
#[derive(Default)]
pub(super) struct SseDecoder {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    error: bool,
    /// The last byte was `\r`: a `\n` right after it ends no second line.
    after_cr: bool,
    pub(super) ended: bool,
}

impl SseDecoder {
    pub(super) fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => self.end_line(out)?,
                _ if self.line.len() >= MAX_LINE_BYTES => return Err(SseError::LineTooLong),
                _ => self.line.push(b),
            }
        }
        Ok(())
    }

    /// The body ended: a last event without its blank line still counts, as servers that close
    /// right after `data: [DONE]` expect.
    pub(super) fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        self.ended = true;
        if !self.line.is_empty() {
            self.end_line(out)?;
        }
        self.dispatch(out)
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            return self.dispatch(out);
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(0) => return Ok(()),
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (&line[..], &[][..]),
        };
        match field {
            b"data" | b"error" => {
                self.error |= field == b"error";
                if self.has_data {
                    self.data.push(b'\n');
                }
                if self.data.len() + value.len() > MAX_EVENT_BYTES {
                    return Err(SseError::EventTooLarge);
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.error |= value == b"error",
            // `id` and `retry` matter only to a browser that reconnects.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let error = std::mem::take(&mut self.error);
        if std::mem::take(&mut self.has_data) {
            let data = String::from_utf8(std::mem::take(&mut self.data)).map_err(|_| SseError::NotUtf8)?;
            out.push(SseEvent { data, error });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Result<Vec<SseEvent>, SseError> {
        let mut decoder = SseDecoder::default();
        let mut out = Vec::new();
        for chunk in chunks {
            decoder.feed(chunk, &mut out)?;
        }
        decoder.finish(&mut out)?;
        Ok(out)
    }

    fn data(text: &str) -> SseEvent {
        SseEvent { data: text.to_owned(), error: false }
    }

    #[test]
    fn events_split_anywhere_and_every_line_ending_decode_alike() {
        let body =
            "data: {\"a\":1}\n\n: keep-alive\n\ndata:two\r\ndata: lines\r\n\r\ndata: é\r\rdata: [DONE]\n\n";
        let whole = decode(&[body.as_bytes()]).unwrap();
        assert_eq!(whole, [data("{\"a\":1}"), data("two\nlines"), data("é"), data("[DONE]")]);
        let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        assert_eq!(decode(&bytes).unwrap(), whole, "one byte at a time, `é` split in two");
    }

    #[test]
    fn a_last_event_without_its_blank_line_counts_and_errors_are_marked() {
        assert_eq!(decode(&[b"data: [DONE]"]).unwrap(), [data("[DONE]")]);
        let errors = decode(&[b"error: {\"x\":1}\n\nevent: error\ndata: y\n\n"]).unwrap();
        assert!(errors.iter().all(|e| e.error), "{errors:?}");
        assert_eq!(decode(&[b"event: message\ndata: z\n\n"]).unwrap(), [data("z")]);
    }

    #[test]
    fn oversized_lines_and_events_and_invalid_utf8_are_refused() {
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        assert_eq!(decode(&[b"data: ", &long]).unwrap_err(), SseError::LineTooLong);
        let line = format!("data: {}\n", "y".repeat(MAX_LINE_BYTES - 10));
        assert_eq!(decode(&[line.as_bytes(), line.as_bytes()]).unwrap_err(), SseError::EventTooLarge);
        assert_eq!(decode(&[b"data: \xff\n\n"]).unwrap_err(), SseError::NotUtf8);
    }
}
