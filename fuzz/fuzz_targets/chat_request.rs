#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| opsctl_fuzz::chat_request(data));
