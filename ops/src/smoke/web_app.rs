//! The `web_app` check: `/` serves the app as HTML under its Content-Security-Policy, with no
//! inline script, and every asset it names loads with its content type, the modules those
//! assets import included. It reads the page as any browser would, without the token.

use std::collections::BTreeSet;

use anyhow::{Context, bail, ensure};

/// A page naming more than this is not the app: stop rather than crawl.
const MAX_ASSETS: usize = 100;

/// The policy's parts a page must have: its own origin only, and no framing.
const REQUIRED_POLICY: [&str; 2] = ["default-src 'self'", "frame-ancestors 'none'"];

/// Checks the app served at the root of `api_url`.
pub async fn check(http: &reqwest::Client, api_url: &str) -> anyhow::Result<((), String)> {
    let page_url = crate::browser::app_url(api_url);
    let page = http.get(&page_url).send().await.with_context(|| format!("could not reach {page_url}"))?;
    let status = page.status().as_u16();
    let header =
        |name: &str| page.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (content_type, policy) = (header("content-type"), header("content-security-policy"));
    ensure!(status == 200, "GET / answered {status}, not the app");
    ensure!(content_type.starts_with("text/html"), "GET / is {content_type:?}, not text/html");
    ensure!(!policy.is_empty(), "GET / has no Content-Security-Policy header");
    for part in REQUIRED_POLICY {
        ensure!(policy.contains(part), "the page's Content-Security-Policy lacks {part}: {policy}");
    }
    let html = page.text().await.context("reading the page")?;
    ensure!(!has_inline_script(&html), "the page has an inline <script>, which its policy forbids");

    let origin = origin(&page_url);
    let mut pending: Vec<String> = asset_refs(&html).iter().map(|r| resolve(&page_url, &origin, r)).collect();
    ensure!(!pending.is_empty(), "the page names no assets/ file: is it the app?");
    let mut loaded = BTreeSet::new();
    while let Some(url) = pending.pop() {
        if !loaded.insert(url.clone()) {
            continue;
        }
        ensure!(loaded.len() <= MAX_ASSETS, "the page pulls in more than {MAX_ASSETS} assets");
        let body = asset(http, &url).await?;
        if is_script(&url) {
            pending.extend(module_imports(&body).iter().map(|r| resolve(&url, &origin, r)));
        }
    }
    let names: Vec<&str> = loaded.iter().map(|u| u.rsplit('/').next().unwrap_or(u)).collect();
    Ok(((), format!("the page under its policy, and {} asset(s): {}", loaded.len(), names.join(", "))))
}

/// Loads one asset: 200, with the content type its name calls for. Its text, for imports.
async fn asset(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let resp = http.get(url).send().await.with_context(|| format!("could not reach {url}"))?;
    let status = resp.status().as_u16();
    let content_type =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if status != 200 {
        bail!("{} answered {status}", path_of(url));
    }
    if !content_type_fits(url, &content_type) {
        bail!("{} is served as {content_type:?}", path_of(url));
    }
    // Text assets are read for imports; anything else only had to load.
    Ok(if is_script(url) {
        resp.text().await.with_context(|| format!("reading {url}"))?
    } else {
        String::new()
    })
}

fn path_of(url: &str) -> &str {
    url.find("://").and_then(|i| url[i + 3..].find('/').map(|j| &url[i + 3 + j..])).unwrap_or(url)
}

fn is_script(url: &str) -> bool {
    url.ends_with(".js") || url.ends_with(".mjs")
}

/// Whether `content_type` is what a browser needs for a file named like `url` (a module
/// script served as anything but JavaScript is refused by the browser, with nosniff a
/// stylesheet too).
pub fn content_type_fits(url: &str, content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    let ext = url.rsplit('.').next().unwrap_or("");
    match ext {
        "js" | "mjs" => ct.starts_with("text/javascript") || ct.starts_with("application/javascript"),
        "css" => ct.starts_with("text/css"),
        "svg" => ct.starts_with("image/svg+xml"),
        "png" => ct.starts_with("image/png"),
        "ico" => ct.starts_with("image/x-icon") || ct.starts_with("image/vnd.microsoft.icon"),
        "woff2" => ct.starts_with("font/woff2"),
        "json" | "webmanifest" => ct.contains("json"),
        _ => !ct.is_empty(),
    }
}

/// The `src` and `href` values of the page that name an asset (`assets/...`).
pub fn asset_refs(html: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for attr in ["src=", "href="] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
            let Some(end) = rest[1..].find(quote) else { break };
            let value = &rest[1..1 + end];
            if ["assets/", "/assets/", "./assets/"].iter().any(|p| value.starts_with(p)) {
                refs.push(value.to_owned());
            }
        }
    }
    refs
}

/// The relative modules a script imports (`import ... from "./x.js"`, `import "./x.js"`,
/// `import("./x.js")`).
pub fn module_imports(js: &str) -> Vec<String> {
    let mut found = Vec::new();
    for lead in ["from", "import", "import("] {
        let mut rest = js;
        while let Some(i) = rest.find(lead) {
            rest = &rest[i + lead.len()..];
            let after = rest.trim_start();
            let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
            let Some(end) = after[1..].find(quote) else { break };
            let value = &after[1..1 + end];
            if (value.starts_with("./") || value.starts_with("../")) && !found.iter().any(|f| f == value) {
                found.push(value.to_owned());
            }
        }
    }
    found
}

/// Whether a `<script>` tag has no `src`: its body would be inline script.
pub fn has_inline_script(html: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    lower.match_indices("<script").any(|(i, _)| {
        let tag = &lower[i..lower[i..].find('>').map_or(lower.len(), |e| i + e)];
        !tag.contains("src=")
    })
}

/// `scheme://host[:port]` of `url`.
fn origin(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..].find('/').map_or(url.len(), |j| after_scheme + j);
    url[..end].to_owned()
}

/// `reference` as the browser resolves it from the document or script at `base`.
pub fn resolve(base: &str, origin: &str, reference: &str) -> String {
    if let Some(absolute) = reference.strip_prefix('/') {
        return format!("{origin}/{absolute}");
    }
    let path = &base[origin.len()..];
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if !path.ends_with('/') {
        segments.pop();
    }
    for part in reference.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                segments.pop();
            }
            name => segments.push(name),
        }
    }
    format!("{origin}/{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_s_assets_and_the_modules_they_import_are_found() {
        let html = r#"<link rel="stylesheet" href="assets/abc/app.css"><script type="module" src='assets/abc/app.js'></script>
            <a href="https://example.com/">x</a><img src="data:image/png;base64,xx">"#;
        assert_eq!(asset_refs(html), ["assets/abc/app.js", "assets/abc/app.css"]);
        let js = "import { api } from './api.js';\nimport \"./theme.js\";\nconst m = import('../x/lazy.js');\nimport x from \"lib\";\nfrom './api.js'";
        assert_eq!(module_imports(js), ["./api.js", "./theme.js", "../x/lazy.js"]);
    }

    #[test]
    fn references_resolve_as_a_browser_resolves_them() {
        let o = "http://127.0.0.1:8080";
        assert_eq!(
            resolve("http://127.0.0.1:8080/", o, "assets/b/app.js"),
            "http://127.0.0.1:8080/assets/b/app.js"
        );
        assert_eq!(
            resolve("http://127.0.0.1:8080/", o, "/assets/b/app.js"),
            "http://127.0.0.1:8080/assets/b/app.js"
        );
        let js = "http://127.0.0.1:8080/assets/b/app.js";
        assert_eq!(resolve(js, o, "./api.js"), "http://127.0.0.1:8080/assets/b/api.js");
        assert_eq!(resolve(js, o, "../c/x.js"), "http://127.0.0.1:8080/assets/c/x.js");
        assert_eq!(origin("https://h.on.aws/"), "https://h.on.aws");
        assert_eq!(path_of("https://h.on.aws/assets/b/app.js"), "/assets/b/app.js");
    }

    #[test]
    fn inline_scripts_and_wrong_content_types_are_caught() {
        assert!(has_inline_script("<p><SCRIPT>alert(1)</SCRIPT></p>"));
        assert!(!has_inline_script(r#"<script type="module" src="assets/b/app.js"></script>"#));
        assert!(content_type_fits("/a/app.js", "text/javascript; charset=utf-8"));
        assert!(!content_type_fits("/a/app.js", "text/plain"));
        assert!(content_type_fits("/a/app.css", "text/css; charset=utf-8"));
        assert!(!content_type_fits("/a/app.css", "text/html"));
        assert!(!content_type_fits("/a/logo.bin", ""));
    }
}
