//! Embeds the web app (`web/`) in the crate: every file is read, gzipped once here rather than
//! on every request, and listed in `$OUT_DIR/web_assets.rs` for `chatbot_core::web`.
//!
//! The assets are served under one directory named by a hash of all of them, so a browser may
//! cache them for ever, and the ES modules still import each other by relative path: naming each
//! file by its own hash would mean rewriting every import, and the hashes of the importers with
//! them. `index.html` names that directory through the `%BUNDLE%` placeholder.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const PLACEHOLDER: &str = "%BUNDLE%";

fn main() {
    let root = PathBuf::from(env_var("CARGO_MANIFEST_DIR")).join("web");
    let out = PathBuf::from(env_var("OUT_DIR"));
    println!("cargo:rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    if !files.iter().any(|(rel, _)| rel == "index.html") {
        panic!("{} has no index.html: the web app cannot be built without it", root.display());
    }

    let mut hasher = Sha256::new();
    for (rel, bytes) in &files {
        hasher.update(rel.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    let bundle: String = hasher.finalize()[..8].iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });

    let staged = out.join("web");
    let mut table = String::new();
    let _ = writeln!(table, "/// The name of the directory the assets are served under.");
    let _ = writeln!(table, "pub const BUNDLE: &str = {bundle:?};");
    let _ = writeln!(table, "pub static ASSETS: &[Asset] = &[");
    for (rel, bytes) in &files {
        let bytes = if rel == "index.html" {
            String::from_utf8(bytes.clone())
                .unwrap_or_else(|_| panic!("web/index.html is not UTF-8"))
                .replace(PLACEHOLDER, &bundle)
                .into_bytes()
        } else {
            bytes.clone()
        };
        let raw = staged.join(rel);
        let gz = staged.join(format!("{rel}.gz"));
        if let Some(parent) = raw.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        std::fs::write(&raw, &bytes).unwrap_or_else(|e| panic!("writing {}: {e}", raw.display()));
        std::fs::write(&gz, gzip(&bytes)).unwrap_or_else(|e| panic!("writing {}: {e}", gz.display()));
        let _ = writeln!(
            table,
            "    Asset {{ path: {rel:?}, content_type: {:?}, raw: include_bytes!({:?}), gzip: include_bytes!({:?}) }},",
            content_type(rel),
            raw.display().to_string(),
            gz.display().to_string(),
        );
    }
    let _ = writeln!(table, "];");
    let table_path = out.join("web_assets.rs");
    std::fs::write(&table_path, table).unwrap_or_else(|e| panic!("writing {}: {e}", table_path.display()));
}

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display())).path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // Editor droppings and dotfiles are never part of the app.
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .ok()
            .and_then(|r| r.to_str())
            .unwrap_or_else(|| panic!("{}: asset paths must be UTF-8", path.display()))
            .replace('\\', "/");
        if content_type(&rel) == "application/octet-stream" {
            panic!(
                "web/{rel}: an asset of a type the app does not serve; add it to content_type in build.rs"
            );
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        files.push((rel, bytes));
    }
}

fn content_type(rel: &str) -> &'static str {
    match rel.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap_or_else(|e| panic!("gzip: {e}"));
    encoder.finish().unwrap_or_else(|e| panic!("gzip: {e}"))
}
