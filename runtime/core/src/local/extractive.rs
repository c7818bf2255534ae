//! `local/extractive`: the local target's development chat model. It is never deployed to AWS
//! (the Lambdas use Bedrock), and it names itself in every reply, both in `model` and in the text,
//! so nobody mistakes its quotes for a real model's answer.
//!
//! It generates nothing. It quotes up to three sentences of the retrieved passages
//! (`Prompt::sources`), each followed by its citation marker. Because it only quotes, it cannot
//! invent.
//!
//! With an embedder (the local target gives it all-MiniLM-L6-v2), it picks the sentences closest
//! in meaning to the last user turn, with a bonus for the question's words they share. Every
//! passage it is given has passed the retrieval floor, so it always quotes one: it says nothing
//! answers only when retrieval found no passage above the floor. Without an embedder (the
//! `local/hashing` fallback), it picks by shared words alone, with a light stemming, and says
//! nothing answers when no sentence shares a word with the question. It is deterministic.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::api::Usage;
use crate::domain::message::Role;
use crate::domain::prompt::{Prompt, RetrievedChunk};
use futures_util::StreamExt;

use super::words::terms;
use crate::ports::{ChatModel, Embedder, ModelError, ModelEvent, ModelReply, ModelStream, STOP_END_TURN};

pub const MODEL_NAME: &str = "local/extractive";

/// Opens every reply, so nobody takes a quote for a real model's answer.
pub const MARKER: &str = "(local/extractive development model)";

const MAX_SENTENCES: usize = 3;
const MAX_SENTENCE_CHARS: usize = 400;

/// How `domain::prompt` tells a model that the document search failed (`ContextSlot::Unavailable`).
/// A test builds that prompt, so a rewording there is caught here.
const SEARCH_FAILED_PHRASES: [&str; 2] = ["search of the user's documents failed", "could not be consulted"];

/// What a shared question word adds to a sentence's cosine, per word and as a share of the
/// question's words: enough to prefer the sentence that names what was asked among several close
/// in meaning, too little to outweigh meaning.
const KEYWORD_BONUS: f32 = 0.15;
/// Sentences this far below the best one's score are not quoted beside it.
const SEMANTIC_MARGIN: f32 = 0.25;
/// How much the passage's own retrieval score counts beside the sentence's: a sentence that says
/// "Vet: Clifton Paws" answers "which vet treats Moth?" because its passage is about Moth.
const PASSAGE_WEIGHT: f32 = 1.0;

#[derive(Clone, Default)]
pub struct ExtractiveModel {
    latency: std::time::Duration,
    word_delay: std::time::Duration,
    /// Picks sentences by meaning when set; by shared words alone when not.
    embedder: Option<Arc<dyn Embedder>>,
}

impl std::fmt::Debug for ExtractiveModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractiveModel")
            .field("latency", &self.latency)
            .field("word_delay", &self.word_delay)
            .field("semantic", &self.embedder.is_some())
            .finish()
    }
}

impl ExtractiveModel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits this long before each reply, to stand in for a remote model in load tests.
    pub fn with_latency(self, latency: std::time::Duration) -> Self {
        Self { latency, ..self }
    }

    /// Streams its reply a word at a time, this long apart, so a streamed reply is visible on
    /// the local target as it would be from a remote model.
    pub fn with_word_delay(self, word_delay: std::time::Duration) -> Self {
        Self { word_delay, ..self }
    }

    /// Picks the sentences to quote by their meaning, with this embedder.
    pub fn with_embedder(self, embedder: Arc<dyn Embedder>) -> Self {
        Self { embedder: Some(embedder), ..self }
    }

    async fn reply(&self, prompt: &Prompt) -> ModelReply {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let text = match &self.embedder {
            Some(embedder) if !prompt.sources.is_empty() => {
                match semantic_answer(embedder.as_ref(), prompt).await {
                    Ok(text) => text,
                    Err(e) => {
                        // Still an answer, by words alone, rather than no answer.
                        tracing::warn!(error = %e, "local/extractive: embedding the sentences failed");
                        answer(prompt)
                    }
                }
            }
            _ => answer(prompt),
        };
        reply(prompt, text)
    }
}

#[async_trait]
impl ChatModel for ExtractiveModel {
    fn id(&self) -> &str {
        MODEL_NAME
    }

    async fn complete(&self, prompt: &Prompt) -> Result<ModelReply, ModelError> {
        Ok(self.reply(prompt).await)
    }

    async fn stream(&self, prompt: &Prompt) -> Result<ModelStream, ModelError> {
        let ModelReply { text, model, usage } = self.reply(prompt).await;
        let end = ModelEvent::End { model, stop_reason: STOP_END_TURN.to_owned(), usage };
        let words: Vec<Result<ModelEvent, ModelError>> =
            text.split_inclusive(char::is_whitespace).map(|w| Ok(ModelEvent::Delta(w.to_owned()))).collect();
        let delay = self.word_delay;
        let deltas = futures_util::stream::iter(words).enumerate().then(move |(i, word)| async move {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            word
        });
        Ok(deltas.chain(futures_util::stream::iter([Ok(end)])).boxed())
    }
}

fn reply(prompt: &Prompt, text: String) -> ModelReply {
    // Words stand in for tokens: there is no tokenizer behind this model, and the figures only
    // need to be plausible for the local dashboard. The passages are counted once, in the
    // documents block, where a remote model would read them.
    let input = word_count(&prompt.system)
        + prompt.documents.as_deref().map_or(0, word_count)
        + prompt.turns.iter().map(|t| word_count(&t.text)).sum::<usize>();
    let usage = Usage { input_tokens: saturate(input), output_tokens: saturate(word_count(&text)) };
    ModelReply { text, model: MODEL_NAME.to_owned(), usage }
}

fn question(prompt: &Prompt) -> &str {
    prompt.turns.iter().rev().find(|t| t.role == Role::User).map_or("", |t| t.text.as_str())
}

/// The reply to the last user turn of `prompt`, by shared words.
pub fn answer(prompt: &Prompt) -> String {
    let question = question(prompt);
    let wanted: BTreeSet<String> = terms(question).collect();
    let picked = best_sentences(&prompt.sources, &wanted);
    if picked.is_empty() {
        let system = prompt.system.to_lowercase();
        if prompt.sources.is_empty() && SEARCH_FAILED_PHRASES.iter().any(|p| system.contains(p)) {
            return format!(
                "{MARKER} Your documents could not be consulted for this question (the search failed), \
                 and I only answer from them."
            );
        }
        if let Some(said) = recalled(prompt, &wanted) {
            return recall_reply(said);
        }
        return format!("{MARKER} Nothing in your documents answers this question.");
    }
    quote(&picked)
}

fn recall_reply(said: &str) -> String {
    format!(
        "{MARKER} Nothing in your documents answers this, but earlier in this conversation you said: \"{}\"",
        shorten(said)
    )
}

fn quote(picked: &[Candidate]) -> String {
    let mut out = format!("{MARKER} From your documents:");
    for c in picked {
        out.push_str(&format!("\n- {} [{}]", shorten(&c.text), c.source + 1));
    }
    out
}

/// The reply by meaning: every sentence of the passages embedded with its heading, scored by its
/// cosine to the question plus [`KEYWORD_BONUS`] for the share of question words it holds; the
/// best, and up to two more within [`SEMANTIC_MARGIN`] of it, are quoted.
async fn semantic_answer(embedder: &dyn Embedder, prompt: &Prompt) -> Result<String, crate::ports::RagError> {
    let question = question(prompt);
    let wanted: BTreeSet<String> = terms(question).collect();
    let mut found = Vec::new();
    let mut texts = vec![question.to_owned()];
    for (source, chunk) in prompt.sources.iter().enumerate() {
        let all = sentences_in_paragraphs(&chunk.text);
        if all.is_empty() {
            // A passage of headings alone: quoted whole, as it is all there is to cite.
            let text = chunk.text.trim_start_matches(|c: char| c == '#' || c.is_whitespace()).to_owned();
            let words: BTreeSet<String> = terms(&text).collect();
            texts.push(text.clone());
            found.push((source, 0, text, wanted.intersection(&words).count()));
            continue;
        }
        for (position, (heading, paragraph, text)) in all.iter().enumerate() {
            // Embedded after the sentence before it in its paragraph, which often names what it
            // is about: "Harbourline Freight: staff engineer. Leads a team of six."
            let before = position
                .checked_sub(1)
                .map(|p| &all[p])
                .filter(|(_, para, _)| para == paragraph)
                .map_or("", |(_, _, t)| t.as_str());
            let words: BTreeSet<String> = terms(text).chain(terms(heading)).collect();
            let context =
                [*heading, before].iter().filter(|t| !t.is_empty()).copied().collect::<Vec<_>>().join(": ");
            texts.push(if context.is_empty() { text.clone() } else { format!("{context} {text}") });
            found.push((source, position, text.clone(), wanted.intersection(&words).count()));
        }
    }
    // A question about the conversation itself ("what code word did I give you?"): an earlier
    // turn sharing more of its words than any sentence of the passages answers it.
    let most_shared = found.iter().map(|f| f.3).max().unwrap_or(0);
    if let Some((shared, said)) = recalled_sharing(prompt, &wanted)
        && shared > most_shared
    {
        return Ok(recall_reply(said));
    }
    let vectors = embedder.embed(&texts).await?;
    let Some((q, rest)) = vectors.split_first() else {
        return Ok(answer(prompt));
    };
    let share = |shared: usize| if wanted.is_empty() { 0.0 } else { shared as f32 / wanted.len() as f32 };
    let mut scored: Vec<(f32, Candidate)> = found
        .into_iter()
        .zip(rest)
        .map(|((source, position, text, shared), v)| {
            let cosine: f32 = q.iter().zip(v).map(|(a, b)| a * b).sum();
            let passage = prompt.sources[source].score;
            (
                cosine + PASSAGE_WEIGHT * passage + KEYWORD_BONUS * share(shared),
                Candidate { score: shared, source, position, text },
            )
        })
        .collect();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0).then(a.1.source.cmp(&b.1.source)).then(a.1.position.cmp(&b.1.position))
    });
    let best = scored.first().map_or(0.0, |s| s.0);
    let mut seen = BTreeSet::new();
    let picked: Vec<Candidate> = scored
        .into_iter()
        .filter(|(score, c)| {
            *score >= best - SEMANTIC_MARGIN
                && seen.insert(c.text.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .map(|(_, c)| c)
        .take(MAX_SENTENCES)
        .collect();
    if picked.is_empty() {
        return Ok(answer(prompt));
    }
    Ok(quote(&picked))
}

/// The earlier user turn sharing the most question words (the latest on a tie), quoted back:
/// the development model's only memory, enough to show that the history reaches the model.
fn recalled<'a>(prompt: &'a Prompt, wanted: &BTreeSet<String>) -> Option<&'a str> {
    recalled_sharing(prompt, wanted).map(|(_, text)| text)
}

/// [`recalled`], with how many question words it shares.
fn recalled_sharing<'a>(prompt: &'a Prompt, wanted: &BTreeSet<String>) -> Option<(usize, &'a str)> {
    let last = prompt.turns.iter().rposition(|t| t.role == Role::User)?;
    prompt.turns[..last]
        .iter()
        .filter(|t| t.role == Role::User)
        .map(|t| (terms(&t.text).filter(|w| wanted.contains(w)).count(), t.text.as_str()))
        .filter(|(shared, _)| *shared > 0)
        .max_by_key(|(shared, _)| *shared)
}

struct Candidate {
    score: usize,
    source: usize,
    position: usize,
    text: String,
}

/// The sentences sharing the most question words, best first. A sentence also owns the words of
/// its Markdown heading: under "## Programming languages", "I write Rust" answers a question
/// about languages. Ties go to the earlier source (retrieval ranks them), then the earlier
/// sentence. Sentences scoring half the best or less are dropped: they would dilute a precise
/// answer with loosely related text.
fn best_sentences(sources: &[RetrievedChunk], wanted: &BTreeSet<String>) -> Vec<Candidate> {
    let mut candidates = Vec::new();
    for (source, chunk) in sources.iter().enumerate() {
        for (position, (heading, text)) in sentences(&chunk.text).into_iter().enumerate() {
            let found: BTreeSet<String> = terms(&text).chain(terms(heading)).collect();
            let score = wanted.intersection(&found).count();
            if score > 0 {
                candidates.push(Candidate { score, source, position, text });
            }
        }
    }
    candidates.sort_by(|a, b| {
        b.score.cmp(&a.score).then(a.source.cmp(&b.source)).then(a.position.cmp(&b.position))
    });
    let best = candidates.first().map_or(0, |c| c.score);
    // Passages overlap (chunking repeats text), so the same sentence may come twice.
    let mut seen = BTreeSet::new();
    candidates
        .into_iter()
        .filter(|c| {
            2 * c.score > best && seen.insert(c.text.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .take(MAX_SENTENCES)
        .collect()
}

/// The sentences of `text`, each with the Markdown heading it sits under (empty before the
/// first). Headings are context, never quoted. Lines are first joined into paragraphs, as
/// Markdown reads soft line breaks: a PDF's text wraps mid-sentence. A list item, a table row, a
/// quote and a blank line each start a new paragraph; list markers are removed.
fn sentences(text: &str) -> Vec<(&str, String)> {
    sentences_in_paragraphs(text).into_iter().map(|(h, _, s)| (h, s)).collect()
}

/// [`sentences`], each with the number of its paragraph.
fn sentences_in_paragraphs(text: &str) -> Vec<(&str, usize, String)> {
    let mut paragraphs: Vec<(&str, String)> = Vec::new();
    let mut heading = "";
    let mut open = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim();
            open = false;
            continue;
        }
        if line.is_empty() {
            open = false;
            continue;
        }
        let numbered =
            line.split_once(". ").filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        let item = numbered.is_some() || line.starts_with(['-', '*', '+', '>', '|']);
        let body = match numbered {
            Some((_, rest)) => rest.trim(),
            None => {
                line.trim_start_matches(|c: char| matches!(c, '-' | '*' | '+' | '>') || c.is_whitespace())
            }
        };
        match paragraphs.last_mut() {
            Some((_, p)) if open && !item => {
                p.push(' ');
                p.push_str(body);
            }
            _ => paragraphs.push((heading, body.to_owned())),
        }
        // A table row stands alone; other lines may continue on the next.
        open = !line.starts_with('|');
    }
    let mut out = Vec::new();
    for (n, (heading, paragraph)) in paragraphs.iter().enumerate() {
        let mut start = 0;
        let mut chars = paragraph.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let at_break = chars.peek().is_none_or(|(_, next)| next.is_whitespace());
            if matches!(c, '.' | '!' | '?') && at_break {
                out.push((*heading, n, paragraph[start..i + c.len_utf8()].trim().to_owned()));
                start = i + c.len_utf8();
            }
        }
        out.push((*heading, n, paragraph[start..].trim().to_owned()));
    }
    out.into_iter().filter(|(_, _, s)| !s.is_empty()).collect()
}

fn shorten(sentence: &str) -> String {
    match sentence.char_indices().nth(MAX_SENTENCE_CHARS) {
        Some((cut, _)) => format!("{}…", sentence[..cut].trim_end()),
        None => sentence.to_owned(),
    }
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::prompt::{ContextSlot, DEFAULT_SYSTEM_PROMPT, build_prompt};

    fn passage(source: &str, text: &str) -> RetrievedChunk {
        RetrievedChunk { source: source.into(), chunk: 0, score: 0.5, text: text.into() }
    }

    async fn ask(sources: Vec<RetrievedChunk>, question: &str) -> ModelReply {
        let prompt = build_prompt(DEFAULT_SYSTEM_PROMPT, &[], 10, &ContextSlot::Retrieved(sources), question);
        ExtractiveModel::new().complete(&prompt).await.unwrap()
    }

    const CV: &str = "# Jane Doe\nBackend engineer, ten years.\n\
                      Languages: Rust, Go, Python, TypeScript\n\
                      - Built a payment platform on AWS. Led a team of five.";

    #[tokio::test(start_paused = true)]
    async fn streams_the_same_reply_word_by_word_with_the_delay_between_words() {
        let prompt = build_prompt(
            DEFAULT_SYSTEM_PROMPT,
            &[],
            10,
            &ContextSlot::Retrieved(vec![passage("docs/cv.md", CV)]),
            "What programming languages do I know?",
        );
        let whole = ExtractiveModel::new().complete(&prompt).await.unwrap();
        let model = ExtractiveModel::new().with_word_delay(std::time::Duration::from_millis(50));
        let started = tokio::time::Instant::now();
        let mut stream = model.stream(&prompt).await.unwrap();
        let (mut text, mut deltas, mut at) = (String::new(), 0, Vec::new());
        let mut end = None;
        while let Some(event) = stream.next().await {
            match event.unwrap() {
                ModelEvent::Delta(d) => {
                    text.push_str(&d);
                    deltas += 1;
                    at.push(started.elapsed());
                }
                e @ ModelEvent::End { .. } => end = Some(e),
            }
        }
        assert_eq!(text, whole.text);
        assert_eq!(deltas, whole.text.split_whitespace().count());
        assert_eq!(at[0], std::time::Duration::ZERO, "the first word comes at once");
        assert_eq!(at[1], std::time::Duration::from_millis(50));
        assert_eq!(
            end,
            Some(ModelEvent::End {
                model: MODEL_NAME.into(),
                stop_reason: STOP_END_TURN.into(),
                usage: whole.usage
            })
        );
    }

    #[tokio::test]
    async fn answers_from_the_matching_sentence_with_its_citation() {
        let reply = ask(vec![passage("docs/cv.md", CV)], "What programming languages do I know?").await;
        assert!(reply.text.starts_with(MARKER), "{}", reply.text);
        assert!(reply.text.contains("Languages: Rust, Go, Python, TypeScript [1]"), "{}", reply.text);
        assert!(!reply.text.contains("payment"), "only matching sentences are quoted: {}", reply.text);
        assert_eq!(reply.model, MODEL_NAME);
        assert_eq!(ExtractiveModel::new().id(), MODEL_NAME);
        assert_eq!(reply.usage.output_tokens, u32::try_from(reply.text.split_whitespace().count()).unwrap());
        assert!(reply.usage.input_tokens > 20, "the passages count: {:?}", reply.usage);
    }

    #[tokio::test]
    async fn it_recalls_what_was_said_earlier_in_the_conversation() {
        use crate::domain::message::{ConversationId, Message};
        let conversation = ConversationId::new();
        let at = time::OffsetDateTime::now_utc();
        let said = |role, text: &str| Message::new(conversation, role, text.to_owned(), at);
        let history = vec![
            said(Role::User, "My favourite language is Rust."),
            said(Role::Assistant, "Noted."),
            said(Role::User, "I live in Lisbon."),
            said(Role::Assistant, "Noted."),
        ];
        let prompt = build_prompt(
            DEFAULT_SYSTEM_PROMPT,
            &history,
            10,
            &ContextSlot::Disabled,
            "Which language is my favourite?",
        );
        let reply = ExtractiveModel::new().complete(&prompt).await.unwrap();
        assert!(reply.text.contains("you said: \"My favourite language is Rust.\""), "{}", reply.text);
        let prompt =
            build_prompt(DEFAULT_SYSTEM_PROMPT, &history, 10, &ContextSlot::Disabled, "Any news on Mars?");
        let reply = ExtractiveModel::new().complete(&prompt).await.unwrap();
        assert!(!reply.text.contains("you said"), "{}", reply.text);
    }

    #[tokio::test]
    async fn an_unrelated_question_gets_no_citation() {
        let reply = ask(vec![passage("docs/cv.md", CV)], "What's the weather like on Mars tomorrow?").await;
        assert!(reply.text.contains("Nothing in your documents answers"), "{}", reply.text);
        assert!(!reply.text.contains('['), "{}", reply.text);
    }

    #[tokio::test]
    async fn without_sources_it_says_nothing_was_found() {
        let reply = ask(vec![], "What programming languages do I know?").await;
        assert_eq!(reply.text, format!("{MARKER} Nothing in your documents answers this question."));
        let prompt = build_prompt(DEFAULT_SYSTEM_PROMPT, &[], 10, &ContextSlot::Disabled, "hello");
        assert!(answer(&prompt).contains("Nothing in your documents"));
    }

    #[tokio::test]
    async fn a_failed_search_is_reported_as_such() {
        let prompt = build_prompt(DEFAULT_SYSTEM_PROMPT, &[], 10, &ContextSlot::Unavailable, "My languages?");
        let text = ExtractiveModel::new().complete(&prompt).await.unwrap().text;
        assert!(text.starts_with(MARKER) && text.contains("could not be consulted"), "{text}");
        assert!(!text.contains('['), "{text}");
    }

    #[tokio::test]
    async fn picks_the_right_passage_among_several() {
        let sources = vec![
            passage("docs/garden.md", "I grow tomatoes and basil on the balcony every summer."),
            passage("docs/cv.md", CV),
            passage("docs/trips.md", "Hiking in Norway in 2023. Cycling along the Loire in 2024."),
        ];
        let reply = ask(sources, "Which languages did I use for coding?").await;
        assert!(reply.text.contains("Rust") && reply.text.contains("[2]"), "{}", reply.text);
        assert!(!reply.text.contains("[1]") && !reply.text.contains("[3]"), "{}", reply.text);
    }

    #[tokio::test]
    async fn quotes_at_most_three_distinct_sentences_best_first() {
        let text = "Rust at work. Rust at home. Rust and Go in the lab. Rust everywhere.";
        let sources = vec![passage("a", text), passage("b", "Rust and Go in the lab.")];
        let reply = ask(sources, "Where did I use Rust and Go?").await;
        let lines: Vec<&str> = reply.text.lines().skip(1).collect();
        assert_eq!(lines, ["- Rust and Go in the lab. [1]"], "the half-best floor drops weaker ones");
        let reply = ask(vec![passage("a", text)], "Rust?").await;
        assert_eq!(reply.text.lines().count(), 1 + MAX_SENTENCES, "{}", reply.text);
    }

    #[test]
    fn sentences_split_lines_and_stops_but_not_decimals_and_keep_their_heading() {
        let got = sentences("Intro\n## Title\n- Version 2.5 shipped. Then 3.0!\n\n");
        let got: Vec<(&str, &str)> = got.iter().map(|(h, s)| (*h, s.as_str())).collect();
        assert_eq!(got, [("", "Intro"), ("Title", "Version 2.5 shipped."), ("Title", "Then 3.0!")]);
    }

    #[test]
    fn wrapped_lines_join_into_sentences_but_items_and_table_rows_stay_apart() {
        let got = sentences(
            "Mix the flours with 360 g of the water and leave for 45 minutes: the\nautolyse.\n- 11 g salt\n- 20 g water\n| a | b |\n| c | d |\n1. Fold. Then rest",
        );
        let got: Vec<&str> = got.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(
            got,
            [
                "Mix the flours with 360 g of the water and leave for 45 minutes: the autolyse.",
                "11 g salt",
                "20 g water",
                "| a | b |",
                "| c | d |",
                "Fold.",
                "Then rest"
            ]
        );
    }

    #[tokio::test]
    async fn a_heading_lends_its_words_to_the_sentences_under_it() {
        let resume = "# Jane Doe\n\nSoftware engineer in Lisbon.\n\n## Programming languages\n\n\
                      I program in Rust, Go and Python, and I know some TypeScript.\n\n\
                      ## Experience\n\n- 2021-2026: platform engineer at Acme.\n";
        let reply =
            ask(vec![passage("docs/resume.md", resume)], "What programming languages do I know?").await;
        let lines: Vec<&str> = reply.text.lines().skip(1).collect();
        assert_eq!(lines, ["- I program in Rust, Go and Python, and I know some TypeScript. [1]"]);
    }
}
