//! Captioned images: the OpenMoji corpus or a user's captions file, split by image family, with
//! each image decoded at the configured size.
//!
//! - OpenMoji (`data.corpus: openmoji`, fetched by `scripts/fetch-data.sh openmoji`): every
//!   emoji's SVG with two references, its annotation (`"man bouncing ball: dark skin tone"`) and
//!   one built from its subgroup and tags (`"person sport ball dark skin tone"`: the subgroup's
//!   words, up to six tags, the base emoji's when a skin-tone variant has none, and the
//!   annotation's qualifier after `:`). An image's family is its base annotation: the
//!   annotation without a skin-tone qualifier and without the words man, woman, person, men,
//!   women, people, boy and girl. All skin tones and genders of one emoji ("woman mechanic:
//!   dark skin tone", "man mechanic", "mechanic: light skin tone") fall on the same side of the
//!   split, so the test holds images whose near-copies the model has not seen either.
//! - A captions file (`data.path`): Flickr8k's `captions.txt` layout, `image,caption` per line
//!   with an optional `image,caption` header and several lines per image, or its
//!   `Flickr8k.token.txt` layout, `image#n<TAB>caption`. Images are looked up in
//!   `data.image_dir` (the file's folder when absent). Each image is its own family.
//!
//! The split shuffles the families with the seed and gives `data.split.valid` and
//! `data.split.test` of them to validation and test; the images of each split are written to
//! `split.json` in the run, which `eval` reads back.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::SplitMix64;
use rnnzoo_train::rundir::RunDir;
use serde::{Deserialize, Serialize};

use crate::CaptionError;
use crate::images::load_cached;
use crate::text::{Vocabulary, normalise};

/// Default longest caption (words) when `data.max_length` is absent.
pub const DEFAULT_MAX_LENGTH: usize = 20;

/// One image and its captions.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// A name unique in the corpus (OpenMoji's hexcode, or the file name).
    pub name: String,
    /// The image file.
    pub image: PathBuf,
    /// Images of one family stay in one split.
    pub family: String,
    /// Reference captions, as written.
    pub captions: Vec<String>,
}

#[derive(Deserialize)]
struct Emoji {
    hexcode: String,
    subgroups: String,
    annotation: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    openmoji_tags: String,
    #[serde(default)]
    skintone_base_hexcode: String,
}

/// The OpenMoji items of a fetched corpus folder (`openmoji.json` and `svg/`).
pub fn openmoji_items(dir: &Path) -> Result<Vec<Item>, CaptionError> {
    let path = dir.join("openmoji.json");
    let text = std::fs::read_to_string(&path).map_err(|e| CaptionError::io(&path, e))?;
    let emoji: Vec<Emoji> = serde_json::from_str(&text)
        .map_err(|e| CaptionError::io(&path, format!("not OpenMoji's metadata: {e}")))?;
    let tags_of: HashMap<&str, &str> = emoji
        .iter()
        .map(|e| (e.hexcode.as_str(), e.tags.as_str()))
        .collect();
    Ok(emoji
        .iter()
        .map(|e| {
            let mut tags = if e.tags.is_empty() {
                tags_of
                    .get(e.skintone_base_hexcode.as_str())
                    .copied()
                    .unwrap_or("")
            } else {
                e.tags.as_str()
            };
            if tags.is_empty() {
                tags = &e.openmoji_tags;
            }
            let mut second: Vec<String> = vec![e.subgroups.replace('-', " ")];
            second.extend(
                tags.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .take(6)
                    .map(String::from),
            );
            if let Some((_, qualifier)) = e.annotation.split_once(':') {
                second.push(qualifier.trim().to_string());
            }
            let family = base_annotation(&e.annotation);
            Item {
                name: e.hexcode.clone(),
                image: dir.join("svg").join(format!("{}.svg", e.hexcode)),
                family,
                captions: vec![e.annotation.clone(), second.join(" ")],
            }
        })
        .collect())
}

/// Words that tell the gender variants of one emoji apart.
const GENDER_WORDS: [&str; 8] = [
    "man", "woman", "men", "women", "person", "people", "boy", "girl",
];

/// An OpenMoji annotation without its skin-tone qualifier and gender words: the family of
/// every variant of one emoji.
pub fn base_annotation(annotation: &str) -> String {
    let kept = match annotation.split_once(':') {
        Some((base, qualifier)) if qualifier.contains("skin tone") => base,
        _ => annotation,
    };
    crate::text::words(kept)
        .into_iter()
        .filter(|w| !GENDER_WORDS.contains(&w.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The items of a captions file (see the module's layouts), images under `image_dir`.
pub fn captions_file_items(path: &Path, image_dir: &Path) -> Result<Vec<Item>, CaptionError> {
    let bytes = std::fs::read(path).map_err(|e| CaptionError::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        CaptionError::io(
            path,
            format!(
                "not UTF-8 text (byte {} is not valid UTF-8)",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    let mut by_image: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || (i == 0 && line.trim().eq_ignore_ascii_case("image,caption")) {
            continue;
        }
        let (image, caption) = match line.split_once('\t') {
            // Flickr8k.token.txt: `name.jpg#0<TAB>caption`.
            Some((image, caption)) => (image.split('#').next().unwrap_or(image), caption),
            None => line.split_once(',').ok_or_else(|| {
                CaptionError::Other(format!(
                    "{}:{}: expected `image,caption` (or `image#n<TAB>caption`), got {line:?}",
                    path.display(),
                    i + 1
                ))
            })?,
        };
        let (image, caption) = (image.trim(), caption.trim().trim_matches('"'));
        if image.is_empty() || normalise(caption).is_empty() {
            return Err(CaptionError::Other(format!(
                "{}:{}: an empty image name or a caption without words",
                path.display(),
                i + 1
            )));
        }
        by_image
            .entry(image.to_string())
            .or_default()
            .push(caption.to_string());
    }
    if by_image.is_empty() {
        return Err(CaptionError::Other(format!(
            "{}: no captions in the file",
            path.display()
        )));
    }
    Ok(by_image
        .into_iter()
        .map(|(name, captions)| Item {
            image: image_dir.join(&name),
            family: name.clone(),
            name,
            captions,
        })
        .collect())
}

/// The items a config names.
pub fn read_items(config: &ExperimentConfig) -> Result<Vec<Item>, CaptionError> {
    let d = &config.data;
    match (&d.corpus, &d.path) {
        (Some(name), _) => {
            let dir = rnnzoo_data::corpus::ensure_corpus(name)?;
            openmoji_items(&dir)
        }
        (None, Some(path)) => {
            let dir = match &d.image_dir {
                Some(dir) => dir.clone(),
                None => path.parent().map(Path::to_path_buf).unwrap_or_default(),
            };
            if !dir.is_dir() {
                return Err(CaptionError::Other(format!(
                    "{}: the image folder does not exist (set `data.image_dir`)",
                    dir.display()
                )));
            }
            captions_file_items(path, &dir)
        }
        (None, None) => Err(CaptionError::Other(
            "data: give `corpus: openmoji` or `path` (a captions file)".into(),
        )),
    }
}

/// Items split into train, validation and test by whole families.
pub fn split_by_family(items: Vec<Item>, valid: f64, test: f64, seed: u64) -> [Vec<Item>; 3] {
    let mut families: Vec<String> = items.iter().map(|i| i.family.clone()).collect();
    families.sort();
    families.dedup();
    SplitMix64::new(seed).shuffle(&mut families);
    let n = families.len();
    let n_test = ((n as f64 * test).round() as usize).min(n);
    let n_valid = ((n as f64 * valid).round() as usize).min(n - n_test);
    let side: HashMap<&str, usize> = families
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let s = if i < n_test {
                2
            } else if i < n_test + n_valid {
                1
            } else {
                0
            };
            (f.as_str(), s)
        })
        .collect();
    let mut splits: [Vec<Item>; 3] = Default::default();
    for item in items {
        let s = side[item.family.as_str()];
        splits[s].push(item);
    }
    splits
}

/// An image ready for the model.
#[derive(Clone, Debug)]
pub struct Example {
    /// Name in the corpus.
    pub name: String,
    /// The image file.
    pub image: PathBuf,
    /// `[size, size, 3]` RGB bytes.
    pub pixels: Vec<u8>,
    /// The references, normalised (lower-case words joined by spaces).
    pub references: Vec<String>,
    /// The references' word ids.
    pub targets: Vec<Vec<usize>>,
}

/// A corpus ready for training: the vocabulary and the three splits.
pub struct Prepared {
    /// Words of the training captions.
    pub vocab: Vocabulary,
    /// Train, validation, test.
    pub splits: [Vec<Example>; 3],
    /// Images decoded per second (all threads; cached ones are fast).
    pub images_per_s: f64,
}

/// The names of each split's images, as `split.json` holds them.
#[derive(Serialize, Deserialize)]
struct SplitNames {
    train: Vec<String>,
    valid: Vec<String>,
    test: Vec<String>,
}

/// Decodes items' images at `size` (in parallel); the first image that fails is an error
/// naming it.
pub fn examples(
    items: &[Item],
    vocab: &Vocabulary,
    size: usize,
) -> Result<Vec<Example>, CaptionError> {
    items
        .par_iter()
        .map(|item| {
            let pixels = load_cached(&item.image, size)?;
            let references: Vec<String> = item.captions.iter().map(|c| normalise(c)).collect();
            Ok(Example {
                name: item.name.clone(),
                image: item.image.clone(),
                pixels,
                targets: references.iter().map(|r| vocab.encode(r)).collect(),
                references,
            })
        })
        .collect()
}

/// Reads, splits and decodes the corpus of `config`. A new run builds the vocabulary from the
/// training captions and writes `vocab.json` and `split.json`; a resumed run (or `eval`) reads
/// them back, so it sees the same words and images. With `test_only` only the test split's
/// images are decoded.
pub fn prepare(
    config: &ExperimentConfig,
    run: &RunDir,
    resume: bool,
    test_only: bool,
) -> Result<Prepared, CaptionError> {
    let items = read_items(config)?;
    let split_path = run.path.join("split.json");
    let vocab_path = run.vocab();
    let splits: [Vec<Item>; 3] = if resume {
        let text =
            std::fs::read_to_string(&split_path).map_err(|e| CaptionError::io(&split_path, e))?;
        let names: SplitNames = serde_json::from_str(&text)
            .map_err(|e| CaptionError::io(&split_path, format!("not a split file: {e}")))?;
        let by_name: HashMap<&str, &Item> = items.iter().map(|i| (i.name.as_str(), i)).collect();
        let pick = |list: &[String]| -> Result<Vec<Item>, CaptionError> {
            list.iter()
                .map(|n| {
                    by_name
                        .get(n.as_str())
                        .map(|i| (*i).clone())
                        .ok_or_else(|| {
                            CaptionError::Other(format!(
                                "{}: image `{n}` is no longer in the corpus",
                                split_path.display()
                            ))
                        })
                })
                .collect()
        };
        [pick(&names.train)?, pick(&names.valid)?, pick(&names.test)?]
    } else {
        let s = &config.data.split;
        split_by_family(items, s.valid, s.test, s.seed_or(config.seed))
    };
    let vocab = if resume {
        Vocabulary::load(&vocab_path).map_err(CaptionError::Other)?
    } else {
        let captions = splits[0].iter().flat_map(|i| i.captions.iter());
        // One style per reference position of the training images.
        let styles = if config.data.caption_styles {
            splits[0]
                .iter()
                .map(|i| i.captions.len())
                .max()
                .unwrap_or(1)
        } else {
            1
        };
        let vocab = Vocabulary::build(
            captions.map(String::as_str),
            config.data.min_freq,
            config.data.max_vocab,
            styles,
        );
        if vocab.is_empty() {
            return Err(CaptionError::Other(format!(
                "the training captions give no word seen at least {} times (data.min_freq)",
                config.data.min_freq
            )));
        }
        vocab
            .save(&vocab_path)
            .map_err(|e| CaptionError::io(&vocab_path, e))?;
        let names = |s: &[Item]| s.iter().map(|i| i.name.clone()).collect();
        let text = serde_json::to_string(&SplitNames {
            train: names(&splits[0]),
            valid: names(&splits[1]),
            test: names(&splits[2]),
        })
        .expect("names serialise");
        rnnzoo_models::weights::write_atomic(&split_path, text.as_bytes())
            .map_err(|e| CaptionError::io(&split_path, e))?;
        vocab
    };
    let size = config.images.size;
    let start = Instant::now();
    let mut decoded: [Vec<Example>; 3] = Default::default();
    for (s, items) in splits.iter().enumerate() {
        if !test_only || s == 2 {
            decoded[s] = examples(items, &vocab, size)?;
        }
    }
    let count: usize = decoded.iter().map(Vec::len).sum();
    Ok(Prepared {
        vocab,
        splits: decoded,
        images_per_s: count as f64 / start.elapsed().as_secs_f64().max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_files_of_both_layouts_group_lines_by_image_and_bad_lines_name_the_line() {
        let dir = std::env::temp_dir().join(format!("rnnzoo-caption-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("captions.txt");
        std::fs::write(
            &csv,
            "image,caption\na.png,A red circle.\nb.png,a blue square, small\na.png,red round thing\n",
        )
        .unwrap();
        let items = captions_file_items(&csv, &dir).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].name, "a.png");
        assert_eq!(items[0].captions, ["A red circle.", "red round thing"]);
        assert_eq!(items[1].captions, ["a blue square, small"]);
        let tokens = dir.join("tokens.txt");
        std::fs::write(&tokens, "x.jpg#0\tone dog\nx.jpg#1\ttwo dogs\n").unwrap();
        let items = captions_file_items(&tokens, &dir).unwrap();
        assert_eq!(items[0].captions, ["one dog", "two dogs"]);
        std::fs::write(&csv, "image,caption\na.png,ok\nno comma here\n").unwrap();
        let err = captions_file_items(&csv, &dir).unwrap_err().to_string();
        assert!(err.contains("captions.txt:3"), "{err}");
        std::fs::write(&csv, "a.png,...\n").unwrap();
        let err = captions_file_items(&csv, &dir).unwrap_err().to_string();
        assert!(err.contains(":1") && err.contains("without words"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_variants_of_an_emoji_share_a_family_and_other_emoji_do_not() {
        let family = |a: &str| base_annotation(a);
        assert_eq!(family("woman mechanic: dark skin tone"), "mechanic");
        assert_eq!(family("man mechanic"), family("mechanic: light skin tone"));
        assert_eq!(
            family("kiss: woman, man, medium-light skin tone, dark skin tone"),
            family("kiss")
        );
        assert_eq!(
            family("family: man, woman, boy"),
            family("family: woman, girl")
        );
        assert_ne!(family("flag: Germany"), family("flag: France"));
        assert_ne!(
            family("grinning face"),
            family("grinning face with big eyes")
        );
    }

    #[test]
    fn families_stay_on_one_side_of_the_split() {
        let items: Vec<Item> = (0..200)
            .map(|i| Item {
                name: format!("{i}"),
                image: PathBuf::from(format!("{i}.svg")),
                family: format!("f{}", i / 5),
                captions: vec!["x".into()],
            })
            .collect();
        let splits = split_by_family(items, 0.1, 0.1, 3);
        assert_eq!(splits.iter().map(Vec::len).sum::<usize>(), 200);
        assert_eq!((splits[1].len(), splits[2].len()), (20, 20));
        for (a, sa) in splits.iter().enumerate() {
            for (b, sb) in splits.iter().enumerate() {
                if a != b {
                    assert!(sa.iter().all(|x| sb.iter().all(|y| x.family != y.family)));
                }
            }
        }
    }
}
