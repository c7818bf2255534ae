//! The fuzz targets' checks on stable Rust: every seed in `fuzz/seeds/`, then each input a fuzz
//! run found crashing, pinned with the behaviour it should have had.

use std::path::{Path, PathBuf};

use chatbot_core::ErrorCode;
use chatbot_core::domain::api::ChatRequest;
use chatbot_core::domain::extract::{ExtractError, extract};
use chatbot_core::domain::message::SortKey;
use time::macros::datetime;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 3] = [
    ("chat_request", fuzz_checks::chat_request),
    ("envelope_decrypt", fuzz_checks::envelope_decrypt),
    ("extract_chunk", fuzz_checks::extract_chunk),
];

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target)
}

#[test]
fn every_seed_passes_its_targets_checks() {
    for (target, check) in TARGETS {
        let mut files: Vec<PathBuf> = std::fs::read_dir(seeds_dir(target))
            .unwrap_or_else(|e| panic!("fuzz/seeds/{target}: {e}"))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "fuzz/seeds/{target} has no seeds");
        for file in files {
            let bytes = std::fs::read(&file).expect("a readable seed");
            let outcome = std::panic::catch_unwind(|| check(&bytes));
            assert!(outcome.is_ok(), "{target}: seed {} breaks an invariant", file.display());
        }
    }
}

// chat_request, crash-62bac7a4: serde read the request struct from a JSON array, by position.
#[test]
fn chat_request_a_json_array_is_a_400_not_a_positional_request() {
    for body in
        [&b"[\nnull,\"t\"]"[..], br#"["6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11", "hello"]"#, b" [null,\"hi\",1]"]
    {
        let err = ChatRequest::parse(body).expect_err("an array is not a chat request");
        assert_eq!((err.code, err.status), (ErrorCode::BadRequest, 400), "{}", String::from_utf8_lossy(body));
        fuzz_checks::chat_request(body);
    }
}

// envelope_decrypt, stored-item mode: a stored key at the last representable microsecond made
// `next_time` overflow. Found reading the code the target covers, confirmed through the target.
#[test]
fn envelope_decrypt_a_sort_key_at_the_end_of_time_does_not_overflow() {
    let last = "9999-12-31T23:59:59.999999Z#00000000-0000-0000-0000-000000000001";
    let key = SortKey::parse(last).expect("a well-formed key");
    let at = datetime!(9999-12-31 23:59:59.999999 UTC);
    assert_eq!(key.next_time(at), at);
    assert_eq!(key.next_time(datetime!(2026-01-01 0:00 UTC)), at);

    let item = [
        &b"6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11"[..],
        last.as_bytes(),
        &last.as_bytes()[28..],
        b"user",
        b"x",
        b"",
    ];
    let input = [&[2u8][..], &item.join(&0xFF)].concat();
    fuzz_checks::envelope_decrypt(&input);
}

// extract_chunk, pdf_compression_bomb and pdf_deeply_nested: the seeds of
// test-support/src/pdf.rs's `compression_bomb_pdf(8, 7 << 20)` and
// `deeply_nested_pdf(800)`, after the selector byte 2 (a .pdf key). With the default limits the
// bomb's streams each stay under the in-process 16 MiB and parse into gigabytes, which only the
// worker's memory limit stops (runtime/ingest/tests/isolated_extraction.rs); under the fuzz
// limits the first stream stops inflating at 64 KiB, so replaying them costs little.
#[test]
fn extract_chunk_a_compression_bomb_and_a_deeply_nested_pdf_are_refused_cheaply() {
    let read = |name: &str| std::fs::read(seeds_dir("extract_chunk").join(name)).expect("a committed seed");
    let started = std::time::Instant::now();
    let bomb = read("pdf_compression_bomb");
    assert_eq!(bomb[0] % 6, 2, "the selector names docs/a.pdf");
    fuzz_checks::extract_chunk(&bomb);
    assert_eq!(
        extract("docs/a.pdf", &bomb[1..], &fuzz_checks::LIMITS),
        Err(ExtractError::StreamTooLarge { limit: fuzz_checks::LIMITS.max_stream_bytes })
    );

    let nested = read("pdf_deeply_nested");
    fuzz_checks::extract_chunk(&nested);
    let refused = extract("docs/a.pdf", &nested[1..], &fuzz_checks::LIMITS);
    assert!(matches!(refused, Err(ExtractError::MalformedPdf(_))), "lopdf stops at 100 levels: {refused:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}
