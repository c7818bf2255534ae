//! The web app in a real browser (Debian's Chromium, headless, over WebDriver), each test against
//! a local target of its own started by the real binary with RAG on and the development model at
//! 50 ms a word. The scenarios are issue 18's; the support code is in tests/web/.

mod support;

#[path = "web/app.rs"]
mod app;
#[path = "web/browser.rs"]
mod browser;
#[path = "web/local_target.rs"]
mod local_target;

use std::time::Duration;

use browser::{Browser, DESKTOP, PHONE, Theme, key};
use local_target::LocalTarget;
use serde_json::Value;

/// 1. Without the token only the sign-in form shows and the API answers 401; the token signs
/// in, the page never holds it, and signing out ends the session.
#[tokio::test(flavor = "multi_thread")]
async fn only_the_sign_in_form_shows_until_the_token_is_given() {
    let target = LocalTarget::up("signin");
    let b = Browser::start("signin", DESKTOP, Theme::Light).await;
    assert_eq!(app::open(&b, &target.url).await, "signin");
    assert!(app::shown(&b, "#signin-form").await);
    for hidden in ["#app-view", "#messages", "#composer", "#conversation-list"] {
        assert!(!app::shown(&b, hidden).await, "{hidden} shows before sign-in");
    }
    assert_eq!(app::page_fetch_status(&b, "/conversations").await, 401);
    assert_eq!(app::page_fetch_status(&b, "/session").await, 401);
    b.screenshot("desktop-light-signin").await;

    b.type_into("#token", "not-the-token").await;
    b.click("#signin-button").await;
    b.wait_for("the refusal", "return document.getElementById('signin-error').textContent").await;
    assert_eq!(b.js("return document.body.dataset.view").await, "signin");
    assert!(!app::shown(&b, "#app-view").await);

    b.js("document.getElementById('token').value = ''").await;
    app::sign_in(&b, &target.token).await;
    assert!(app::shown(&b, "#composer").await && !app::shown(&b, "#signin-form").await);
    assert_eq!(app::page_fetch_status(&b, "/conversations").await, 200);
    // The cookie is HttpOnly, and nothing the page's scripts can read holds the token.
    let readable = b
        .js("return [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.getElementById('token').value].join('|')")
        .await;
    let readable = readable.as_str().unwrap_or_default();
    assert!(!readable.contains(&target.token), "the token is readable by the page: {readable}");
    assert_eq!(readable, "|{}|{}|");

    // A reload stays signed in (GET /session decides), and signing out ends it.
    assert_eq!(app::open(&b, &target.url).await, "app");
    b.click("#signout-button").await;
    app::wait_view(&b, "signin").await;
    assert_eq!(app::page_fetch_status(&b, "/conversations").await, 401);
    assert_eq!(app::open(&b, &target.url).await, "signin");
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    b.close().await;
}

/// 2. The reply's text grows on screen, word by word, before the reply completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_grows_while_it_streams() {
    let target = LocalTarget::up("stream");
    let b = Browser::start("stream", DESKTOP, Theme::Light).await;
    app::open(&b, &target.url).await;
    app::sign_in(&b, &target.token).await;
    app::send(&b, app::LONG_MESSAGE).await;
    app::wait_reply(&b, "complete").await;

    // A recorder in the page notes the reply's length at every change, until it completes.
    b.js(
        "window.__lengths = []; const box = document.getElementById('messages');
         new MutationObserver(() => {
           const m = [...box.querySelectorAll('.message.assistant')].pop();
           if (m) window.__lengths.push([performance.now(), m.querySelector('.content').textContent.length, m.dataset.status]);
         }).observe(box, {subtree: true, childList: true, characterData: true, attributes: true});",
    )
    .await;
    app::send(&b, app::LONG_QUESTION).await;
    assert_eq!(
        b.wait_for("the streaming region", "const m = [...document.querySelectorAll('#messages .message.assistant')].pop(); return m.dataset.status === 'streaming' && m.closest('[aria-live=polite]') !== null").await,
        Value::Bool(true)
    );
    app::wait_reply(&b, "complete").await;
    let samples = b.js("return window.__lengths").await;
    let streaming: Vec<(f64, u64)> = samples
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[2] == "streaming")
        .map(|s| (s[0].as_f64().unwrap(), s[1].as_u64().unwrap()))
        .collect();
    let mut distinct: Vec<u64> = streaming.iter().map(|s| s.1).filter(|l| *l > 0).collect();
    distinct.dedup();
    assert!(distinct.len() >= 10, "the reply did not grow word by word: {distinct:?}");
    assert!(distinct.windows(2).all(|w| w[0] < w[1]), "the text shrank while streaming: {distinct:?}");
    let first = streaming.iter().find(|s| s.1 > 0).unwrap().0;
    let last = streaming.last().unwrap().0;
    assert!(last - first > 500.0, "all the text came within {:.0} ms", last - first);
    let (_, reply, _) = app::messages(&b).await.pop().unwrap();
    assert!(reply.contains("kangaroo sanctuary"), "{reply}");
    b.close().await;
}

/// 3. After a reload the conversation is in the list; opening it shows both messages.
#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_is_listed_after_a_reload_and_opens_with_both_messages() {
    let target = LocalTarget::up("reload");
    let b = Browser::start("reload", DESKTOP, Theme::Light).await;
    app::open(&b, &target.url).await;
    app::sign_in(&b, &target.token).await;
    app::send(&b, "Remember that the boat leaves at seven.").await;
    app::wait_reply(&b, "complete").await;
    let id = app::current_id(&b).await;
    let reply = app::messages(&b).await[1].1.clone();

    // A fresh load of the app's address, with no conversation in it: a new document.
    b.js("window.__before_reload = true").await;
    assert_eq!(app::open(&b, &format!("{}/", target.url)).await, "app");
    assert_eq!(b.js("return window.__before_reload === undefined").await, true, "the page was not reloaded");
    b.wait_for("the list", "return document.querySelectorAll('#conversation-list li').length").await;
    assert_eq!(app::messages(&b).await, vec![]);
    let listed = app::listed(&b).await;
    assert_eq!(listed[0], (id.clone(), "Remember that the boat leaves at seven.".to_owned()));
    b.click(&format!("#conversation-list li[data-id='{id}'] a")).await;
    b.wait_for("both messages", "return document.querySelectorAll('#messages .message').length === 2").await;
    let shown = app::messages(&b).await;
    assert_eq!(
        shown[0],
        ("user".to_owned(), "Remember that the boat leaves at seven.".to_owned(), String::new())
    );
    assert_eq!((shown[1].0.as_str(), shown[1].2.as_str()), ("assistant", "complete"));
    assert_eq!(shown[1].1.trim(), reply.trim());
    assert_eq!(app::current_id(&b).await, id);
    b.close().await;
}

/// 4. Rename, then delete after a confirmation: gone from the list and from the raw table.
#[tokio::test(flavor = "multi_thread")]
async fn rename_then_delete_removes_it_from_the_list_and_the_table() {
    let target = LocalTarget::up("delete");
    let b = Browser::start("delete", DESKTOP, Theme::Light).await;
    app::open(&b, &target.url).await;
    app::sign_in(&b, &target.token).await;
    app::send(&b, "A conversation to rename").await;
    app::wait_reply(&b, "complete").await;
    let id = app::current_id(&b).await;
    b.wait_for("the list", "return document.querySelectorAll('#conversation-list li').length").await;
    assert!(target.table_items(&id).await >= 3, "the conversation is not in the table");

    b.click("#rename-button").await;
    b.wait_for("the rename dialog", "return document.getElementById('rename-dialog').open").await;
    b.js("document.getElementById('rename-input').value = ''").await;
    b.type_into("#rename-input", &format!("Trip to Porto{}", key::ENTER)).await;
    b.wait_for("the new title in the list", "return document.querySelector('#conversation-list .conversation-title').textContent === 'Trip to Porto'").await;
    assert_eq!(
        b.js("return document.getElementById('conversation-title').textContent").await,
        "Trip to Porto"
    );

    // Cancel first: nothing is deleted.
    b.click("#delete-button").await;
    b.wait_for("the confirmation", "return document.getElementById('confirm-dialog').open").await;
    let asked = b.js("return document.getElementById('confirm-text').textContent").await;
    assert!(asked.as_str().unwrap().contains("Trip to Porto"), "{asked}");
    b.click("#confirm-dialog button[value=cancel]").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app::listed(&b).await.len(), 1);

    b.click("#delete-button").await;
    b.wait_for("the confirmation", "return document.getElementById('confirm-dialog').open").await;
    b.click("#confirm-ok").await;
    b.wait_for("the list to empty", "return document.querySelectorAll('#conversation-list li').length === 0")
        .await;
    assert_eq!(app::messages(&b).await, vec![]);
    assert_eq!(target.table_items(&id).await, 0, "items of the deleted conversation are left in the table");
    app::open(&b, &target.url).await;
    b.wait_for("the list to load", "return document.body.dataset.view === 'app'").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app::listed(&b).await, vec![]);
    b.close().await;
}

/// 6. A hostile reply (raw HTML, a `javascript:` link, a remote image) renders as text and a
/// plain link: no script or remote image in the DOM, no request to the image's host, no alert,
/// no console error. The development model quotes the person's earlier words back, which is
/// how the reply comes to hold them.
#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_reply_renders_as_text_and_loads_nothing() {
    let target = LocalTarget::up("hostile");
    let b = Browser::start("hostile", DESKTOP, Theme::Light).await;
    app::open(&b, &target.url).await;
    app::sign_in(&b, &target.token).await;
    b.js("window.__alerts = 0; window.alert = () => { window.__alerts += 1; };").await;
    app::send(&b, app::HOSTILE).await;
    app::wait_reply(&b, "complete").await;
    app::send(&b, "Tell me the zebra facts again").await;
    app::wait_reply(&b, "complete").await;
    let shown = app::messages(&b).await;
    assert_eq!(shown[0].1, app::HOSTILE, "the person's own message is not shown as typed");
    assert!(
        shown[3].1.contains("<script>alert(1)</script>"),
        "the raw HTML is not shown as text: {}",
        shown[3].1
    );
    app::assert_harmless(&b).await;

    // The same checks on the stored reply, as a reload renders it.
    b.js("document.getElementById('messages').replaceChildren()").await;
    b.client.refresh().await.unwrap();
    app::wait_view(&b, "app").await;
    b.wait_for("the stored messages", "return document.querySelectorAll('#messages .message').length === 4")
        .await;
    b.js("window.__alerts = 0; window.alert = () => { window.__alerts += 1; };").await;
    app::assert_harmless(&b).await;
    assert_eq!(b.js("return window.__alerts").await, 0);
    b.close().await;
}

/// 7. Stop a streaming reply: the partial text stays, marked stopped, and still is after a
/// reload; Retry then asks again and the new reply completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_reply_stays_marked_stopped_after_a_reload() {
    let target = LocalTarget::up("stop");
    let b = Browser::start("stop", DESKTOP, Theme::Light).await;
    app::open(&b, &target.url).await;
    app::sign_in(&b, &target.token).await;
    app::send(&b, app::LONG_MESSAGE).await;
    app::wait_reply(&b, "complete").await;
    app::send(&b, app::LONG_QUESTION).await;
    app::wait_streaming_text(&b, 120).await;
    b.click("#stop-button").await;
    app::wait_reply(&b, "stopped").await;
    let partial = app::messages(&b).await.pop().unwrap().1;
    assert!(!partial.contains("every single day"), "the reply ran to its end: {partial}");
    assert_eq!(b.js("return [...document.querySelectorAll('.message.assistant')].pop().querySelector('.mark').textContent").await, "Stopped");
    let id = app::current_id(&b).await;

    // The server keeps what it wrote once it sees the caller go away; a reload reads it back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.js("document.getElementById('messages').replaceChildren()").await;
    b.client.refresh().await.unwrap();
    app::wait_view(&b, "app").await;
    assert_eq!(app::current_id(&b).await, id);
    b.wait_for("the stored messages", "return document.querySelectorAll('#messages .message').length === 4")
        .await;
    let stored = app::messages(&b).await.pop().unwrap();
    assert_eq!(stored.2, "stopped", "{stored:?}");
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let shown_words = words(&partial);
    assert!(
        words(&stored.1).starts_with(&shown_words[..shown_words.len() - 12]),
        "stored {:?} is not what was shown {:?}",
        stored.1,
        partial
    );
    assert!(!stored.1.contains("every single day"));
    assert_eq!(b.js("return [...document.querySelectorAll('.message.assistant')].pop().querySelector('.mark').textContent").await, "Stopped");

    b.click(".message.assistant:last-of-type .retry").await;
    b.wait_for("the retried reply", "return document.querySelectorAll('#messages .message').length === 6")
        .await;
    app::wait_reply(&b, "complete").await;
    let retried = app::messages(&b).await;
    assert_eq!(retried[4].1, app::LONG_QUESTION);
    assert!(retried[5].1.contains("every single day"), "{}", retried[5].1);
    b.close().await;
}

/// 8. At 375x812: no horizontal scroll, the list opens from the menu button, a message can be
/// sent; and still no horizontal scroll at 360 px.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_phone_the_list_is_behind_a_menu_and_nothing_scrolls_sideways() {
    let target = LocalTarget::up("phone");
    let b = Browser::start("phone", PHONE, Theme::Light).await;
    assert_eq!(b.js("return innerWidth").await, 375);
    app::open(&b, &target.url).await;
    app::assert_no_sideways_scroll(&b).await;
    b.screenshot("phone-light-signin").await;
    app::sign_in(&b, &target.token).await;
    assert!(app::shown(&b, "#menu-button").await);
    assert!(!app::shown(&b, "#sidebar").await, "the list shows beside the chat on a phone");

    app::send(&b, "Hello from a phone: where is the spare key?").await;
    app::wait_reply(&b, "complete").await;
    app::assert_no_sideways_scroll(&b).await;
    let id = app::current_id(&b).await;

    b.click("#menu-button").await;
    b.wait_for("the list to slide in", "const r = document.getElementById('sidebar').getBoundingClientRect(); return r.left >= 0 && r.width > 0").await;
    assert!(app::shown(&b, "#sidebar").await);
    assert_eq!(
        b.js("return document.getElementById('menu-button').getAttribute('aria-expanded')").await,
        "true"
    );
    assert_eq!(app::listed(&b).await[0].0, id);
    app::assert_no_sideways_scroll(&b).await;
    b.screenshot("phone-light-menu").await;

    b.click("#new-conversation").await;
    b.wait_for("the list to close", "return !document.body.classList.contains('menu-open')").await;
    app::send(&b, "A second one").await;
    app::wait_reply(&b, "complete").await;
    b.click("#menu-button").await;
    b.wait_for("the list to slide in", "const r = document.getElementById('sidebar').getBoundingClientRect(); return document.body.classList.contains('menu-open') && r.left >= 0").await;
    b.click(&format!("#conversation-list li[data-id='{id}'] a")).await;
    b.wait_for("the first conversation", "return document.querySelectorAll('#messages .message').length === 2 && !document.body.classList.contains('menu-open')").await;
    app::assert_no_sideways_scroll(&b).await;
    // The narrowest phone the app is made for.
    b.set_viewport(360, 740).await;
    app::assert_no_sideways_scroll(&b).await;
    assert!(app::shown(&b, "#send-button").await && app::shown(&b, "#delete-button").await);
    b.close().await;
}

/// 9. Keyboard only: sign in, send, stop with Esc; every control is reached with Tab, and the
/// focus shows.
#[tokio::test(flavor = "multi_thread")]
async fn keyboard_only_sign_in_send_and_stop() {
    let target = LocalTarget::up("keyboard");
    let b = Browser::start("keyboard", DESKTOP, Theme::Light).await;
    app::open(&b, &target.url).await;
    assert_eq!(b.focused().await, "token");
    b.keys(&format!("{}{}", target.token, key::ENTER)).await;
    app::wait_view(&b, "app").await;
    assert_eq!(b.focused().await, "message");

    // Shift+Enter is a new line; Enter sends.
    b.keys(&format!("line one{}line two", key::SHIFT_ENTER)).await;
    assert_eq!(b.js("return document.getElementById('message').value").await, "line one\nline two");
    assert_eq!(app::messages(&b).await, vec![]);
    b.keys(&format!("{}a{}{}", key::CONTROL, key::CONTROL, key::BACKSPACE)).await;
    b.keys(&format!("{}{}", app::LONG_MESSAGE, key::ENTER)).await;
    app::wait_reply(&b, "complete").await;
    b.wait_for("the focus back in the composer", "return document.activeElement.id === 'message'").await;
    b.keys(&format!("{}{}", app::LONG_QUESTION, key::ENTER)).await;
    app::wait_streaming_text(&b, 120).await;
    b.keys(key::ESCAPE).await;
    app::wait_reply(&b, "stopped").await;
    assert!(!app::messages(&b).await.pop().unwrap().1.contains("every single day"));

    // Tab walks every control of the page, each with a visible focus ring.
    let mut reached = Vec::new();
    for _ in 0..30 {
        b.keys(key::TAB).await;
        let here = b.focused().await;
        if here.starts_with("body:") {
            // Past the last control, the focus leaves the page for the browser's own.
            continue;
        }
        let ring = b.js("return getComputedStyle(document.activeElement).outlineStyle").await;
        assert_ne!(ring, "none", "no visible focus on {here}");
        reached.push(here);
    }
    for control in [
        "new-conversation",
        "signout-button",
        "documents-button",
        "rename-button",
        "delete-button",
        "message",
        "send-button",
    ] {
        assert!(reached.iter().any(|r| r == control), "Tab never reaches #{control}: {reached:?}");
    }
    assert!(reached.iter().any(|r| r.starts_with("a:")), "Tab never reaches a conversation: {reached:?}");
    assert!(reached.iter().any(|r| r.starts_with("button:Retry")), "Tab never reaches Retry: {reached:?}");
    b.close().await;
}

/// Screenshots, desktop and phone, light and dark, under <target>/screenshots/, of a cited
/// answer; and the first load's figures from the Navigation and Resource Timing APIs.
#[tokio::test(flavor = "multi_thread")]
async fn screenshots_and_first_load_figures() {
    let target = LocalTarget::up("shots");
    let put = target.opsctl(&["--target", "local", "docs", "put", "samples/docs"]);
    assert!(put.status.success(), "docs put: {}", String::from_utf8_lossy(&put.stderr));

    let b = Browser::start("shots-light", DESKTOP, Theme::Light).await;
    app::open(&b, &target.url).await;
    let first = app::load_figures(&b).await;
    println!("first load (sign-in form): {first}");
    assert!(
        first["transfer"].as_f64().unwrap() < 100.0 * 1024.0,
        "the first load transferred over 100 KB: {first}"
    );
    assert!(
        first["interactive_ms"].as_f64().unwrap() < 1000.0,
        "the sign-in form took over a second: {first}"
    );
    assert_eq!(b.js("return matchMedia('(prefers-color-scheme: dark)').matches").await, false);

    app::sign_in(&b, &target.token).await;
    app::send(&b, "Where is the spare house key kept?").await;
    app::wait_reply(&b, "complete").await;
    let id = app::current_id(&b).await;
    b.wait_for(
        "the citation marks",
        "return document.querySelectorAll('.message.assistant .citation').length",
    )
    .await;
    b.wait_for("the list", "return document.querySelectorAll('#conversation-list li').length").await;
    b.js("document.activeElement.blur()").await;
    b.screenshot("desktop-light-chat").await;
    b.click(".message.assistant .citation").await;
    b.wait_for("the cited passage", "return document.getElementById('citation-dialog').open").await;
    b.screenshot("desktop-light-citation").await;
    b.keys(key::ESCAPE).await;

    // Signed in, with the assets cached (immutable): the composer is ready.
    b.client.refresh().await.unwrap();
    app::wait_view(&b, "app").await;
    let warm = app::load_figures(&b).await;
    println!("signed-in reload (cached assets): {warm}");
    // One line for scripts/bench, which writes it to BENCHMARKS.md.
    println!(
        "web_first_load transfer_bytes={} encoded_bytes={} decoded_bytes={} requests={} interactive_ms={} warm_transfer_bytes={} warm_interactive_ms={}",
        first["transfer"],
        first["encoded"],
        first["decoded"],
        first["requests"],
        first["interactive_ms"],
        warm["transfer"],
        warm["interactive_ms"]
    );
    b.set_viewport(PHONE.0, PHONE.1).await;
    b.screenshot("phone-light-chat").await;
    b.close().await;

    let b = Browser::start("shots-dark", DESKTOP, Theme::Dark).await;
    app::open(&b, &target.url).await;
    assert_eq!(b.js("return matchMedia('(prefers-color-scheme: dark)').matches").await, true);
    let background = b.js("return getComputedStyle(document.body).backgroundColor").await;
    assert_eq!(background, "rgb(21, 24, 28)", "the dark theme is not applied");
    b.screenshot("desktop-dark-signin").await;
    app::sign_in(&b, &target.token).await;
    app::open(&b, &format!("{}/#/c/{id}", target.url)).await;
    b.wait_for("the conversation", "return document.querySelectorAll('#messages .message').length === 2 && document.querySelectorAll('#conversation-list li').length").await;
    b.js("document.activeElement.blur()").await;
    b.screenshot("desktop-dark-chat").await;
    b.set_viewport(PHONE.0, PHONE.1).await;
    b.screenshot("phone-dark-chat").await;
    b.click("#menu-button").await;
    b.wait_for("the list", "return document.body.classList.contains('menu-open')").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.screenshot("phone-dark-menu").await;
    b.close().await;
}

/// A one-time sign-in link (`opsctl open`) signs the browser in and leaves the address; the same
/// link a second time shows the sign-in form with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_one_time_sign_in_link_signs_in_once() {
    let target = LocalTarget::up("link");
    let open = target.opsctl(&["--target", "local", "open", "--print", "--output", "json"]);
    assert!(open.status.success(), "opsctl open: {}", String::from_utf8_lossy(&open.stderr));
    let link: Value = serde_json::from_slice(&open.stdout).expect("opsctl open prints JSON");
    let link = link["url"].as_str().expect("the link").to_owned();
    assert!(link.contains("#signin="), "{link}");

    let b = Browser::start("link", DESKTOP, Theme::Light).await;
    assert_eq!(app::open(&b, &link).await, "app");
    assert_eq!(b.js("return location.hash").await, "", "the code stays in the address");
    assert_eq!(app::page_fetch_status(&b, "/conversations").await, 200);

    b.click("#signout-button").await;
    app::wait_view(&b, "signin").await;
    // The tab already shows the app, so only the fragment changes.
    b.goto(&link).await;
    b.wait_for(
        "the refusal",
        "return document.getElementById('signin-error').textContent.includes('already used or has expired')",
    )
    .await;
    assert_eq!(
        b.js("return [document.body.dataset.view, location.hash]").await,
        serde_json::json!(["signin", ""])
    );
    assert_eq!(app::page_fetch_status(&b, "/conversations").await, 401);
    b.close().await;
}

/// 5. A Markdown document uploaded from the panel is indexed, an answer cites it, and its
/// citation shows the passage; a file of another type is refused before anything is sent; the
/// document can be deleted.
#[tokio::test(flavor = "multi_thread")]
async fn an_uploaded_document_is_indexed_and_its_citation_shows_the_passage() {
    let target = LocalTarget::up("upload");
    let files = std::env::temp_dir().join(format!("opsctl-web-upload-{}", std::process::id()));
    std::fs::create_dir_all(&files).unwrap();
    let doc = files.join("ferry-timetable.md");
    std::fs::write(
        &doc,
        "# Ferry timetable\n\nThe night ferry to Lundy Island leaves the harbour at 23:15 from pier four.\n",
    )
    .unwrap();
    let refused = files.join("tool.exe");
    std::fs::write(&refused, "MZ not a document").unwrap();

    let b = Browser::start("upload", DESKTOP, Theme::Light).await;
    app::open(&b, &target.url).await;
    app::sign_in(&b, &target.token).await;
    b.wait_for("the documents button", "return !document.getElementById('documents-button').hidden").await;
    b.click("#documents-button").await;
    b.wait_for("the limits", "return document.getElementById('documents-limits').textContent").await;

    b.find("#file-input").await.send_keys(refused.to_str().unwrap()).await.expect("choose a file");
    b.wait_for(
        "the refusal",
        "return document.getElementById('documents-status').textContent.includes('tool.exe')",
    )
    .await;
    assert_eq!(
        b.js("return performance.getEntriesByType('resource').filter(e => e.name.includes('/documents/uploads')).length").await,
        0,
        "a refused file was sent"
    );

    b.find("#file-input").await.send_keys(doc.to_str().unwrap()).await.expect("choose a file");
    let status = b
        .wait_for(
            "the document to be indexed",
            "const d = [...document.querySelectorAll('#documents-list .document')].find(d => d.dataset.name.includes('ferry-timetable.md'));
             return d && d.dataset.status === 'indexed' && d.querySelector('.document-status').textContent",
        )
        .await;
    assert!(status.as_str().unwrap().contains("chunk"), "no chunk count: {status}");
    b.screenshot("desktop-light-documents").await;
    b.click("#documents-dialog .actions button").await;
    b.wait_for("the panel to close", "return !document.getElementById('documents-dialog').open").await;

    app::send(&b, "When does the night ferry to Lundy Island leave?").await;
    app::wait_reply(&b, "complete").await;
    let reply = app::messages(&b).await.pop().unwrap().1;
    assert!(reply.contains("23:15"), "the answer does not quote the document: {reply}");
    b.wait_for("a citation", "return document.querySelectorAll('.message.assistant .citation').length").await;
    b.click(".message.assistant .citation").await;
    b.wait_for("the cited passage", "return document.getElementById('citation-dialog').open").await;
    let cited = b.js("return [document.getElementById('citation-source').textContent, document.getElementById('citation-passage').textContent]").await;
    assert!(cited[0].as_str().unwrap().contains("ferry-timetable.md"), "{cited}");
    assert!(cited[1].as_str().unwrap().contains("leaves the harbour at 23:15"), "{cited}");
    b.keys(key::ESCAPE).await;

    b.click("#documents-button").await;
    b.wait_for("the list", "const l = document.getElementById('documents-list'); return !l.hasAttribute('aria-busy') && l.querySelectorAll('.document').length").await;
    b.click("#documents-list .document button").await;
    b.wait_for("the confirmation", "return document.getElementById('confirm-dialog').open").await;
    b.click("#confirm-ok").await;
    b.wait_for("the document to go", "return ![...document.querySelectorAll('#documents-list .document')].some(d => d.dataset.name.includes('ferry-timetable.md'))").await;
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    b.close().await;
    let _ = std::fs::remove_dir_all(&files);
}

/// A lost connection shows a banner and keeps what was typed; the app retries until the server
/// answers again, then the message can be sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_connection_shows_a_banner_keeps_the_text_and_recovers() {
    let target = LocalTarget::up("offline");
    let b = Browser::start("offline", DESKTOP, Theme::Light).await;
    app::open(&b, &target.url).await;
    app::sign_in(&b, &target.token).await;
    app::send(&b, "Remember the harbour code is 4471.").await;
    app::wait_reply(&b, "complete").await;

    target.kill_gateway();
    b.type_into("#message", &format!("Typed while the server is away{}", key::ENTER)).await;
    b.wait_for("the banner", "const b = document.getElementById('banner'); return !b.hidden && b.textContent.includes('Connection lost')").await;
    assert_eq!(
        b.js("return document.getElementById('message').value").await,
        "Typed while the server is away"
    );
    let said = b.js("return document.getElementById('composer-status').textContent").await;
    assert!(said.as_str().unwrap().contains("connection was lost"), "{said}");
    assert_eq!(app::messages(&b).await.len(), 2);
    b.screenshot("desktop-light-offline").await;

    let _gateway = target.restart_gateway();
    b.wait_for("the banner to go", "return document.getElementById('banner').hidden").await;
    b.type_into("#message", key::ENTER).await;
    b.wait_for(
        "the message to be sent",
        "return document.querySelectorAll('#messages .message').length === 4",
    )
    .await;
    app::wait_reply(&b, "complete").await;
    assert_eq!(app::messages(&b).await[2].1, "Typed while the server is away");
    assert_eq!(b.js("return document.getElementById('message').value").await, "");
    b.close().await;
}
