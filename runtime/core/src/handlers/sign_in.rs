//! The web app's sign-in: `POST /session` with `{"token": "..."}` answers 204 and sets the
//! session cookie; `GET /session` says whether the caller is signed in; `DELETE /session` signs
//! this browser out. The token itself never reaches a page script's storage.

use http::{HeaderValue, Method, Response, header};
use serde::Deserialize;

use super::{ApiRequest, ChatApp, authenticate, error_response, json_response, no_content};
use crate::domain::error::ApiError;
use crate::session;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

pub async fn route(app: &ChatApp, req: &ApiRequest) -> Result<Response<Vec<u8>>, ApiError> {
    let id = &req.request_id;
    let secure = app.settings.secure_cookies;
    match req.method {
        Method::POST => {
            let body: SignIn = serde_json::from_slice(&req.body).map_err(|_| {
                ApiError::bad_request(r#"send {"token": "<the API token>"} (see `opsctl token show`)"#)
            })?;
            let value = app.auth.start_session(&body.token, session::unix_now()).await?;
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

fn with_cookie(mut response: Response<Vec<u8>>, cookie: &str, request_id: &str) -> Response<Vec<u8>> {
    match HeaderValue::from_str(cookie) {
        Ok(value) => {
            response.headers_mut().insert(header::SET_COOKIE, value);
            response
        }
        Err(_) => error_response(&ApiError::internal(), request_id),
    }
}
