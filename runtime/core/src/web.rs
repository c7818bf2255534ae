//! The web app, served by the same router as the API: `GET /` is the page, and its assets are
//! under `assets/<bundle>/`, embedded at build time (see `build.rs`) and sent gzipped to a
//! browser that accepts it. One origin serves both, so the API needs no CORS.
//!
//! Every response of the router, the API's included, carries the security headers of
//! [`secure`]: the page runs only its own scripts, talks only to its own origin (and, on AWS, the
//! documents bucket its uploads go to), and cannot be framed.

use http::{HeaderValue, Method, Response, StatusCode, header};

use crate::domain::error::ApiError;

/// One embedded file of the app.
pub struct Asset {
    /// Relative to `web/`, with `/` separators.
    pub path: &'static str,
    pub content_type: &'static str,
    pub raw: &'static [u8],
    pub gzip: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Assets never change under one bundle name: a new build is a new name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// How the app's responses are secured where it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSettings {
    /// Origins the page may connect to besides its own: on AWS, the documents bucket that
    /// presigned uploads go straight to.
    pub connect_sources: Vec<String>,
    /// Whether to send `Strict-Transport-Security`: only over HTTPS, which the local gateway
    /// is not.
    pub hsts: bool,
}

/// The page's Content-Security-Policy: its own scripts and styles only, no inline script, no
/// remote image (a prompt-injected reply could leak the conversation through an image URL).
pub fn content_security_policy(settings: &WebSettings) -> String {
    let mut connect = String::from("'self'");
    for source in &settings.connect_sources {
        connect.push(' ');
        connect.push_str(source);
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; \
         object-src 'none'"
    )
}

/// Adds the security headers to any response of the router.
pub fn secure<B>(response: &mut Response<B>, settings: &WebSettings) {
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(settings)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if settings.hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
}

/// What an app path names.
#[derive(Debug, PartialEq, Eq)]
pub enum AppPath<'a> {
    Page,
    /// `bundle` and the asset's path under it.
    Asset(&'a str, &'a str),
}

/// The app's paths: `/` (or `/index.html`) and `/assets/...`. Everything else is the API's.
pub fn app_path(path: &str) -> Option<AppPath<'_>> {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() || trimmed == "index.html" {
        return Some(AppPath::Page);
    }
    let rest = trimmed.strip_prefix("assets/")?;
    let (bundle, file) = rest.split_once('/')?;
    Some(AppPath::Asset(bundle, file))
}

/// What the browser asked with, besides the path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    pub accept_encoding: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
}

/// Serves an app path.
pub fn serve(
    method: &Method,
    path: AppPath<'_>,
    conditions: Conditions<'_>,
    request_id: &str,
) -> Result<Response<Vec<u8>>, ApiError> {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return Err(ApiError::method_not_allowed("GET / (the web app)"));
    }
    let (asset, cache) = match path {
        AppPath::Page => (find("index.html"), "no-cache"),
        // An asset of an older bundle is gone: the page that asked must be reloaded.
        AppPath::Asset(bundle, file) if bundle == BUNDLE => {
            (find(file).filter(|a| a.path != "index.html"), IMMUTABLE)
        }
        AppPath::Asset(..) => (None, IMMUTABLE),
    };
    let Some(asset) = asset else {
        return Err(ApiError::not_found());
    };
    let etag = format!("\"{BUNDLE}\"");
    let mut builder = Response::builder()
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, etag.as_str())
        .header(header::VARY, "accept-encoding")
        .header("x-request-id", request_id);
    if conditions.if_none_match.is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag)) {
        return builder.status(StatusCode::NOT_MODIFIED).body(Vec::new()).map_err(|_| ApiError::internal());
    }
    builder = builder.status(StatusCode::OK).header(header::CONTENT_TYPE, asset.content_type);
    let body = if accepts_gzip(conditions.accept_encoding) {
        builder = builder.header(header::CONTENT_ENCODING, "gzip");
        asset.gzip
    } else {
        asset.raw
    };
    let body = if *method == Method::HEAD { Vec::new() } else { body.to_vec() };
    builder.body(body).map_err(|_| ApiError::internal())
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether `Accept-Encoding` allows gzip: named (or `*`) with a non-zero quality.
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|value| {
        value.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let q = parts.filter_map(|p| p.strip_prefix("q=")).next_back();
            (name.eq_ignore_ascii_case("gzip") || name == "*")
                && q.is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, accept_encoding: Option<&str>) -> Response<Vec<u8>> {
        let path = app_path(path).expect("an app path");
        serve(&Method::GET, path, Conditions { accept_encoding, if_none_match: None }, "r1").unwrap()
    }

    #[test]
    fn the_page_names_the_current_bundle_and_every_asset_it_names_is_served() {
        let page = get("/", None);
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
        let html = String::from_utf8(page.into_body()).unwrap();
        assert!(!html.contains("%BUNDLE%"));
        let prefix = format!("assets/{BUNDLE}/");
        let named: Vec<&str> =
            html.split(&prefix).skip(1).filter_map(|rest| rest.split('"').next()).collect();
        assert!(named.contains(&"app.js") && named.contains(&"app.css"), "{named:?}");
        for file in named {
            let asset = get(&format!("/{prefix}{file}"), None);
            assert_eq!(asset.status(), 200, "{file}");
            assert_eq!(asset.headers()[header::CACHE_CONTROL], IMMUTABLE);
        }
    }

    #[test]
    fn assets_are_gzipped_only_for_a_browser_that_accepts_it() {
        let path = format!("/assets/{BUNDLE}/app.js");
        let plain = get(&path, None);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(plain.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        let zipped = get(&path, Some("gzip, deflate, br"));
        assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(zipped.body().as_slice()),
            &mut unzipped,
        )
        .unwrap();
        assert_eq!(&unzipped, plain.body());
        assert!(get(&path, Some("gzip;q=0")).headers().get(header::CONTENT_ENCODING).is_none());
    }

    #[test]
    fn an_old_bundle_an_unknown_file_and_index_under_assets_are_not_found() {
        let conditions = Conditions::default();
        for path in [
            "/assets/0000000000000000/app.js",
            &format!("/assets/{BUNDLE}/nope.js"),
            &format!("/assets/{BUNDLE}/index.html"),
        ] {
            let err = serve(&Method::GET, app_path(path).unwrap(), conditions, "r").unwrap_err();
            assert_eq!(err.status, 404, "{path}");
        }
        let err = serve(&Method::POST, AppPath::Page, conditions, "r").unwrap_err();
        assert_eq!(err.status, 405);
        assert_eq!(app_path("/chat"), None);
        assert_eq!(app_path("/assets"), None);
    }

    #[test]
    fn a_page_the_browser_has_answers_not_modified() {
        let etag = format!("\"{BUNDLE}\"");
        let conditions = Conditions { accept_encoding: None, if_none_match: Some(&etag) };
        let resp = serve(&Method::GET, AppPath::Page, conditions, "r").unwrap();
        assert_eq!(resp.status(), 304);
        assert!(resp.body().is_empty());
        let head = serve(&Method::HEAD, AppPath::Page, Conditions::default(), "r").unwrap();
        assert_eq!(head.status(), 200);
        assert!(head.body().is_empty());
    }

    #[test]
    fn the_policy_allows_only_the_own_origin_and_the_listed_bucket() {
        let local = content_security_policy(&WebSettings::default());
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "connect-src 'self';",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(local.contains(part), "{part} in {local}");
        }
        assert!(!local.contains("unsafe"), "{local}");
        let aws =
            WebSettings { connect_sources: vec!["https://b.s3.us-east-1.amazonaws.com".into()], hsts: true };
        assert!(
            content_security_policy(&aws)
                .contains("connect-src 'self' https://b.s3.us-east-1.amazonaws.com;")
        );
        let mut resp = Response::new(());
        secure(&mut resp, &aws);
        assert_eq!(resp.headers()[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000");
        assert_eq!(resp.headers()[header::REFERRER_POLICY], "no-referrer");
        let mut resp = Response::new(());
        secure(&mut resp, &WebSettings::default());
        assert!(resp.headers().get(header::STRICT_TRANSPORT_SECURITY).is_none());
    }
}
