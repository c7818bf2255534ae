//! Bearer-token authentication: one shared token, so the API needs no user directory.
//!
//! The token is read once at cold start, then re-read at most once a minute whether or not the
//! last one matched, so `opsctl token rotate` takes effect without a redeploy and the old token
//! stops working on every warm container within a minute, while a flood of bad tokens cannot
//! turn into a flood of SSM calls. Tokens are compared as SHA-256 digests in constant time, so
//! neither the content nor the length of the real token leaks through timing.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::domain::error::ApiError;
use crate::ports::{SecretError, SecretSource};
use crate::session;

pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Who may call `POST /chat`.
pub enum Authenticator {
    Token(TokenAuthenticator),
    /// The API is open. Only ever chosen by name (`--auth none`).
    Disabled,
}

impl Authenticator {
    pub async fn verify(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        match self {
            Authenticator::Token(t) => t.verify(authorization).await,
            Authenticator::Disabled => Ok(()),
        }
    }

    /// A browser session's cookie value for the pasted `token`, if it is the API token.
    pub async fn start_session(&self, token: &str, now: u64) -> Result<String, ApiError> {
        match self {
            Authenticator::Token(t) => t.start_session(token, now).await,
            Authenticator::Disabled => Ok(session::issue(&[0; 32], now, session::LIFETIME)),
        }
    }

    /// A session bound to the current token, for a caller who proved it some other way (a
    /// one-time sign-in code minted with the token).
    pub async fn session_for_current_token(&self, now: u64) -> String {
        match self {
            Authenticator::Token(t) => session::issue(&t.current_digest().await, now, session::LIFETIME),
            Authenticator::Disabled => session::issue(&[0; 32], now, session::LIFETIME),
        }
    }

    /// Whether a session cookie's value was issued for the current token and has not ended.
    pub async fn verify_session(&self, value: &str, now: u64) -> Result<(), ApiError> {
        match self {
            Authenticator::Token(t) => t.verify_session(value, now).await,
            Authenticator::Disabled => Ok(()),
        }
    }
}

pub struct TokenAuthenticator {
    source: Arc<dyn SecretSource>,
    state: Mutex<TokenState>,
    refresh_after: Duration,
}

struct TokenState {
    digest: [u8; 32],
    fetched_at: Instant,
}

impl TokenAuthenticator {
    /// Reads the token now; a cold start fails loudly rather than serve with no token.
    pub async fn load(source: Arc<dyn SecretSource>) -> Result<Self, SecretError> {
        Self::load_with_refresh(source, REFRESH_INTERVAL).await
    }

    pub async fn load_with_refresh(
        source: Arc<dyn SecretSource>,
        refresh_after: Duration,
    ) -> Result<Self, SecretError> {
        let token = source.fetch().await?;
        let state = TokenState { digest: digest(token.as_bytes()), fetched_at: Instant::now() };
        Ok(Self { source, state: Mutex::new(state), refresh_after })
    }

    pub async fn verify(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        let presented = authorization.and_then(bearer).ok_or_else(ApiError::unauthorized)?;
        self.matches(presented).await
    }

    async fn matches(&self, presented: &str) -> Result<(), ApiError> {
        let presented = digest(presented.as_bytes());
        let current = self.current_digest().await;
        if bool::from(current.ct_eq(&presented)) { Ok(()) } else { Err(ApiError::unauthorized()) }
    }

    async fn start_session(&self, token: &str, now: u64) -> Result<String, ApiError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(ApiError::unauthorized());
        }
        self.matches(token).await?;
        Ok(session::issue(&self.current_digest().await, now, session::LIFETIME))
    }

    async fn verify_session(&self, value: &str, now: u64) -> Result<(), ApiError> {
        let key = self.current_digest().await;
        if session::is_valid(&key, value, now) { Ok(()) } else { Err(ApiError::session_ended()) }
    }

    /// The current token's digest, re-read from its source at most once per `refresh_after`.
    async fn current_digest(&self) -> [u8; 32] {
        let mut state = self.state.lock().await;
        // Re-read on a clock, not on a mismatch: a leaked token that keeps matching the cached
        // copy must stop working once it is rotated, and a flood of wrong tokens still costs at
        // most one SSM call a minute.
        if state.fetched_at.elapsed() >= self.refresh_after {
            state.fetched_at = Instant::now();
            match self.source.fetch().await {
                Ok(token) => state.digest = digest(token.as_bytes()),
                // Keep the old token: a transient SSM failure must not lock everyone out.
                Err(e) => {
                    tracing::warn!(error = %e, "could not re-read the API token; keeping the cached one")
                }
            }
        }
        state.digest
    }
}

fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::StaticSecret;

    async fn auth(secret: &Arc<StaticSecret>) -> TokenAuthenticator {
        TokenAuthenticator::load(secret.clone()).await.unwrap()
    }

    #[tokio::test]
    async fn accepts_the_token_and_rejects_others() {
        let secret = Arc::new(StaticSecret::new("s3cret-token"));
        let a = auth(&secret).await;
        assert!(a.verify(Some("Bearer s3cret-token")).await.is_ok());
        assert!(a.verify(Some("bearer   s3cret-token ")).await.is_ok());
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic s3cret-token"),
            Some("s3cret-token"),
            Some("Bearer s3cret-tokenX"),
        ] {
            let err = a.verify(bad).await.unwrap_err();
            assert_eq!(err.status, 401, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rereads_at_most_once_a_minute() {
        let secret = Arc::new(StaticSecret::new("old"));
        let a = auth(&secret).await;
        assert_eq!(secret.fetches(), 1);
        secret.set("new");
        // Within the minute, the rotated token is not seen yet and SSM is not asked again.
        for _ in 0..5 {
            assert!(a.verify(Some("Bearer new")).await.is_err());
        }
        assert_eq!(secret.fetches(), 1);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(a.verify(Some("Bearer new")).await.is_ok());
        assert_eq!(secret.fetches(), 2);
        // Within the next minute nothing is re-read, match or not.
        assert!(a.verify(Some("Bearer new")).await.is_ok());
        assert!(a.verify(Some("Bearer old")).await.is_err());
        assert_eq!(secret.fetches(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rotation_revokes_the_old_token_within_a_minute_even_if_it_keeps_matching() {
        let secret = Arc::new(StaticSecret::new("leaked"));
        let a = auth(&secret).await;
        assert!(a.verify(Some("Bearer leaked")).await.is_ok());
        secret.set("rotated");
        // A warm container sees only the old token, never the new one.
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(a.verify(Some("Bearer leaked")).await.is_ok(), "still cached within the minute");
        tokio::time::advance(Duration::from_secs(31)).await;
        let refused = a.verify(Some("Bearer leaked")).await;
        assert_eq!(
            refused.map_err(|e| e.status),
            Err(401),
            "the old token is refused 61 s after the rotation"
        );
        assert_eq!(secret.fetches(), 2);
        // Re-reads stay at most one a minute, whatever is presented.
        for _ in 0..10 {
            let _ = a.verify(Some("Bearer leaked")).await;
        }
        assert_eq!(secret.fetches(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_reread_keeps_the_cached_token() {
        let secret = Arc::new(StaticSecret::new("tok"));
        let a = auth(&secret).await;
        secret.fail_next_fetches(true);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(a.verify(Some("Bearer wrong")).await.is_err());
        assert!(a.verify(Some("Bearer tok")).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_needs_the_token_and_ends_when_it_is_rotated() {
        let secret = Arc::new(StaticSecret::new("tok"));
        let a = Authenticator::Token(auth(&secret).await);
        let now = 1_800_000_000;
        for wrong in ["", "  ", "tok2", "Bearer tok"] {
            assert_eq!(a.start_session(wrong, now).await.map_err(|e| e.status), Err(401), "{wrong:?}");
        }
        let value = a.start_session(" tok ", now).await.unwrap();
        assert!(a.verify_session(&value, now + 10).await.is_ok());
        let ended = a.verify_session(&value, now + session::LIFETIME.as_secs()).await.unwrap_err();
        assert_eq!((ended.status, ended.code.as_str()), (401, "unauthorized"));
        assert!(ended.message.contains("sign in"), "{}", ended.message);
        secret.set("rotated");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(a.verify_session(&value, now + 10).await.is_err(), "the rotation ends the session");
        assert!(a.verify_session(&a.start_session("rotated", now).await.unwrap(), now).await.is_ok());
    }

    #[tokio::test]
    async fn disabled_lets_everyone_in() {
        assert!(Authenticator::Disabled.verify(None).await.is_ok());
    }
}
