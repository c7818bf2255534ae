//! The smoke checks of streaming and the conversations API: a streamed turn, the conversation in
//! the list, and a delete that leaves nothing in the raw table.

use anyhow::{Context, bail, ensure};
use chatbot_core::domain::conversations::ListPage;
use chatbot_core::domain::sse::{self, EventParser, StreamEvent};
use serde_json::json;

use super::{Api, conversation_items};
use crate::deployed::Deployed;

/// Pages of the list looked through for the conversation: it was updated a moment ago, so it is
/// on the first unless the list is busy.
const LIST_PAGES: usize = 5;

/// A streamed turn in `conversation`: at least two `delta` events, then `done`.
pub(super) async fn stream(api: &Api, conversation: &str) -> anyhow::Result<((), String)> {
    let body = json!({"message": "Please list the days of the week.", "conversation_id": conversation});
    let mut resp = api
        .http
        .post(format!("{}/chat", api.url))
        .bearer_auth(&api.token)
        .header(reqwest::header::ACCEPT, sse::CONTENT_TYPE)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("could not reach {}/chat", api.url))?;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    ensure!(status.is_success(), "POST /chat with Accept: text/event-stream answered {status}");
    ensure!(
        content_type.starts_with(sse::CONTENT_TYPE),
        "POST /chat with Accept: text/event-stream answered {content_type}, not an event stream: this \
         deployment buffers its replies"
    );
    let (mut parser, mut deltas, mut names) = (EventParser::new(), 0, Vec::new());
    while let Some(chunk) = resp.chunk().await.context("the stream broke off")? {
        for raw in parser.push(&chunk)? {
            let Some(event) = StreamEvent::decode(&raw.event, &raw.data) else { continue };
            let event = event.with_context(|| format!("a malformed `{}` event", raw.event))?;
            names.push(event.name());
            match event {
                StreamEvent::Delta(_) => deltas += 1,
                StreamEvent::Done(_) => {
                    ensure!(deltas >= 2, "only {deltas} delta event(s) before done: {names:?}");
                    return Ok(((), format!("{deltas} deltas, then done")));
                }
                StreamEvent::Error(e) => {
                    bail!("the stream ended in error: {}: {}", e.error.code, e.error.message)
                }
                StreamEvent::Start(_) | StreamEvent::Citations(_) => {}
            }
        }
    }
    bail!("the stream ended without done: {names:?}")
}

/// The conversation is in `GET /conversations`, with its messages counted.
pub(super) async fn listed(api: &Api, conversation: &str) -> anyhow::Result<((), String)> {
    let mut cursor: Option<String> = None;
    for _ in 0..LIST_PAGES {
        let mut url = format!("{}/conversations?limit=100", api.url);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let resp = api.http.get(&url).bearer_auth(&api.token).send().await.context("GET /conversations")?;
        let status = resp.status();
        ensure!(status.is_success(), "GET /conversations answered {status}");
        let page: ListPage = resp.json().await.context("GET /conversations answered no list")?;
        if let Some(found) = page.conversations.iter().find(|c| c.conversation_id == conversation) {
            ensure!(
                found.message_count >= 4,
                "listed with {} messages, expected at least 4",
                found.message_count
            );
            ensure!(found.title.is_some(), "listed without a title");
            return Ok(((), format!("listed with {} messages", found.message_count)));
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    bail!("conversation {conversation} is not in GET /conversations")
}

/// `DELETE /conversations/{id}` answers 204, twice, and the table holds no item of it after.
pub(super) async fn delete(api: &Api, d: &Deployed, conversation: &str) -> anyhow::Result<((), String)> {
    let url = format!("{}/conversations/{conversation}", api.url);
    for attempt in ["", " again"] {
        let resp =
            api.http.delete(&url).bearer_auth(&api.token).send().await.context("DELETE /conversations")?;
        let status = resp.status().as_u16();
        ensure!(status == 204, "DELETE /conversations/{{id}}{attempt} answered {status}, not 204");
    }
    let left = conversation_items(d, d.output("TableName")?, conversation).await?;
    ensure!(left.is_empty(), "{} item(s) of the conversation are still in the table", left.len());
    Ok(((), "204 twice; no item left in the table".into()))
}
