//! `opsctl open [--print]`: the web app in the browser, signed in by a one-time link minted with
//! the API token (`POST /session/links`), on AWS or on the local target alike. The token itself
//! is never printed nor put in the link; the link works once, within a minute.

use std::process::ExitCode;

use serde_json::json;

use crate::browser;
use crate::chat::ChatClient;
use crate::cli::OpenArgs;
use crate::ctx::Ctx;
use crate::printable::printable;

pub async fn run(args: OpenArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let api = ChatClient::new(&ctx.deployed().await?).await?;
    let code = match api.sign_in_code().await? {
        Ok(code) => code,
        Err(refused) => {
            eprintln!("error: no sign-in link: {}", printable(&refused));
            return Ok(ExitCode::FAILURE);
        }
    };
    let link = browser::sign_in_link(&api.url, &code.code);
    let opened = if args.print {
        None
    } else {
        let browser_env = std::env::var("BROWSER").ok();
        match browser::open(&link, browser_env.as_deref()) {
            Ok(by) => Some(by),
            Err(why) => {
                eprintln!("could not start a browser ({})", printable(&why));
                None
            }
        }
    };
    let secs = code.expires_in;
    let report = json!({"url": link, "app": browser::app_url(&api.url), "expires_in": secs,
        "opened": opened.is_some()});
    ctx.out.emit(&report, || match &opened {
        Some(by) => format!("opened {} with {by}, signed in by a one-time link", browser::app_url(&api.url)),
        None => format!("Open this link in a browser; it signs in once, within {secs} s:\n  {link}"),
    })?;
    Ok(ExitCode::SUCCESS)
}
