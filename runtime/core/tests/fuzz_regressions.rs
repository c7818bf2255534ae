//! The fuzz targets' checks on stable Rust: every seed in `fuzz/seeds/`, then each input a fuzz
//! run found crashing, pinned with the behaviour it should have had.

#[path = "support/fuzz_checks.rs"]
mod fuzz_checks;

use std::path::{Path, PathBuf};

use chatbot_core::ErrorCode;
use chatbot_core::domain::api::ChatRequest;
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
