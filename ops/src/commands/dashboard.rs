//! `opsctl dashboard`: the live terminal dashboard of one environment, or with `--once` a single
//! frame as text (or the fetched data as JSON) for scripts and CI logs.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::DashboardArgs;
use crate::ctx::Ctx;
use crate::dashboard::cloudwatch::CloudWatchSource;
use crate::dashboard::model::Source;
use crate::dashboard::state::{Action, App};
use crate::dashboard::{terminal, view};
use crate::dashboards::Spec;
use crate::functions::Function;

/// `--once` without a terminal to measure: wide enough for every panel's labels.
const ONCE_SIZE: (u16, u16) = (120, 40);

pub async fn run(args: DashboardArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let spec = Spec::embedded()?;
    let deployed = ctx.deployed().await?;
    let env = deployed.env.as_str();
    let chat_function = deployed.outputs.get(Function::Chat.output_key()).cloned();
    let source = CloudWatchSource::new(&deployed.sdk, spec.clone(), env, chat_function, deployed.rag);
    let mut app = App::new(spec, env, deployed.rag, args.range);
    app.vector_store = deployed.retrieval_store()?;
    if deployed.target == crate::config::Target::Local {
        app.embedder = crate::local::state::load(deployed.env)?
            .filter(|s| s.rag)
            .map(|s| s.embedder.short_name().to_owned());
    }
    let source = source.with_cost(deployed);

    if !args.once {
        anyhow::ensure!(
            std::io::stdout().is_terminal(),
            "the dashboard needs a terminal; use `opsctl dashboard --once` for a single frame as text"
        );
        terminal::run(app, Arc::new(source), args.interval).await?;
        return Ok(ExitCode::SUCCESS);
    }

    let snapshot = source.fetch(args.range).await.map_err(|e| anyhow::anyhow!("refresh failed: {e}"))?;
    if ctx.out.is_json() {
        println!("{}", serde_json::to_string_pretty(&snapshot)?);
        return Ok(ExitCode::SUCCESS);
    }
    app.update(Action::Fetched(Ok(snapshot)));
    let (width, height) = once_size();
    print!("{}", view::render_text(&app, width, height));
    Ok(ExitCode::SUCCESS)
}

fn once_size() -> (u16, u16) {
    if !std::io::stdout().is_terminal() {
        return ONCE_SIZE;
    }
    let width = ratatui::crossterm::terminal::size().map_or(ONCE_SIZE.0, |(w, _)| w);
    (width.max(view::MIN_WIDTH), ONCE_SIZE.1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_arguments_parse_with_their_defaults() {
        use std::time::Duration;

        use clap::Parser;

        use crate::cli::{Cli, Command};
        use crate::dashboard::model::TimeRange;
        let parse = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Dashboard(a)) => (a.range, a.interval, a.once),
            other => panic!("{other:?}"),
        };
        assert_eq!(parse(&["opsctl", "dashboard"]), (TimeRange::H1, Duration::from_secs(30), false));
        assert_eq!(
            parse(&["opsctl", "dashboard", "--range", "7d", "--interval", "2m", "--once"]),
            (TimeRange::D7, Duration::from_secs(120), true)
        );
        assert!(Cli::try_parse_from(["opsctl", "dashboard", "--interval", "1s"]).is_err());
    }
}
