//! The classifier's labelled-text reader: VADER, CSV, TSV or JSON lines (chosen by the first
//! byte), columns `text` and `label`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rnnzoo_data::labelled::{DataFormat, parse_examples};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let format = [
        DataFormat::Vader,
        DataFormat::Csv,
        DataFormat::Tsv,
        DataFormat::Jsonl,
    ][choice as usize % 4];
    if let Ok(examples) = parse_examples(Path::new("fuzz.data"), rest.to_vec(), format, "text", "label") {
        for e in examples {
            assert!(!e.label.is_empty() && e.label.trim() == e.label, "{e:?}");
        }
    }
});
