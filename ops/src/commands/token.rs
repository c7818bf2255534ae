//! `opsctl token show|rotate`.

use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{TokenAction, TokenArgs};
use crate::ctx::Ctx;
use crate::token;

#[derive(Serialize)]
struct TokenView<'a> {
    parameter: &'a str,
    token: &'a str,
}

pub async fn run(args: TokenArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let ssm = aws_sdk_ssm::Client::new(&ctx.sdk().await?.config);
    let name = token::parameter_name(ctx.env);
    match args.action {
        TokenAction::Show => {
            let token = token::show(&ssm, ctx.env).await?;
            ctx.out.emit(&TokenView { parameter: &name, token: &token }, || token.clone())?;
        }
        TokenAction::Rotate => {
            let token = token::rotate(&ssm, ctx.env).await?;
            ctx.out.emit(&TokenView { parameter: &name, token: &token }, || {
                format!(
                    "rotated {name}.\nThe chat Lambda accepts the new token within a minute; the old one stops working then.\n{token}"
                )
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
