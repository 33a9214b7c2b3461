//! Held-out splits by whole documents, so that validation measures generalisation to unseen
//! text rather than to neighbouring lines of the same text.

use crate::corpus::Document;
use crate::rng::SplitMix64;

/// Train, validation and test documents.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    /// Training documents.
    pub train: Vec<Document>,
    /// Validation documents.
    pub valid: Vec<Document>,
    /// Test documents.
    pub test: Vec<Document>,
}

/// Splits a corpus into train, valid and test by whole documents: documents are shuffled with
/// `seed`, then taken for the test set until it holds `test` of the characters, then for the
/// validation set likewise; the rest trains. Every set gets at least one document when the
/// corpus has three or more.
///
/// A corpus of fewer documents than needed is split by lines instead: the last `test` of its
/// lines are the test set, the `valid` before them the validation set.
pub fn split_documents(docs: Vec<Document>, valid: f64, test: f64, seed: u64) -> Split {
    let wanted = usize::from(valid > 0.0) + usize::from(test > 0.0);
    if docs.len() <= wanted {
        return split_lines(docs, valid, test);
    }
    let total: usize = docs.iter().map(|d| d.text.len()).sum();
    let mut order: Vec<usize> = (0..docs.len()).collect();
    SplitMix64::new(seed).shuffle(&mut order);
    let mut docs: Vec<Option<Document>> = docs.into_iter().map(Some).collect();
    let mut take = |fraction: f64, order: &mut Vec<usize>| {
        let mut set = Vec::new();
        let mut chars = 0;
        while fraction > 0.0
            && order.len() > 1
            && (set.is_empty() || (chars as f64) < fraction * total as f64)
        {
            let doc = docs[order.pop().expect("non-empty")]
                .take()
                .expect("taken once");
            chars += doc.text.len();
            set.push(doc);
        }
        set
    };
    let test_set = take(test, &mut order);
    let valid_set = take(valid, &mut order);
    let mut rest: Vec<usize> = order;
    rest.sort();
    Split {
        train: rest
            .into_iter()
            .map(|i| docs[i].take().expect("unused"))
            .collect(),
        valid: valid_set,
        test: test_set,
    }
}

fn split_lines(docs: Vec<Document>, valid: f64, test: f64) -> Split {
    let mut split = Split::default();
    for doc in docs {
        let lines: Vec<&str> = doc.text.split_inclusive('\n').collect();
        let n = lines.len();
        let n_test = ((n as f64) * test).round() as usize;
        let n_valid = ((n as f64) * valid).round() as usize;
        let n_train = n.saturating_sub(n_test + n_valid);
        let part = |range: std::ops::Range<usize>, suffix: &str| Document {
            name: format!("{}{suffix}", doc.name),
            text: lines[range].concat(),
        };
        split.train.push(part(0..n_train, ""));
        if n_valid > 0 {
            split.valid.push(part(n_train..n_train + n_valid, "#valid"));
        }
        if n_test > 0 {
            split.test.push(part(n_train + n_valid..n, "#test"));
        }
    }
    split
}

/// Length-bucketed batches of example indices for one epoch: the examples are shuffled, cut
/// into pools of `pool` batches' worth, each pool sorted by length and cut into batches (little
/// padding), and the batches shuffled (a random order of lengths).
pub fn bucketed_batches(
    lengths: &[usize],
    batch: usize,
    pool: usize,
    seed: u64,
) -> Vec<Vec<usize>> {
    let mut rng = crate::SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for chunk in order.chunks(batch * pool) {
        let mut chunk = chunk.to_vec();
        chunk.sort_by_key(|&i| lengths[i]);
        batches.extend(chunk.chunks(batch).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, len: usize) -> Document {
        Document {
            name: name.into(),
            text: "x\n".repeat(len),
        }
    }

    #[test]
    fn whole_documents_go_to_one_set_each() {
        let docs: Vec<Document> = (0..20).map(|i| doc(&format!("d{i:02}"), 100)).collect();
        let split = split_documents(docs.clone(), 0.1, 0.1, 7);
        assert_eq!(split.valid.len(), 2);
        assert_eq!(split.test.len(), 2);
        assert_eq!(split.train.len(), 16);
        let mut names: Vec<String> = [&split.train, &split.valid, &split.test]
            .iter()
            .flat_map(|s| s.iter().map(|d| d.name.clone()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            docs.iter().map(|d| d.name.clone()).collect::<Vec<_>>()
        );
        assert_eq!(
            split_documents(docs.clone(), 0.1, 0.1, 7),
            split,
            "same seed, same split"
        );
        assert_ne!(split_documents(docs, 0.1, 0.1, 8).valid, split.valid);
    }

    #[test]
    fn a_single_file_is_split_by_lines() {
        let split = split_documents(vec![doc("only", 100)], 0.1, 0.05, 1);
        assert_eq!(split.train[0].text.lines().count(), 85);
        assert_eq!(split.valid[0].text.lines().count(), 10);
        assert_eq!(split.test[0].text.lines().count(), 5);
    }
}
