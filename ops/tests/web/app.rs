//! What a person does in the app, as steps the browser tests share.

use serde_json::{Value, json};

use super::browser::{Browser, key};

/// Opens the app and waits until it has decided what to show (`data-view` on the body).
pub async fn open(b: &Browser, url: &str) -> String {
    b.goto(url).await;
    let view = b.wait_for("the app to start", "return document.body.dataset.view || null").await;
    view.as_str().unwrap_or_default().to_owned()
}

pub async fn sign_in(b: &Browser, token: &str) {
    b.type_into("#token", token).await;
    b.click("#signin-button").await;
    wait_view(b, "app").await;
}

pub async fn wait_view(b: &Browser, view: &str) {
    b.wait_for(&format!("the {view} view"), &format!("return document.body.dataset.view === '{view}'")).await;
}

/// Types `text` into the composer, presses Enter, and waits for the message and its reply to
/// appear (the reply may still be streaming).
pub async fn send(b: &Browser, text: &str) {
    let before = b.js("return document.querySelectorAll('#messages .message').length").await;
    b.type_into("#message", &format!("{text}{}", key::ENTER)).await;
    let after = before.as_u64().unwrap_or_default() + 2;
    b.wait_for(
        "the message to be sent",
        &format!("return document.querySelectorAll('#messages .message').length >= {after}"),
    )
    .await;
}

pub async fn wait_reply(b: &Browser, status: &str) {
    b.wait_for(
        &format!("the last reply to be {status}"),
        &format!("const m = [...document.querySelectorAll('#messages .message.assistant')].pop(); return !!m && m.dataset.status === '{status}'"),
    )
    .await;
}

/// Each message on screen as `[role, text, status]`.
pub async fn messages(b: &Browser) -> Vec<(String, String, String)> {
    let v = b
        .js("return [...document.querySelectorAll('#messages .message')].map(m => [m.classList.contains('user') ? 'user' : 'assistant', m.querySelector('.content').textContent, m.dataset.status || ''])")
        .await;
    v.as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let s = |i: usize| m[i].as_str().unwrap_or_default().to_owned();
            (s(0), s(1), s(2))
        })
        .collect()
}

/// The conversation list as `[id, title]`, newest first.
pub async fn listed(b: &Browser) -> Vec<(String, String)> {
    let v = b
        .js("return [...document.querySelectorAll('#conversation-list li')].map(li => [li.dataset.id, li.querySelector('.conversation-title').textContent])")
        .await;
    v.as_array()
        .into_iter()
        .flatten()
        .map(|p| (p[0].as_str().unwrap_or_default().to_owned(), p[1].as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// The open conversation's id, from the address (`#/c/<id>`).
pub async fn current_id(b: &Browser) -> String {
    let v = b
        .wait_for(
            "a conversation id in the address",
            "const m = location.hash.match(/^#\\/c\\/(.+)$/); return m && m[1]",
        )
        .await;
    v.as_str().unwrap_or_default().to_owned()
}

/// Makes the page call the API with its cookie, and answers the status.
pub async fn page_fetch_status(b: &Browser, path: &str) -> u16 {
    let v = b
        .client
        .execute_async(
            "const [path, done] = arguments; fetch(path, {credentials: 'same-origin'}).then(r => done(r.status), e => done(String(e)))",
            vec![json!(path)],
        )
        .await
        .expect("fetch from the page");
    v.as_u64().map_or(0, |s| s as u16)
}

/// Is the element in the viewport and visible?
pub async fn shown(b: &Browser, css: &str) -> bool {
    b.js_with(
        "const e = document.querySelector(arguments[0]); if (!e) return false; const r = e.getBoundingClientRect(); const s = getComputedStyle(e); return r.width > 0 && r.height > 0 && r.right > 0 && r.left < innerWidth && s.visibility !== 'hidden' && s.display !== 'none'",
        vec![Value::from(css)],
    )
    .await
        == Value::Bool(true)
}

/// A question whose reply from the development model runs for a few seconds at 50 ms a word: it
/// quotes an earlier message of about 60 words back (see local/extractive's `recalled`).
pub const LONG_MESSAGE: &str = "My kangaroo notes: the kangaroo sanctuary opens at nine, the keepers feed \
    the joeys at ten, the red kangaroo mob rests under the gum trees until noon, visitors walk the \
    northern loop past the wetlands, the gift shop sells maps and postcards, the cafe closes at four, \
    and the last tram back to town leaves the sanctuary gate at half past five every single day.";
pub const LONG_QUESTION: &str = "What did I say about the kangaroo sanctuary?";

/// Raw HTML, a `javascript:` link and a remote image, in one message.
pub const HOSTILE: &str = "Zebra facts: <script>alert(1)</script> and [click me](javascript:alert(1)) \
    and ![x](http://203.0.113.9/x.png) for the zebra facts";

/// Waits until the reply being streamed shows at least `chars` characters.
pub async fn wait_streaming_text(b: &Browser, chars: usize) {
    b.wait_for(
        "the reply to start streaming",
        &format!(
            "const m = [...document.querySelectorAll('#messages .message.assistant')].pop();
             return !!m && m.dataset.status === 'streaming' && m.querySelector('.content').textContent.length >= {chars}"
        ),
    )
    .await;
}

/// No script but the app's own, no remote image, no `javascript:` link, no request to the
/// hostile image's host, no alert and no console error; the image is a plain link.
pub async fn assert_harmless(b: &Browser) {
    let scripts = b.js("return [...document.querySelectorAll('script')].map(s => s.src)").await;
    let scripts = scripts.as_array().unwrap();
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    let own = b.js("return location.origin + '/assets/'").await;
    assert!(scripts[0].as_str().unwrap().starts_with(own.as_str().unwrap()), "{scripts:?}");
    assert_eq!(b.js("return document.querySelectorAll('#messages script, #messages img, #messages iframe, #messages object').length").await, 0);
    assert_eq!(b.js("return [...document.images].filter(i => !i.src.startsWith('data:') && !i.src.startsWith(location.origin)).length").await, 0);
    assert_eq!(
        b.js(
            "return document.querySelectorAll('[href^=\"javascript:\" i], [src^=\"javascript:\" i]').length"
        )
        .await,
        0
    );
    let link = b
        .js("const a = [...document.querySelectorAll('#messages .message.assistant a')].find(a => a.href === 'http://203.0.113.9/x.png'); return a ? [a.rel, a.textContent] : null")
        .await;
    assert!(link.is_array(), "the image is not shown as a link");
    assert!(
        link[0].as_str().unwrap().contains("noopener") && link[0].as_str().unwrap().contains("noreferrer"),
        "{link}"
    );
    let reply = b.js("return [...document.querySelectorAll('#messages .message.assistant')].pop().querySelector('.content').textContent").await;
    assert!(reply.as_str().unwrap().contains("click me"), "{reply}");
    let requested =
        b.js("return performance.getEntries().map(e => e.name).filter(n => n.includes('203.0.113.9'))").await;
    assert_eq!(requested, json!([]), "the page requested the image's host");
    assert_eq!(b.js("return window.__alerts").await, 0, "a script ran");
    assert_eq!(b.console_errors().await, Vec::<String>::new());
}

/// The page is no wider than the viewport.
pub async fn assert_no_sideways_scroll(b: &Browser) {
    let widths =
        b.js("return [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]").await;
    let w: Vec<u64> = widths.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(
        w[0] <= w[2] && w[1] <= w[2],
        "the page scrolls sideways: scrollWidth {} / {}, viewport {}",
        w[0],
        w[1],
        w[2]
    );
}

/// Bytes and times of the page's load so far, from the Navigation and Resource Timing APIs:
/// `transfer` (compressed, with headers), `encoded` (bodies as sent), `decoded`, the number of
/// requests, and `interactive_ms`, from the navigation's start to the app's `interactive` mark
/// (the sign-in form or the composer enabled).
pub async fn load_figures(b: &Browser) -> Value {
    b.wait_for(
        "the load event",
        "const n = performance.getEntriesByType('navigation')[0]; return !!n && n.loadEventEnd > 0",
    )
    .await;
    b.js(
        "const nav = performance.getEntriesByType('navigation')[0];
         const res = performance.getEntriesByType('resource');
         const sum = (k) => res.reduce((n, e) => n + e[k], nav[k]);
         const mark = performance.getEntriesByName('interactive')[0];
         return {transfer: sum('transferSize'), encoded: sum('encodedBodySize'), decoded: sum('decodedBodySize'),
                 requests: res.length + 1, interactive_ms: mark ? Math.round(mark.startTime) : null,
                 resources: res.map(e => [e.name.replace(location.origin, ''), e.transferSize, e.encodedBodySize])};",
    )
    .await
}
