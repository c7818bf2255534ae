//! `opsctl package`: build the runtime Lambdas into `target/lambda/<function>/bootstrap.zip`.

use std::process::ExitCode;

use anyhow::bail;
use comfy_table::Table;

use crate::cli::PackageArgs;
use crate::ctx::Ctx;
use crate::package::{self, Artifact, Function, Workspace};

pub async fn run(args: PackageArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let ws = Workspace::locate()?;
    let functions: Vec<Function> = match args.function {
        Some(f) if !ws.has(f) => {
            bail!("function `{}` has no crate in this workspace (package {})", f.name(), f.package())
        }
        Some(f) => vec![f],
        None => Function::ALL.into_iter().filter(|f| ws.has(*f)).collect(),
    };
    for f in Function::ALL.iter().filter(|f| !ws.has(**f)) {
        eprintln!("note: no crate for the {} function yet ({}); skipping it", f.name(), f.package());
    }
    let artifacts = package::build_artifacts(&ws, args.arch, &functions)?;
    ctx.out.emit(&artifacts, || table(&artifacts))?;
    Ok(ExitCode::SUCCESS)
}

fn table(artifacts: &[Artifact]) -> String {
    let mut t = Table::new();
    t.set_header(["function", "arch", "size", "glibc", "sha256", "zip"]);
    for a in artifacts {
        t.add_row([
            a.function.name().to_owned(),
            a.arch.lambda_name().to_owned(),
            format!("{:.1} MiB", a.bytes as f64 / 1_048_576.0),
            a.glibc.clone().unwrap_or_else(|| "static".into()),
            a.sha256[..16].to_owned(),
            a.path.display().to_string(),
        ]);
    }
    t.to_string()
}
