//! The shape of `ops/src`, checked from its `use crate::…` and `crate::…` paths:
//! - no import cycle among its modules (each file is one module);
//! - only `main.rs` and `commands/` import `cli`, the command line's types;
//! - no command imports another command (`commands::stack_report` renders for several and is
//!   not a command).
//!
//! A cycle names every module in it, so the message says where to cut.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`crate::stack::deploy`) → the modules its file refers to.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `a/b.rs` → `crate::a::b`, `a/mod.rs` → `crate::a`, `lib.rs` → `crate`; `main.rs` → `main`.
fn module_of(relative: &Path) -> String {
    let mut parts: Vec<String> =
        relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
    match parts.last().map(String::as_str) {
        Some("main") if parts.len() == 1 => return "main".into(),
        Some("mod") | Some("lib") => {
            parts.pop();
        }
        _ => {}
    }
    std::iter::once("crate".to_owned()).chain(parts).collect::<Vec<_>>().join("::")
}

/// The code without its comments (a `//` after whitespace or at a line's start).
fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| {
            let cut = line
                .match_indices("//")
                .find(|(i, _)| *i == 0 || line[..*i].ends_with(char::is_whitespace))
                .map_or(line.len(), |(i, _)| i);
            &line[..cut]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands `a::{b, c::{self, d}}` into `a::b`, `a::c`, `a::c::d`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else {
        return vec![tree.trim_end_matches("::self").to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let Some(close) = tree.rfind('}').filter(|c| *c > open) else {
        return Vec::new();
    };
    let inner = &tree[open + 1..close];
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(|item| {
            if item == "self" {
                vec![prefix.to_owned()]
            } else {
                expand(item).into_iter().map(|rest| format!("{prefix}::{rest}")).collect()
            }
        })
        .collect()
}

/// Every path the code names from `crate::` or `super::`, made absolute. `super` is the file's
/// parent module; `use super::*` is left out, as it is the idiom of a file's inline test module,
/// whose `super` is the file itself.
fn paths_in(module: &str, code: &str) -> Vec<String> {
    let absolute = |p: &str| -> Option<String> {
        if p.starts_with("crate::") {
            return Some(p.to_owned());
        }
        if p == "super::*" || !p.starts_with("super::") {
            return None;
        }
        let mut base = module.to_owned();
        let mut rest = p;
        while let Some(r) = rest.strip_prefix("super::") {
            base = base.rsplit_once("::").map_or("crate".to_owned(), |(parent, _)| parent.to_owned());
            rest = r;
        }
        Some(format!("{base}::{rest}"))
    };
    let mut out = Vec::new();
    for line_start in code.lines().map(str::trim_start) {
        let Some(tree) = line_start.strip_prefix("pub use ").or_else(|| line_start.strip_prefix("use "))
        else {
            continue;
        };
        if !(tree.starts_with("crate::") || tree.starts_with("super::")) {
            continue;
        }
        // A use statement may span lines: read on to its `;`.
        let at = code.find(tree).unwrap_or(0);
        let end = code[at..].find(';').map_or(code.len(), |e| at + e);
        for p in expand(&code[at..end]) {
            out.extend(absolute(&p));
        }
    }
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let at = from + at;
            let before_ok =
                code[..at].chars().last().is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != ':');
            let len = code[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(code.len() - at);
            if before_ok {
                out.extend(absolute(code[at..at + len].trim_end_matches(':')));
            }
            from = at + len.max(1);
        }
    }
    out
}

/// The module a path lands in: its longest prefix that is a module.
fn resolve(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|p| modules.contains(p) && p != "crate")
}

fn graph_of(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let relative = |f: &PathBuf| f.strip_prefix(src).unwrap().to_path_buf();
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&relative(f))).collect();
    let mut graph = Graph::new();
    for file in &files {
        let rel = relative(file);
        let module = module_of(&rel);
        let code = without_comments(&std::fs::read_to_string(file).unwrap());
        let targets = paths_in(&module, &code)
            .iter()
            .filter_map(|p| resolve(p, &modules))
            .filter(|t| *t != module)
            .collect();
        graph.insert(module, targets);
    }
    graph
}

/// The strongly connected components with more than one module (Tarjan's algorithm).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        for t in w.graph.get(v).into_iter().flatten() {
            let t = t.as_str();
            if !w.graph.contains_key(t) {
                continue;
            }
            if !w.index.contains_key(t) {
                visit(w, t);
                let low = w.low[v].min(w.low[t]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(t) {
                let low = w.low[v].min(w.index[t]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(top) = w.stack.pop() {
                w.on_stack.remove(top);
                component.push(top.to_owned());
                if top == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut w = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

/// Who may import what: `cli` only from main and the commands; a command only the shared renderer.
fn layering_faults(graph: &Graph) -> Vec<String> {
    // The command a module belongs to (`crate::commands::docs::x` → `docs`).
    let command = |m: &str| {
        m.strip_prefix("crate::commands::")
            .map(|rest| rest.split("::").next().unwrap_or(rest).to_owned())
            .filter(|c| c != "stack_report")
    };
    let in_commands = |m: &str| m == "crate::commands" || m.starts_with("crate::commands::");
    let mut faults = Vec::new();
    for (module, targets) in graph {
        for t in targets {
            if t == "crate::cli" && module != "main" && !in_commands(module) {
                faults.push(format!("{module} imports the command line (crate::cli)"));
            }
            if let (Some(a), Some(b)) = (command(module), command(t))
                && a != b
            {
                faults.push(format!("{module} calls another command, {t}"));
            }
            if !in_commands(module) && module != "main" && module != "crate::cli" && in_commands(t) {
                faults.push(format!("{module} imports a command, {t}"));
            }
        }
    }
    faults
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_modules_of_ops_src_import_each_other_without_a_cycle() {
    let graph = graph_of(&src_dir());
    assert!(graph.len() > 40, "found only {} modules: is the parser reading src/?", graph.len());
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles among the modules of ops/src (cut one edge of each):\n{}",
        found.iter().map(|c| format!("  {}", c.join(", "))).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn only_the_binary_and_the_commands_know_the_command_line() {
    let faults = layering_faults(&graph_of(&src_dir()));
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

#[test]
fn a_planted_cycle_is_found_and_named() {
    let dir = std::env::temp_dir().join(format!("opsctl-cycles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("stack")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod alarms;\npub mod stack;\npub mod leaf;\n").unwrap();
    // A comment naming crate::leaf is not an import.
    std::fs::write(dir.join("leaf.rs"), "// crate::alarms::x\npub fn f() {}\n").unwrap();
    std::fs::write(dir.join("alarms.rs"), "use crate::stack::{self, deploy::Plan};\nuse crate::leaf;\n")
        .unwrap();
    std::fs::write(dir.join("stack/mod.rs"), "pub mod deploy;\n").unwrap();
    std::fs::write(dir.join("stack/deploy.rs"), "fn g() { super::super::x(); crate::alarms::read(); }\n")
        .unwrap();
    let graph = graph_of(&dir);
    assert_eq!(cycles(&graph), [vec!["crate::alarms".to_owned(), "crate::stack::deploy".to_owned()]]);
    assert!(graph["crate::leaf"].is_empty());

    std::fs::write(dir.join("alarms.rs"), "use crate::leaf;\n").unwrap();
    assert!(cycles(&graph_of(&dir)).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
