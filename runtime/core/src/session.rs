//! Browser sessions: the API token, pasted once, exchanged for a cookie no page script can read.
//!
//! The cookie's value is `<expiry>.<mac>`: the Unix second it ends, and an HMAC-SHA256 of that
//! keyed by the SHA-256 of the API token. Nothing is stored, so every container verifies a session
//! with the token it already holds; rotating the token changes the key, which ends every session
//! (within the authenticator's one-minute re-read).
//!
//! A cookie rides along on any request the browser makes, a cross-site one included unless
//! `SameSite=Strict` holds. So state-changing requests that authenticate by cookie must also
//! carry [`CSRF_HEADER`]: a page on another origin cannot add a custom header without a CORS
//! preflight, which the API's CORS rules do not allow for this header.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const COOKIE_NAME: &str = "chat_session";
/// How long a sign-in lasts in a browser.
pub const LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// The header the app sends on every state-changing request it makes with the cookie.
pub const CSRF_HEADER: &str = "x-chat-csrf";
const CONTEXT: &[u8] = b"opsctl chat session v1 ";

type HmacSha256 = Hmac<Sha256>;

/// A session value for `key` (the token's SHA-256) that ends `lifetime` after `now`.
pub fn issue(key: &[u8; 32], now: u64, lifetime: Duration) -> String {
    let expiry = now.saturating_add(lifetime.as_secs());
    format!("{expiry}.{}", hex(&mac(key, expiry).finalize().into_bytes()))
}

/// Whether `value` was issued with `key` and has not ended at `now`. The MAC is compared in
/// constant time.
pub fn is_valid(key: &[u8; 32], value: &str, now: u64) -> bool {
    let Some((expiry, tag)) = value.split_once('.') else { return false };
    let (Ok(expiry), Some(tag)) = (expiry.parse::<u64>(), unhex(tag)) else { return false };
    now < expiry && mac(key, expiry).verify_slice(&tag).is_ok()
}

fn mac(key: &[u8; 32], expiry: u64) -> HmacSha256 {
    // HMAC accepts a key of any length, so this cannot fail; a 32-byte key is HMAC's own size.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(CONTEXT);
    mac.update(expiry.to_string().as_bytes());
    mac
}

/// The session's value from a `Cookie` header (`a=1; chat_session=...; b=2`).
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find_map(|(name, value)| {
        (name.trim() == COOKIE_NAME && !value.trim().is_empty()).then(|| value.trim())
    })
}

/// The `Set-Cookie` header that starts a session. `Secure` whenever the app is served over HTTPS
/// (always on AWS); the local target is plain HTTP on the loopback address.
pub fn set_cookie(value: &str, lifetime: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE_NAME}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        lifetime.as_secs()
    )
}

/// The `Set-Cookie` header that ends the session in this browser.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", Duration::ZERO, secure)
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_session_is_valid_until_it_ends() {
        let value = issue(&KEY, NOW, Duration::from_secs(60));
        assert!(is_valid(&KEY, &value, NOW));
        assert!(is_valid(&KEY, &value, NOW + 59));
        assert!(!is_valid(&KEY, &value, NOW + 60));
    }

    #[test]
    fn another_key_or_a_changed_value_is_refused() {
        let value = issue(&KEY, NOW, LIFETIME);
        assert!(!is_valid(&[8; 32], &value, NOW), "a rotated token's key");
        let (expiry, tag) = value.split_once('.').unwrap();
        let later = format!("{}.{tag}", expiry.parse::<u64>().unwrap() + 3600);
        assert!(!is_valid(&KEY, &later, NOW), "an expiry pushed out");
        for bad in
            ["", ".", "abc", &format!("{expiry}."), &format!("{expiry}.{}", &tag[..62]), &format!("x.{tag}")]
        {
            assert!(!is_valid(&KEY, bad, NOW), "{bad:?}");
        }
        let flipped = format!("{expiry}.{}{}", &tag[..63], if tag.ends_with('0') { '1' } else { '0' });
        assert!(!is_valid(&KEY, &flipped, NOW));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_https() {
        let https = set_cookie("v", LIFETIME, true);
        assert_eq!(https, "chat_session=v; Path=/; Max-Age=604800; HttpOnly; SameSite=Strict; Secure");
        assert!(!set_cookie("v", LIFETIME, false).contains("Secure"));
        assert!(clear_cookie(true).starts_with("chat_session=; Path=/; Max-Age=0; HttpOnly"));
    }

    #[test]
    fn the_value_is_found_among_other_cookies() {
        assert_eq!(from_cookie_header("a=1; chat_session=12.ab ; b=2"), Some("12.ab"));
        assert_eq!(from_cookie_header("chat_session=x"), Some("x"));
        assert_eq!(from_cookie_header("chat_sessionx=1; a=chat_session"), None);
        assert_eq!(from_cookie_header("chat_session="), None);
    }
}
