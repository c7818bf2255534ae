//! The web app through the router every transport calls: `/` serves the page, its assets load,
//! and every response, the API's too, carries the security headers.

use std::sync::Arc;

use chatbot_core::fakes::{ScriptedModel, chat_app};
use chatbot_core::handlers::{ApiBody, ApiRequest, ChatApp, respond};
use chatbot_core::web::{BUNDLE, WebSettings};
use http::{Method, Response, header};

async fn app(web: WebSettings) -> Arc<ChatApp> {
    let mut app =
        chat_app(Arc::new(ScriptedModel::new("fake-model")), Some("web-token-0123456789")).await.unwrap();
    app.settings.web = web;
    Arc::new(app)
}

fn get(path: &str) -> ApiRequest {
    ApiRequest {
        method: Method::GET,
        path: path.to_owned(),
        accept_encoding: Some("gzip".to_owned()),
        request_id: "r-1".to_owned(),
        ..ApiRequest::default()
    }
}

fn body(resp: Response<ApiBody>) -> Vec<u8> {
    match resp.into_body() {
        ApiBody::Full(bytes) => bytes,
        ApiBody::Events(_) => panic!("a page is never an event stream"),
    }
}

fn assert_secured(resp: &Response<ApiBody>, path: &str) {
    let csp = resp.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for part in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"] {
        assert!(csp.contains(part), "{path}: {part} not in {csp}");
    }
    assert_eq!(resp.headers()[header::REFERRER_POLICY], "no-referrer", "{path}");
    assert_eq!(resp.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_gzipped_with_the_policy() {
    let app = app(WebSettings {
        connect_sources: vec!["https://docs.s3.eu-west-1.amazonaws.com".into()],
        hsts: true,
    })
    .await;
    let page = respond(&app, &get("/")).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(page.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(page.headers()[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000");
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(csp.contains("connect-src 'self' https://docs.s3.eu-west-1.amazonaws.com;"), "{csp}");
    assert_secured(&page, "/");

    let mut html = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(body(page).as_slice()), &mut html)
        .unwrap();
    assert!(!html.contains("<script>") && !html.contains("%BUNDLE%"), "no inline script, no placeholder");
    let asset = respond(&app, &get(&format!("/assets/{BUNDLE}/app.js"))).await;
    assert_eq!(asset.status(), 200);
    assert_eq!(asset.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_secured(&asset, "app.js");
}

#[tokio::test]
async fn api_answers_carry_the_headers_too_and_the_local_target_sends_no_hsts() {
    let app = app(WebSettings { connect_sources: Vec::new(), hsts: false }).await;
    for path in ["/health", "/conversations", "/nowhere", "/assets/0123456789abcdef/app.js"] {
        let resp = respond(&app, &get(path)).await;
        assert_secured(&resp, path);
        assert!(resp.headers().get(header::STRICT_TRANSPORT_SECURITY).is_none(), "{path}");
    }
    assert_eq!(respond(&app, &get("/conversations")).await.status(), 401, "the API still needs the token");
    assert_eq!(
        respond(&app, &get("/assets/0123456789abcdef/app.js")).await.status(),
        404,
        "an old bundle is gone"
    );
}
