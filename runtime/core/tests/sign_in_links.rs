//! One-time sign-in links over the handlers: `POST /session/links` mints a code with the bearer
//! token only, and `POST /session {"code"}` trades it once, before it expires, for the same
//! session cookie the token gives; a used, expired or unknown code is a 401 that says to run
//! `opsctl open` again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::digest::sha256_hex;
use chatbot_core::fakes::{ScriptedModel, StaticSecret, chat_app};
use chatbot_core::handlers::{ApiRequest, ChatApp, route};
use chatbot_core::ports::{SignInCodes, StoreError};
use chatbot_core::session;
use chatbot_core::sign_in_codes::MemorySignInCodes;
use http::Method;
use serde_json::{Value, json};

const TOKEN: &str = "links-token-0123456789";

/// The codes store, with every mint it was asked for.
#[derive(Default)]
struct Recorded {
    inner: MemorySignInCodes,
    minted: Mutex<Vec<(String, u64)>>,
}

#[async_trait]
impl SignInCodes for Recorded {
    async fn mint(&self, code_sha256: &str, expires_at: u64) -> Result<(), StoreError> {
        self.minted.lock().unwrap().push((code_sha256.to_owned(), expires_at));
        self.inner.mint(code_sha256, expires_at).await
    }
    async fn redeem(&self, code_sha256: &str, now: u64) -> Result<bool, StoreError> {
        self.inner.redeem(code_sha256, now).await
    }
}

struct Harness {
    app: ChatApp,
    codes: Arc<Recorded>,
    secret: Arc<StaticSecret>,
}

async fn harness() -> Harness {
    let mut app = chat_app(Arc::new(ScriptedModel::new("fake-model")), None).await.unwrap();
    let secret = Arc::new(StaticSecret::new(TOKEN));
    // Re-read on every call, so a rotation shows at once.
    app.auth = Authenticator::Token(
        TokenAuthenticator::load_with_refresh(secret.clone(), Duration::ZERO).await.unwrap(),
    );
    let codes = Arc::new(Recorded::default());
    app.sign_in_codes = codes.clone();
    Harness { app, codes, secret }
}

struct Reply {
    status: u16,
    json: Value,
    set_cookie: Option<String>,
}

impl Reply {
    fn message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or("")
    }
    /// The `Cookie` header a browser would send back.
    fn cookie(&self) -> String {
        self.set_cookie.as_deref().expect("a Set-Cookie header").split(';').next().unwrap().to_owned()
    }
}

async fn call(h: &Harness, method: Method, path: &str, auth: Auth<'_>, body: &str) -> Reply {
    let mut req = ApiRequest {
        method,
        path: path.to_owned(),
        body: body.to_owned().into(),
        request_id: "req-links".to_owned(),
        ..ApiRequest::default()
    };
    match auth {
        Auth::None => {}
        Auth::Bearer(token) => req.authorization = Some(format!("Bearer {token}")),
        Auth::Cookie(cookie) => {
            req.cookie = Some(cookie.to_owned());
            req.csrf = Some("1".to_owned());
        }
    }
    let resp = route(&h.app, &req).await;
    let set_cookie = resp.headers().get(http::header::SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
    let json = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    Reply { status: resp.status().as_u16(), json, set_cookie }
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// The cookie, with the web app's CSRF header as well.
    Cookie(&'a str),
}

async fn mint(h: &Harness) -> String {
    let r = call(h, Method::POST, "/session/links", Auth::Bearer(TOKEN), "").await;
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["code"].as_str().unwrap().to_owned()
}

fn code_body(code: &str) -> String {
    json!({ "code": code }).to_string()
}

#[tokio::test]
async fn a_link_is_minted_with_the_bearer_token_only_and_only_its_hash_is_stored() {
    let h = harness().await;
    let before = session::unix_now();
    let r = call(&h, Method::POST, "/session/links", Auth::Bearer(TOKEN), "").await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["expires_in"], 60);
    let code = r.json["code"].as_str().unwrap();
    assert_eq!(code.len(), 64, "32 random bytes as hex: {code}");
    assert!(code.bytes().all(|b| b.is_ascii_hexdigit()));
    let minted = h.codes.minted.lock().unwrap().clone();
    assert_eq!(minted.len(), 1);
    let (stored, expires_at) = &minted[0];
    assert_eq!(*stored, sha256_hex(code.as_bytes()), "the store holds the code's SHA-256, not the code");
    assert!((before + 60..=session::unix_now() + 60).contains(expires_at), "expires in 60 s: {expires_at}");
    assert_ne!(mint(&h).await, code, "every link is new");

    for refused in [Auth::None, Auth::Bearer("wrong-token")] {
        let r = call(&h, Method::POST, "/session/links", refused, "").await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (401, Some("unauthorized")));
        assert!(r.json.get("code").is_none());
    }
    // A signed-in browser, CSRF header and all, cannot copy its session into a link.
    let signed = call(&h, Method::POST, "/session", Auth::None, &json!({ "token": TOKEN }).to_string()).await;
    assert_eq!(signed.status, 204);
    let cookie = signed.cookie();
    assert_eq!(call(&h, Method::GET, "/session", Auth::Cookie(&cookie), "").await.status, 200);
    let by_cookie = call(&h, Method::POST, "/session/links", Auth::Cookie(&cookie), "").await;
    assert_eq!(by_cookie.status, 401, "{}", by_cookie.json);
    assert_eq!(h.codes.minted.lock().unwrap().len(), 2, "no code was minted by cookie or without the token");
    let get = call(&h, Method::GET, "/session/links", Auth::Bearer(TOKEN), "").await;
    assert_eq!(get.status, 405);
}

#[tokio::test]
async fn a_code_signs_in_once_with_the_token_s_cookie() {
    let h = harness().await;
    let code = mint(&h).await;
    let r = call(&h, Method::POST, "/session", Auth::None, &code_body(&code)).await;
    assert_eq!(r.status, 204, "{}", r.json);
    let set = r.set_cookie.clone().unwrap();
    for part in ["chat_session=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800", "Secure"] {
        assert!(set.contains(part), "{set} lacks {part}");
    }
    let cookie = r.cookie();
    let me = call(&h, Method::GET, "/session", Auth::Cookie(&cookie), "").await;
    assert_eq!((me.status, &me.json), (200, &json!({"signed_in": true})));
    let list = call(&h, Method::GET, "/conversations", Auth::Cookie(&cookie), "").await;
    assert_eq!(list.status, 200, "{}", list.json);

    let again = call(&h, Method::POST, "/session", Auth::None, &code_body(&code)).await;
    assert_eq!((again.status, again.json["error"]["code"].as_str()), (401, Some("unauthorized")));
    assert!(again.set_cookie.is_none(), "no cookie the second time");
    assert!(again.message().contains("opsctl open"), "{}", again.message());

    // The session is the token's: rotating the token ends it.
    h.secret.set("rotated-token-9876543210");
    let ended = call(&h, Method::GET, "/session", Auth::Cookie(&cookie), "").await;
    assert_eq!(ended.status, 401);
}

#[tokio::test]
async fn an_expired_unknown_or_malformed_code_is_refused_with_the_way_out() {
    let h = harness().await;
    // A code whose minute is up: minted as the handler would, with an expiry already past.
    let expired = "ab".repeat(32);
    h.codes.mint(&sha256_hex(expired.as_bytes()), session::unix_now() - 1).await.unwrap();
    let unknown = "cd".repeat(32);
    for code in [expired.as_str(), unknown.as_str(), "", "not-a-code", &"AB".repeat(32)] {
        let r = call(&h, Method::POST, "/session", Auth::None, &code_body(code)).await;
        assert_eq!(r.status, 401, "{code:?}: {}", r.json);
        assert!(r.set_cookie.is_none(), "{code:?}");
        assert!(r.message().contains("run `opsctl open` again"), "{}", r.message());
    }
    // An expired code is used up too: it never works, whatever the clock says later.
    assert!(!h.codes.redeem(&sha256_hex(expired.as_bytes()), 0).await.unwrap());
}

#[tokio::test]
async fn the_token_still_signs_in_and_a_body_must_name_one_way() {
    let h = harness().await;
    let token = call(&h, Method::POST, "/session", Auth::None, &json!({ "token": TOKEN }).to_string()).await;
    assert_eq!(token.status, 204);
    assert!(token.set_cookie.unwrap().starts_with("chat_session="));
    let code = mint(&h).await;
    for body in [json!({"token": TOKEN, "code": code}).to_string(), "{}".into(), r#"{"code": 7}"#.into()] {
        let r = call(&h, Method::POST, "/session", Auth::None, &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.json);
        assert!(r.set_cookie.is_none());
    }
    // A refused body does not use the code up.
    assert_eq!(call(&h, Method::POST, "/session", Auth::None, &code_body(&code)).await.status, 204);
}
