//! `opsctl conversations ls | show ID | rename ID TITLE | rm ID...`: the conversations API, on AWS
//! or on the local target alike, with `--output json`.

use std::process::ExitCode;

use anyhow::Context;
use chatbot_core::domain::conversations::{ConversationPage, ConversationSummary, ListPage};
use reqwest::Method;
use serde_json::{Value, json};

use crate::chat::ChatClient;
use crate::cli::{ConversationsCommand, ConversationsLsArgs};
use crate::ctx::Ctx;
use crate::printable::printable;

pub async fn run(cmd: ConversationsCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let api = ChatClient::new(&ctx.deployed().await?).await?;
    match cmd {
        ConversationsCommand::Ls(args) => ls(ctx, &api, &args).await,
        ConversationsCommand::Show { id } => show(ctx, &api, &id).await,
        ConversationsCommand::Rename { id, title } => rename(ctx, &api, &id, &title).await,
        ConversationsCommand::Rm { ids } => rm(ctx, &api, &ids).await,
    }
}

/// An API refusal: printed as the API put it, and a failing exit.
fn refused(error: &str) -> ExitCode {
    eprintln!("error: {}", printable(error));
    ExitCode::FAILURE
}

async fn ls(ctx: &Ctx, api: &ChatClient, args: &ConversationsLsArgs) -> anyhow::Result<ExitCode> {
    let mut conversations: Vec<ConversationSummary> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/conversations?limit={}", args.limit.min(100));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = match api.call(Method::GET, &path, None).await? {
            Ok(v) => v,
            Err(e) => return Ok(refused(&e)),
        };
        let page: ListPage =
            serde_json::from_value(page).context("the API's list is not a page of conversations")?;
        conversations.extend(page.conversations);
        cursor = page.cursor;
        if cursor.is_none() || !args.all && conversations.len() >= usize::from(args.limit) {
            break;
        }
    }
    ctx.out.emit(&json!({"conversations": conversations, "more": cursor.is_some()}), || {
        if conversations.is_empty() {
            return "no conversations yet: start one with `opsctl chat`".to_owned();
        }
        let mut table = comfy_table::Table::new();
        table.set_header(["ID", "TITLE", "MESSAGES", "UPDATED"]);
        for c in &conversations {
            table.add_row([
                c.conversation_id.clone(),
                c.title.clone().unwrap_or_else(|| "(untitled)".into()),
                c.message_count.to_string(),
                c.updated.clone(),
            ]);
        }
        let mut text = table.to_string();
        if cursor.is_some() {
            text.push_str("\n(more: --all lists every one)");
        }
        text
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn show(ctx: &Ctx, api: &ChatClient, id: &str) -> anyhow::Result<ExitCode> {
    let mut pages: Vec<ConversationPage> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/conversations/{}?limit=100", percent(id));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = match api.call(Method::GET, &path, None).await? {
            Ok(v) => v,
            Err(e) => return Ok(refused(&e)),
        };
        let page: ConversationPage =
            serde_json::from_value(page).context("the API's answer is not a conversation")?;
        cursor = page.cursor.clone();
        pages.push(page);
        if cursor.is_none() {
            break;
        }
    }
    let messages: Vec<_> = pages.iter().flat_map(|p| p.messages.iter().cloned()).collect();
    let title = pages.first().and_then(|p| p.title.clone());
    ctx.out.emit(&json!({"conversation_id": id, "title": title, "messages": messages}), || {
        let mut text = format!("{}\n", title.clone().unwrap_or_else(|| "(untitled)".into()));
        for m in &messages {
            let who = match (m.role.as_str(), &m.model, &m.status) {
                ("user", _, _) => "you".to_owned(),
                (_, model, status) => {
                    let mut who = model.clone().unwrap_or_else(|| "assistant".into());
                    if let Some(s) = status.as_deref().filter(|s| *s != "complete") {
                        who.push_str(&format!(", {s}"));
                    }
                    who
                }
            };
            text.push_str(&format!("\n[{}] {who}:\n{}\n", m.time, m.content));
            for (i, c) in m.citations.iter().enumerate() {
                text.push_str(&format!("  [{}] {} (chunk {})\n", i + 1, c.source, c.chunk));
            }
        }
        text
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn rename(ctx: &Ctx, api: &ChatClient, id: &str, title: &str) -> anyhow::Result<ExitCode> {
    let body = json!({ "title": title });
    let renamed =
        match api.call(Method::PATCH, &format!("/conversations/{}", percent(id)), Some(&body)).await? {
            Ok(v) => v,
            Err(e) => return Ok(refused(&e)),
        };
    let summary: ConversationSummary =
        serde_json::from_value(renamed).context("the API's answer is not a conversation")?;
    ctx.out.emit(&summary, || {
        format!("renamed {} to \"{}\"", summary.conversation_id, summary.title.clone().unwrap_or_default())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn rm(ctx: &Ctx, api: &ChatClient, ids: &[String]) -> anyhow::Result<ExitCode> {
    let mut deleted = Vec::new();
    let mut failed: Vec<Value> = Vec::new();
    for id in ids {
        match api.call(Method::DELETE, &format!("/conversations/{}", percent(id)), None).await? {
            Ok(_) => deleted.push(id.clone()),
            Err(e) => failed.push(json!({"conversation_id": id, "error": e})),
        }
    }
    ctx.out.emit(&json!({"deleted": deleted, "failed": failed}), || {
        let mut lines: Vec<String> =
            deleted.iter().map(|id| format!("deleted {id}: every message and its entry")).collect();
        for f in &failed {
            lines.push(format!(
                "could not delete {}: {}",
                f["conversation_id"].as_str().unwrap_or(""),
                f["error"].as_str().unwrap_or("")
            ));
        }
        lines.join("\n")
    })?;
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// An id as typed goes into a path: anything but a UUID's characters is escaped, so the API
/// answers a bad id with its own 400 rather than the URL changing route.
fn percent(id: &str) -> String {
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-');
    percent_encoding::utf8_percent_encode(id, ESCAPED).to_string()
}
