//! The retrieval evaluation (`make eval`): the set in `eval/` indexed on a fresh local target of
//! its own, every question asked through `opsctl chat`, and the replies scored.
//!
//! - recall@1 and recall@5: the expected document is the first, or among the first five, of the
//!   passages retrieval kept (above the score floor), over the questions a document answers;
//! - hit rate: the reply holds the answer keyword in a quote cited to the expected document;
//! - false-citation rate: the share of unanswerable questions whose reply cites anything.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde::Deserialize;
use serde_json::Value;

use super::support::isolate;

#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    pub id: String,
    pub question: String,
    pub source: Option<String>,
    pub keyword: Option<String>,
    pub kind: String,
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn questions() -> Vec<Question> {
    let text =
        std::fs::read_to_string(workspace().join("eval/questions.json")).expect("read eval/questions.json");
    serde_json::from_str(&text).expect("eval/questions.json parses")
}

/// What one question got back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub reply: String,
    /// The cited passages' documents (without `docs/`) and scores, in the order retrieval ranked them.
    pub citations: Vec<(String, f32)>,
}

/// A local target of the evaluation's own, stopped by `Drop`.
pub struct EvalTarget {
    dir: PathBuf,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl EvalTarget {
    /// `local up --rag` with `extra` flags, then the whole set uploaded and indexed.
    pub fn up(name: &str, extra: &[&str]) -> EvalTarget {
        let dir = std::env::temp_dir().join(format!("opsctl-eval-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let target = EvalTarget { dir };
        let mut args = vec!["local", "up", "--rag", "--word-delay-ms", "0", "--output", "json"];
        args.extend_from_slice(extra);
        let up = target.opsctl(&args);
        assert!(up.status.success(), "local up failed:\n{}", text(&up.stderr));
        let put = target.opsctl(&["--target", "local", "docs", "put", "eval/docs"]);
        assert!(put.status.success(), "docs put failed:\n{}{}", text(&put.stdout), text(&put.stderr));
        target
    }

    pub fn opsctl(&self, args: &[&str]) -> Output {
        isolate::isolated(&mut Command::new(env!("CARGO_BIN_EXE_opsctl")))
            .current_dir(workspace())
            .args(args)
            .env("OPSCTL_LOCAL_DIR", &self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("run opsctl")
    }

    pub fn health(&self) -> Value {
        let status = self.opsctl(&["local", "status", "--output", "json"]);
        serde_json::from_slice(&status.stdout).expect("local status prints JSON")
    }

    pub fn ask(&self, question: &str) -> Answer {
        let out = self.opsctl(&["--target", "local", "chat", "--no-stream", "--output", "json", question]);
        assert!(out.status.success(), "chat failed for {question:?}:\n{}", text(&out.stderr));
        let reply: Value = serde_json::from_slice(&out.stdout).expect("chat prints JSON");
        let citations = reply["citations"]
            .as_array()
            .expect("citations")
            .iter()
            .map(|c| {
                let source = c["source"].as_str().expect("a citation's source");
                (source.trim_start_matches("docs/").to_owned(), c["score"].as_f64().expect("a score") as f32)
            })
            .collect();
        Answer { reply: reply["reply"].as_str().expect("the reply").to_owned(), citations }
    }
}

impl Drop for EvalTarget {
    fn drop(&mut self) {
        let _ = self.opsctl(&["local", "down"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub answerable: usize,
    pub unanswerable: usize,
    pub recall_1: f64,
    pub recall_5: f64,
    pub hit_rate: f64,
    pub false_citation_rate: f64,
    /// The ids of answerable questions that missed, and of unanswerable ones that cited.
    pub misses: Vec<String>,
    pub false_citations: Vec<String>,
}

/// The segments of `reply` each followed by a citation marker `[n]`, with n.
fn cited_segments(reply: &str) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = reply.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'['
            && let Some(len) = reply[i + 1..].find(']')
            && let Ok(n) = reply[i + 1..i + 1 + len].parse::<usize>()
        {
            out.push((&reply[start..i], n));
            i += len + 2;
            start = i;
            continue;
        }
        i += 1;
    }
    out
}

/// Whether `answer` quotes `keyword` cited to `source`.
pub fn hit(answer: &Answer, source: &str, keyword: &str) -> bool {
    let keyword = keyword.to_lowercase();
    cited_segments(&answer.reply).iter().any(|(segment, n)| {
        segment.to_lowercase().contains(&keyword)
            && answer.citations.get(n.wrapping_sub(1)).is_some_and(|c| c.0 == source)
    })
}

/// Whether the reply cites any passage at all.
pub fn cites(answer: &Answer) -> bool {
    cited_segments(&answer.reply).iter().any(|(_, n)| *n >= 1 && *n <= answer.citations.len())
}

/// The figures over `answers` (one per question, in order). With `floor`, citations under it are
/// dropped first, and a reply counts as citing when any remains: the retrieval side of a floor
/// the run did not use, for the calibration sweep (the hit rate is then not measured).
pub fn score(questions: &[Question], answers: &[Answer], floor: Option<f32>) -> Figures {
    let mut f = Figures::default();
    let (mut r1, mut r5, mut hits, mut cited) = (0, 0, 0, 0);
    for (q, a) in questions.iter().zip(answers) {
        let kept: Vec<&(String, f32)> =
            a.citations.iter().filter(|c| floor.is_none_or(|fl| c.1 >= fl)).collect();
        match (&q.source, &q.keyword) {
            (Some(source), Some(keyword)) => {
                f.answerable += 1;
                if kept.first().is_some_and(|c| &c.0 == source) {
                    r1 += 1;
                }
                if kept.iter().take(5).any(|c| &c.0 == source) {
                    r5 += 1;
                }
                if floor.is_none() && hit(a, source, keyword) {
                    hits += 1;
                } else if floor.is_none() {
                    f.misses.push(q.id.clone());
                }
            }
            _ => {
                f.unanswerable += 1;
                let any = if floor.is_some() { !kept.is_empty() } else { cites(a) };
                if any {
                    cited += 1;
                    f.false_citations.push(q.id.clone());
                }
            }
        }
    }
    let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    f.recall_1 = share(r1, f.answerable);
    f.recall_5 = share(r5, f.answerable);
    f.hit_rate = share(hits, f.answerable);
    f.false_citation_rate = share(cited, f.unanswerable);
    f
}

/// One embedder's run: the target started with `flags`, every question asked.
pub fn run(name: &str, flags: &[&str], questions: &[Question]) -> (Vec<Answer>, Value) {
    let target = EvalTarget::up(name, flags);
    let status = target.health();
    let answers = questions.iter().map(|q| target.ask(&q.question)).collect();
    (answers, status)
}

pub fn row(name: &str, f: &Figures) -> String {
    format!(
        "{name:<18} {:>8.3} {:>8.3} {:>8.3} {:>14.3}   ({} answerable, {} unanswerable)",
        f.recall_1, f.recall_5, f.hit_rate, f.false_citation_rate, f.answerable, f.unanswerable
    )
}

pub const HEADER: &str = "embedder           recall@1 recall@5 hit rate false citations";
