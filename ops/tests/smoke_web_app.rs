//! `opsctl smoke`'s web_app check: it passes against the local gateway serving the real app, and
//! fails, naming what is wrong, against sites that serve the page without its policy, with an
//! inline script, or with an asset that is missing or of the wrong type.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chatbot_core::fakes::{ScriptedModel, chat_app};
use opsctl::local::gateway;
use opsctl::smoke::web_app;

const POLICY: &str = "default-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";
const PAGE: &str = r#"<!doctype html><link rel="stylesheet" href="assets/b1/app.css"><script type="module" src="assets/b1/app.js"></script>"#;

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap()
}

async fn serve(router: Router) -> String {
    let listener = gateway::bind(0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://127.0.0.1:{port}")
}

/// A site: each path's status, content type and body; the page's policy.
#[derive(Clone)]
struct Site {
    policy: Option<&'static str>,
    files: HashMap<&'static str, (u16, &'static str, &'static str)>,
}

fn good_site() -> Site {
    Site {
        policy: Some(POLICY),
        files: HashMap::from([
            ("/", (200, "text/html; charset=utf-8", PAGE)),
            ("/assets/b1/app.css", (200, "text/css; charset=utf-8", "body{}")),
            ("/assets/b1/app.js", (200, "text/javascript", "import { api } from './api.js';")),
            ("/assets/b1/api.js", (200, "text/javascript", "export const api = 1;")),
        ]),
    }
}

async fn start(site: Site) -> String {
    let site = Arc::new(site);
    serve(Router::new().fallback(move |uri: Uri| {
        let site = site.clone();
        async move {
            let Some((status, content_type, body)) = site.files.get(uri.path()).copied() else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let mut resp: Response = (StatusCode::from_u16(status).unwrap(), body).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, content_type.parse().unwrap());
            if let Some(policy) = site.policy {
                resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy.parse().unwrap());
            }
            resp
        }
    }))
    .await
}

#[tokio::test]
async fn the_local_gateway_serves_the_app_its_policy_and_every_asset() {
    let app =
        chat_app(Arc::new(ScriptedModel::new("fake-model")), Some("web-token-0123456789")).await.unwrap();
    let listener = gateway::bind(0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(gateway::serve(listener, Arc::new(app), std::future::pending()));
    let ((), detail) = web_app::check(&client(), &format!("http://127.0.0.1:{port}")).await.unwrap();
    assert!(detail.contains("app.js") && detail.contains("app.css"), "{detail}");
}

#[tokio::test]
async fn a_good_site_passes_with_the_modules_its_scripts_import() {
    let url = start(good_site()).await;
    let ((), detail) = web_app::check(&client(), &url).await.unwrap();
    assert!(detail.contains("3 asset(s)") && detail.contains("api.js"), "{detail}");
}

#[tokio::test]
async fn each_fault_fails_the_check_and_is_named() {
    let mut cases: Vec<(Site, &str)> = Vec::new();
    let mut site = good_site();
    site.policy = None;
    cases.push((site, "no Content-Security-Policy"));
    let mut site = good_site();
    site.policy = Some("default-src 'self'");
    cases.push((site, "lacks frame-ancestors 'none'"));
    let mut site = good_site();
    site.files.insert("/", (200, "text/plain", PAGE));
    cases.push((site, "not text/html"));
    let mut site = good_site();
    site.files.insert("/", (503, "text/html", PAGE));
    cases.push((site, "GET / answered 503"));
    let mut site = good_site();
    site.files.insert(
        "/",
        (200, "text/html", "<script>alert(1)</script><script src=\"assets/b1/app.js\"></script>"),
    );
    cases.push((site, "inline <script>"));
    let mut site = good_site();
    site.files.insert("/", (200, "text/html", "<p>hello</p>"));
    cases.push((site, "names no assets/ file"));
    let mut site = good_site();
    site.files.remove("/assets/b1/app.css");
    cases.push((site, "/assets/b1/app.css answered 404"));
    let mut site = good_site();
    site.files.remove("/assets/b1/api.js");
    cases.push((site, "/assets/b1/api.js answered 404"));
    let mut site = good_site();
    site.files.insert("/assets/b1/app.js", (200, "text/plain", "import './api.js';"));
    cases.push((site, "/assets/b1/app.js is served as \"text/plain\""));

    for (site, expected) in cases {
        let url = start(site).await;
        let err = web_app::check(&client(), &url).await.unwrap_err();
        assert!(format!("{err:#}").contains(expected), "expected {expected:?} in {err:#}");
    }
}
