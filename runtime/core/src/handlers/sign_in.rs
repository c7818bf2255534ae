//! The web app's sign-in: `POST /session` with `{"token": "..."}` or with a one-time
//! `{"code": "..."}` answers 204 and sets the session cookie; `GET /session` says whether the
//! caller is signed in; `DELETE /session` signs this browser out. `POST /session/links` mints
//! the one-time code `opsctl open` puts in the link it opens. The token itself never reaches a
//! page script's storage.

use http::{HeaderValue, Method, Response, header};
use serde::Deserialize;

use super::{ApiRequest, ChatApp, authenticate, error_response, json_response, no_content};
use crate::domain::error::ApiError;
use crate::ports::StoreError;
use crate::{session, sign_in_codes};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: Option<String>,
    code: Option<String>,
}

const SIGN_IN_BODY: &str =
    r#"send {"token": "<the API token>"} (see `opsctl token show`), or {"code": "..."} from `opsctl open`"#;

pub async fn route(app: &ChatApp, req: &ApiRequest) -> Result<Response<Vec<u8>>, ApiError> {
    let id = &req.request_id;
    let secure = app.settings.secure_cookies;
    match req.method {
        Method::POST => {
            let body: SignIn =
                serde_json::from_slice(&req.body).map_err(|_| ApiError::bad_request(SIGN_IN_BODY))?;
            let now = session::unix_now();
            let value = match (body.token, body.code) {
                (Some(token), None) => app.auth.start_session(&token, now).await?,
                (None, Some(code)) => redeem(app, &code, now, id).await?,
                _ => return Err(ApiError::bad_request(SIGN_IN_BODY)),
            };
            Ok(with_cookie(no_content(id), &session::set_cookie(&value, session::LIFETIME, secure), id))
        }
        Method::GET => {
            authenticate(app, req).await?;
            Ok(json_response(200, &serde_json::json!({"signed_in": true}), id))
        }
        Method::DELETE => Ok(with_cookie(no_content(id), &session::clear_cookie(secure), id)),
        _ => Err(ApiError::method_not_allowed("POST, GET or DELETE /session")),
    }
}

/// `POST /session/links`: a code that signs a browser in once, within
/// [`sign_in_codes::LIFETIME`]. Only the bearer token may mint one: a cookie rides along on
/// requests a page makes, and a session must not be able to copy itself into a link.
pub async fn mint_link(app: &ChatApp, req: &ApiRequest) -> Result<Response<Vec<u8>>, ApiError> {
    let id = &req.request_id;
    app.auth.verify(req.authorization.as_deref()).await?;
    let code = sign_in_codes::new_code().ok_or_else(|| {
        tracing::error!(request_id = %id, "the system's random source failed; no sign-in code");
        ApiError::internal()
    })?;
    let lifetime = sign_in_codes::LIFETIME.as_secs();
    app.sign_in_codes
        .mint(&code.sha256, session::unix_now().saturating_add(lifetime))
        .await
        .map_err(|e| store_failed(id, e))?;
    Ok(json_response(201, &serde_json::json!({"code": *code.code, "expires_in": lifetime}), id))
}

/// A session for the current token, if `code` is a live code; used up either way.
async fn redeem(app: &ChatApp, code: &str, now: u64, request_id: &str) -> Result<String, ApiError> {
    let Some(hash) = sign_in_codes::presented_hash(code) else {
        return Err(ApiError::sign_in_link_used());
    };
    if !app.sign_in_codes.redeem(&hash, now).await.map_err(|e| store_failed(request_id, e))? {
        return Err(ApiError::sign_in_link_used());
    }
    Ok(app.auth.session_for_current_token(now).await)
}

fn store_failed(request_id: &str, e: StoreError) -> ApiError {
    tracing::error!(request_id, error = %e, "the sign-in codes store failed");
    ApiError::internal()
}

fn with_cookie(mut response: Response<Vec<u8>>, cookie: &str, request_id: &str) -> Response<Vec<u8>> {
    match HeaderValue::from_str(cookie) {
        Ok(value) => {
            response.headers_mut().insert(header::SET_COOKIE, value);
            response
        }
        Err(_) => error_response(&ApiError::internal(), request_id),
    }
}
