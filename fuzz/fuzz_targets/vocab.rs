//! A run's `vocab.json`, as a user's editor or a crash may leave it: loads or errors, and a
//! loaded vocabulary encodes and decodes any text without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let parts = common::parts(data, 2);
    let path = common::file_of("vocab.json", parts[0]);
    if let Ok(vocab) = rnnzoo_data::Vocab::load(&path) {
        let text = String::from_utf8_lossy(parts[1]);
        let ids = vocab.encode(&text);
        let _ = vocab.decode(&ids);
        let _ = vocab.decode(&[0, 1, 2, usize::MAX]);
        let _ = vocab.boundary_id();
    }
});
