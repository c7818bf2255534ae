//! The RAG scenario once more, on a local target whose vectors live in S3 Vectors on the emulator
//! (`local up --rag --vector-store s3vectors`), through the real `S3VectorsIndex`: documents in,
//! answers with citations, a document removed and no longer cited, and nothing left in the
//! SQLite index's place. Its own target, in its own folder, so it runs beside local_target.rs.

use e2e::shared::shared_opsctl;
use e2e::{cited, repo_root};

#[test]
fn documents_answer_with_citations_through_s3_vectors_until_removed() {
    let opsctl = shared_opsctl("s3vectors");
    let up = opsctl.json(&["local", "up", "--rag", "--vector-store", "s3vectors"]);
    assert_eq!((up["rag"].as_bool(), up["vector_store"].as_str()), (Some(true), Some("s3vectors")), "{up}");
    let status = opsctl.json(&["local", "status"]);
    assert_eq!(
        (status["running"].as_bool(), status["vector_store"].as_str()),
        (Some(true), Some("s3vectors"))
    );
    let stack = opsctl.json(&["status"]);
    assert_eq!(stack["vector_store"], "s3vectors", "{stack}");
    assert!(stack["vector_store_resource"].as_str().is_some_and(|b| !b.is_empty()), "{stack}");

    let samples = repo_root().join("samples/docs");
    let md = samples.join("household-handbook.md");
    let pdf = samples.join("lighthouse-log.pdf");
    let put = opsctl.json(&["docs", "put", md.to_str().unwrap(), pdf.to_str().unwrap()]);
    assert_eq!(put["failed"], 0, "{put}");
    for doc in put["documents"].as_array().unwrap() {
        assert!(doc["indexed_chunks"].as_u64().unwrap() > 0, "not indexed: {doc}");
    }
    for file in ["dev/vectors.sqlite", "dev/vectors-minilm.sqlite"] {
        assert!(!opsctl.local_dir.join(file).exists(), "the SQLite index was used: {file}");
    }

    let key = opsctl.json(&["chat", "Where is the spare house key kept?"]);
    assert!(key["reply"].as_str().unwrap().contains("blue ceramic jar"), "{key}");
    assert!(cited(&key).contains(&"docs/household-handbook.md".to_owned()), "{key}");
    let question = "When was the Skerry Point lighthouse lamp replaced?";
    let lamp = opsctl.json(&["chat", question]);
    assert!(lamp["reply"].as_str().unwrap().contains("14 March 2024"), "{lamp}");
    assert_eq!(cited(&lamp).first().map(String::as_str), Some("docs/lighthouse-log.pdf"), "{lamp}");

    // A re-index (after an embedding-model change, say) writes every document again, in place.
    let reindex = opsctl.json(&["docs", "reindex", "--all"]);
    assert_eq!(reindex["failed"], 0, "{reindex}");
    let again = opsctl.json(&["chat", question]);
    assert_eq!(cited(&again).first().map(String::as_str), Some("docs/lighthouse-log.pdf"), "{again}");

    let rm = opsctl.json(&["docs", "rm", "lighthouse-log.pdf"]);
    assert_eq!(rm["documents"][0]["removed"], true, "{rm}");
    let after = opsctl.json(&["chat", question]);
    assert!(!cited(&after).contains(&"docs/lighthouse-log.pdf".to_owned()), "still cited: {after}");

    let down = opsctl.json(&["local", "down"]);
    assert_eq!(down["stopped"].as_array().map(Vec::len), Some(2), "{down}");
}
