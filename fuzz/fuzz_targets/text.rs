//! The corpus text reader (UTF-8 check, Project Gutenberg header stripping) and the
//! tokenisers and vocabulary on what it reads: never panics; decode inverts encode for
//! characters in the vocabulary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rnnzoo_data::{TokenizerKind, Vocab};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::file_of("corpus.txt", data);
    let Ok(docs) = rnnzoo_data::corpus::read_path(&path) else {
        return;
    };
    for doc in &docs {
        for kind in [TokenizerKind::Char, TokenizerKind::Word] {
            let vocab = Vocab::build(kind, [doc.text.as_str()], 1, Some(50));
            let ids = vocab.encode(&doc.text);
            let _ = vocab.decode(&ids);
        }
        let chars = Vocab::build(TokenizerKind::Char, [doc.text.as_str()], 1, None);
        assert_eq!(chars.decode(&chars.encode(&doc.text)), doc.text);
    }
});
