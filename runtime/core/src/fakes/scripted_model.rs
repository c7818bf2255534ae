//! A chat model that plays a script of replies, streams and failures, then echoes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;

use super::lock;
use crate::domain::api::Usage;
use crate::domain::message::Role;
use crate::domain::prompt::Prompt;
use crate::ports::{ChatModel, ModelError, ModelEvent, ModelReply, ModelStream, STOP_END_TURN};

/// How a scripted stream goes after its deltas.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptedStream {
    /// `End` with `end_turn`.
    Ends,
    /// An error item, as a model failing mid-reply sends.
    Fails(ModelError),
    /// Nothing more, ever: a model gone silent, until the stream is dropped.
    Hangs,
}

enum Step {
    Reply(String),
    Fail(ModelError),
    Stream { deltas: Vec<String>, gap: Duration, then: ScriptedStream },
}

/// Plays its script in order, for `complete` and `stream` alike, then echoes the last user
/// turn. It records every prompt, and counts streams dropped before they ended: a handler that
/// stops generation drops the stream.
pub struct ScriptedModel {
    id: String,
    script: Mutex<VecDeque<Step>>,
    prompts: Mutex<Vec<Prompt>>,
    dropped: Arc<AtomicUsize>,
}

impl ScriptedModel {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            script: Mutex::default(),
            prompts: Mutex::default(),
            dropped: Arc::default(),
        }
    }

    pub fn then_reply(&self, text: &str) -> &Self {
        lock(&self.script).push_back(Step::Reply(text.to_owned()));
        self
    }

    /// Fails before any text: `stream()` itself returns the error.
    pub fn then_fail(&self, err: ModelError) -> &Self {
        lock(&self.script).push_back(Step::Fail(err));
        self
    }

    /// Streams `deltas`, `gap` apart, then goes as `then` says. `complete` joins the deltas.
    pub fn then_stream(&self, deltas: &[&str], gap: Duration, then: ScriptedStream) -> &Self {
        let deltas = deltas.iter().map(|d| (*d).to_owned()).collect();
        lock(&self.script).push_back(Step::Stream { deltas, gap, then });
        self
    }

    pub fn prompts(&self) -> Vec<Prompt> {
        lock(&self.prompts).clone()
    }

    pub fn last_prompt(&self) -> Option<Prompt> {
        lock(&self.prompts).last().cloned()
    }

    /// Streams dropped before their end: generation the caller stopped.
    pub fn streams_dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    fn next(&self, prompt: &Prompt) -> Step {
        lock(&self.prompts).push(prompt.clone());
        lock(&self.script).pop_front().unwrap_or_else(|| {
            let last = prompt.turns.iter().rev().find(|t| t.role == Role::User);
            Step::Reply(format!("echo: {}", last.map(|t| t.text.as_str()).unwrap_or("")))
        })
    }

    fn usage(prompt: &Prompt, text: &str) -> Usage {
        let input = words(&prompt.system) + prompt.turns.iter().map(|t| words(&t.text)).sum::<u32>();
        Usage { input_tokens: input, output_tokens: words(text) }
    }
}

fn words(s: &str) -> u32 {
    u32::try_from(s.split_whitespace().count()).unwrap_or(u32::MAX)
}

/// Counts a drop unless the stream reached its end.
struct DropCounter {
    dropped: Arc<AtomicUsize>,
    finished: bool,
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        if !self.finished {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl ChatModel for ScriptedModel {
    fn id(&self) -> &str {
        &self.id
    }

    async fn complete(&self, prompt: &Prompt) -> Result<ModelReply, ModelError> {
        let text = match self.next(prompt) {
            Step::Reply(text) => text,
            Step::Fail(e) | Step::Stream { then: ScriptedStream::Fails(e), .. } => return Err(e),
            Step::Stream { deltas, .. } => deltas.concat(),
        };
        Ok(ModelReply { model: self.id.clone(), usage: Self::usage(prompt, &text), text })
    }

    async fn stream(&self, prompt: &Prompt) -> Result<ModelStream, ModelError> {
        let (deltas, gap, then) = match self.next(prompt) {
            Step::Fail(e) => return Err(e),
            Step::Reply(text) => (vec![text], Duration::ZERO, ScriptedStream::Ends),
            Step::Stream { deltas, gap, then } => (deltas, gap, then),
        };
        let end = ModelEvent::End {
            model: self.id.clone(),
            stop_reason: STOP_END_TURN.to_owned(),
            usage: Self::usage(prompt, &deltas.concat()),
        };
        let counter = DropCounter { dropped: self.dropped.clone(), finished: false };
        let items: VecDeque<String> = deltas.into();
        let stream = futures_util::stream::unfold(
            (items, Some(then), end, counter, true),
            move |(mut items, then, end, mut counter, first)| async move {
                if let Some(delta) = items.pop_front() {
                    if !first && !gap.is_zero() {
                        tokio::time::sleep(gap).await;
                    }
                    return Some((Ok(ModelEvent::Delta(delta)), (items, then, end, counter, false)));
                }
                match then? {
                    ScriptedStream::Ends => {
                        counter.finished = true;
                        Some((Ok(end.clone()), (items, None, end, counter, false)))
                    }
                    ScriptedStream::Fails(e) => {
                        counter.finished = true;
                        Some((Err(e), (items, None, end, counter, false)))
                    }
                    ScriptedStream::Hangs => {
                        std::future::pending::<()>().await;
                        None
                    }
                }
            },
        );
        Ok(stream.boxed())
    }
}
