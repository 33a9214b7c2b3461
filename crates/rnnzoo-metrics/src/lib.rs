//! Translation metrics, computed exactly as sacreBLEU 2.x computes its defaults, so that a
//! score printed by rnnzoo is the score a paper would quote:
//!
//! - [`tokenize_13a`]: the `13a` tokeniser (mteval-v13a), sacreBLEU's default;
//! - [`corpus_bleu`]: corpus BLEU over 13a tokens, n-grams up to 4, brevity penalty, the `exp`
//!   smoothing of sacreBLEU's default (which only acts when some n-gram order has no match at
//!   all; with a match at every order it equals unsmoothed BLEU);
//! - [`corpus_chrf`]: chrF (character 6-grams, β = 2, whitespace removed), sacreBLEU's `CHRF()`;
//! - [`corpus_bleu_multi`]: BLEU-1..4 against several references per hypothesis (captioning);
//! - [`cider_d`]: CIDEr-D as the COCO caption evaluation computes it
//!   (`tests/fixtures/captions.json`, written by `scripts/make_caption_fixture.py` with
//!   `sacrebleu` and `pycocoevalcap`);
//! - [`word_error_rate`], [`character_error_rate`]: WER and CER as `jiwer` computes them
//!   (`tests/fixtures/jiwer.json`, written by `scripts/make_wer_fixture.py`).
//!
//! `tests/fixtures/sacrebleu.json`, written by `scripts/make_bleu_fixture.py` with the
//! `sacrebleu` package, pins both against the reference implementation.
//!
//! ```
//! let hyp = ["the cat sat on the mat."];
//! let refs = ["the cat sat on the mat."];
//! assert!((rnnzoo_metrics::corpus_bleu(&hyp, &refs).score - 100.0).abs() < 1e-9);
//! ```

mod bleu;
mod chrf;
mod cider;
mod tokenize;
mod wer;

pub use bleu::{Bleu, corpus_bleu, corpus_bleu_multi};
pub use chrf::corpus_chrf;
pub use cider::cider_d;
pub use tokenize::tokenize_13a;
pub use wer::{ErrorRate, character_error_rate, word_error_rate, words};
