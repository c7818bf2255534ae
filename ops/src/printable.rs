//! Text from the chatbot, its documents or its logs, made safe to print on a terminal.
//!
//! A reply, a cited file name or a log line can carry bytes a terminal obeys rather than shows:
//! escape sequences that clear the screen, rewrite what is already printed, retitle the window,
//! write to the clipboard (OSC 52) or hide a link (OSC 8), and bidirectional overrides that make
//! text read differently from what it is. Everything a model or a document controls goes through
//! [`printable`] before it reaches a terminal. JSON output keeps the text as it is, escaped:
//! serde escapes the C0 controls, and [`json_for_terminal`] the rest.

use std::borrow::Cow;

const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';

/// `text` without terminal control sequences, control characters (but newline and tab) or
/// bidirectional overrides. A `\r\n` line end becomes `\n`; a lone `\r`, which would let later
/// text overwrite a line, is dropped.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| removed(c) || c == ESC) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ESC => skip_escape(&mut chars),
            // CSI, OSC, DCS, SOS, PM and APC have 8-bit forms some terminals still obey.
            '\u{9b}' => skip_until_final(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\r' if chars.peek() == Some(&'\n') => {}
            c if removed(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Serialised JSON with the characters serde leaves raw but a terminal may obey written as
/// `\uXXXX` escapes: DEL, the C1 controls and the bidirectional overrides. They can only occur
/// inside JSON strings, so the document means exactly the same.
pub fn json_for_terminal(json: &str) -> Cow<'_, str> {
    if !json.chars().any(raw_in_json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if raw_in_json(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn raw_in_json(c: char) -> bool {
    // serde escapes C0 itself; everything else `removed` names passes through it.
    removed(c) && u32::from(c) >= 0x20
}

fn removed(c: char) -> bool {
    let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    (c.is_control() && c != '\n' && c != '\t') || bidi
}

/// After ESC: the rest of the sequence it starts.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_until_final(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        // Intermediate bytes, then one final byte (charset selection and the like).
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            while chars.next_if(|c| ('\u{20}'..='\u{2f}').contains(c)).is_some() {}
            chars.next();
        }
        // A two-character sequence (ESC 7, ESC c, ...), or ESC at the very end.
        _ => {}
    }
}

/// A CSI sequence: parameter and intermediate bytes up to a final byte in `@`..`~`.
fn skip_until_final(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
    }
}

/// A string sequence (OSC, DCS, ...): up to BEL or the string terminator `ESC \`.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            BEL | '\u{9c}' => return,
            ESC => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_untouched_and_not_copied() {
        let text = "Rust, Go [1]\n\tindented — ünïcode 日本";
        assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn escape_sequences_are_removed_and_their_text_kept() {
        let cases = [
            ("\u{1b}[2J\u{1b}[Hcleared", "cleared"),
            ("\u{1b}[1;31mred\u{1b}[0m text", "red text"),
            ("\u{1b}]0;owned title\u{7}after", "after"),
            ("\u{1b}]52;c;cm0gLXJmIH4=\u{1b}\\copied", "copied"),
            ("\u{1b}]8;;https://evil.example\u{1b}\\click\u{1b}]8;;\u{1b}\\", "click"),
            ("\u{1b}Pq#0;2;0;0;0\u{1b}\\sixel gone", "sixel gone"),
            ("\u{1b}7saved\u{1b}8", "saved"),
            ("\u{1b}(Bcharset", "charset"),
            ("\u{9b}31m8-bit CSI", "8-bit CSI"),
            ("\u{9d}0;title\u{9c}8-bit OSC", "8-bit OSC"),
            ("trailing escape\u{1b}", "trailing escape"),
            ("unterminated \u{1b}]0;title", "unterminated "),
        ];
        for (raw, shown) in cases {
            assert_eq!(printable(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn json_keeps_its_meaning_with_what_serde_leaves_raw_escaped() {
        let value = serde_json::json!({"reply": "a\u{1b}[2Jb\u{202e}c\u{9b}31m\u{7f}d ü"});
        let raw = serde_json::to_string(&value).unwrap();
        let shown = json_for_terminal(&raw);
        assert!(shown.chars().all(|c| !removed(c)), "{shown:?}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&shown).unwrap(), value);
        assert!(matches!(json_for_terminal("{\"a\":\"ü\"}"), Cow::Borrowed(_)));
    }

    #[test]
    fn control_characters_and_bidi_overrides_are_removed_but_lines_and_tabs_stay() {
        assert_eq!(printable("a\u{7}b\u{8}c\u{0}d\u{7f}e"), "abcde");
        assert_eq!(printable("one\r\ntwo\rthree"), "one\ntwothree");
        assert_eq!(printable("file\u{202e}fdp.exe"), "filefdp.exe");
        assert_eq!(printable("\u{2066}isolated\u{2069}\tok\n"), "isolated\tok\n");
    }
}
