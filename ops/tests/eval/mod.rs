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
    /// How long `docs put` took to upload and index the whole set, and the chunks it made.
    pub indexing: std::time::Duration,
    pub chunks: usize,
    /// The gateway's `host:port`.
    gateway: String,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl EvalTarget {
    /// `local up --rag` with `extra` flags, then the whole set uploaded and indexed.
    pub fn up(name: &str, extra: &[&str]) -> EvalTarget {
        let dir = std::env::temp_dir().join(format!("opsctl-eval-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut target =
            EvalTarget { dir, indexing: std::time::Duration::ZERO, chunks: 0, gateway: String::new() };
        let mut args = vec!["local", "up", "--rag", "--word-delay-ms", "0", "--output", "json"];
        args.extend_from_slice(extra);
        let up = target.opsctl(&args);
        assert!(up.status.success(), "local up failed:\n{}", text(&up.stderr));
        let report: Value = serde_json::from_slice(&up.stdout).expect("local up prints JSON");
        let url = report["gateway"].as_str().expect("the gateway's URL");
        target.gateway = url.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let started = std::time::Instant::now();
        let put = target.opsctl(&["--target", "local", "--output", "json", "docs", "put", "eval/docs"]);
        target.indexing = started.elapsed();
        assert!(put.status.success(), "docs put failed:\n{}{}", text(&put.stdout), text(&put.stderr));
        let report: Value = serde_json::from_slice(&put.stdout).expect("docs put prints JSON");
        target.chunks = chunk_count(&report);
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

    pub fn status(&self) -> Value {
        let status = self.opsctl(&["local", "status", "--output", "json"]);
        serde_json::from_slice(&status.stdout).expect("local status prints JSON")
    }

    /// `GET /health` from the gateway, over plain HTTP/1.1 on loopback.
    pub fn health_endpoint(&self) -> Value {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.gateway).expect("connect to the gateway");
        write!(stream, "GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.gateway)
            .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read /health");
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("/health is not JSON ({e}): {response}"))
    }

    /// The gateway's resident and peak memory, in KiB, from /proc.
    pub fn gateway_memory(&self) -> (u64, u64) {
        let pid = self.status()["gateway"]["pid"].as_u64().expect("the gateway's pid");
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the gateway's /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
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

/// The chunks `docs put --output json` reports indexed.
fn chunk_count(report: &Value) -> usize {
    report["indexed_chunks"].as_u64().expect("docs put reports indexed_chunks") as usize
}

/// What one embedder's run measured besides the answers.
#[derive(Debug, Clone)]
pub struct RunFigures {
    pub status: Value,
    /// What the gateway's `GET /health` said.
    pub health: Value,
    pub indexing: std::time::Duration,
    pub chunks: usize,
    pub gateway_rss_kib: u64,
    pub gateway_hwm_kib: u64,
}

/// One embedder's run: the target started with `flags`, every question asked.
pub fn run(name: &str, flags: &[&str], questions: &[Question]) -> (Vec<Answer>, RunFigures) {
    let target = EvalTarget::up(name, flags);
    let status = target.status();
    let health = target.health_endpoint();
    let answers = questions.iter().map(|q| target.ask(&q.question)).collect();
    let (gateway_rss_kib, gateway_hwm_kib) = target.gateway_memory();
    let figures = RunFigures {
        status,
        health,
        indexing: target.indexing,
        chunks: target.chunks,
        gateway_rss_kib,
        gateway_hwm_kib,
    };
    (answers, figures)
}

/// The `retrieval_eval key=value…` line scripts/bench reads.
pub fn bench_line(embedder: &str, f: &Figures, run: &RunFigures) -> String {
    format!(
        "retrieval_eval embedder={embedder} recall_1={:.3} recall_5={:.3} hit_rate={:.3} false_citation_rate={:.3} \
         chunks={} indexing_s={:.2} chunks_per_s={:.1} gateway_rss_kib={} gateway_hwm_kib={}",
        f.recall_1,
        f.recall_5,
        f.hit_rate,
        f.false_citation_rate,
        run.chunks,
        run.indexing.as_secs_f64(),
        run.chunks as f64 / run.indexing.as_secs_f64().max(1e-9),
        run.gateway_rss_kib,
        run.gateway_hwm_kib
    )
}

pub fn row(name: &str, f: &Figures) -> String {
    format!(
        "{name:<18} {:>8.3} {:>8.3} {:>8.3} {:>14.3}   ({} answerable, {} unanswerable)",
        f.recall_1, f.recall_5, f.hit_rate, f.false_citation_rate, f.answerable, f.unanswerable
    )
}

pub const HEADER: &str = "embedder           recall@1 recall@5 hit rate false citations";
