//! The parallel-text readers: a `source<TAB>target` TSV, and two aligned files.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let tsv = common::file_of("pairs.tsv", data);
    let _ = rnnzoo_data::parallel::read_tsv(&tsv);
    let parts = common::parts(data, 2);
    let source = common::file_of("source.txt", parts[0]);
    let target = common::file_of("target.txt", parts[1]);
    if let Ok(pairs) = rnnzoo_data::parallel::read_aligned(&source, &target) {
        let _ = rnnzoo_data::parallel::split_by_group(pairs, 0.1, 0.1, 1);
    }
});
