//! The typed experiment schema. Every struct rejects unknown keys; every optional key has a
//! default documented in `configs/README.md`.

use std::path::PathBuf;

use rnnzoo_data::TokenizerKind;
use serde::{Deserialize, Serialize};

/// The task an experiment runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskName {
    /// Language modelling: train, evaluate, score sentences, generate text.
    Lm,
    /// Text classification (sentiment): train, evaluate, predict labels.
    Sentiment,
    /// Synthetic long-range memory problems (adding, copy) from `data.synthetic`.
    Memory,
    /// Translation: an encoder-decoder with attention over sentence pairs; BLEU and chrF.
    Translate,
    /// Speech recognition: log-mel features, a deep (bidirectional) recurrent network and CTC
    /// over characters; CER and WER.
    Speech,
    /// Image captioning: a CNN encoder and a recurrent decoder (optionally attending over the
    /// image grid); BLEU-1..4 and CIDEr-D.
    Caption,
}

/// Images of captioning: rasterised or resized to `size` x `size` RGB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesConfig {
    /// Side in pixels of the square RGB image the CNN reads.
    #[serde(default = "default_image_size")]
    pub size: usize,
    /// Training augmentation: each image is shifted by up to this many pixels in each
    /// direction (a random crop of the image padded with its background); no flips, since
    /// a flipped "left arrow" is no longer one. 0 turns it off.
    #[serde(default = "default_shift")]
    pub shift: usize,
}

fn default_image_size() -> usize {
    64
}
fn default_shift() -> usize {
    4
}

impl Default for ImagesConfig {
    fn default() -> Self {
        Self {
            size: default_image_size(),
            shift: default_shift(),
        }
    }
}

/// How a captioner's image feature enters its decoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFeedName {
    /// As the decoder's initial hidden state, `tanh(W g + b)` (every layer).
    #[default]
    State,
    /// As the decoder's first input, in place of `<s>` (Show and Tell).
    Input,
}

/// Audio features of speech recognition: an 80-bin log-mel filterbank by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Audio is resampled to this rate (Hz) before the features.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    /// Mel bins.
    #[serde(default = "default_mels")]
    pub mels: usize,
    /// Analysis window in milliseconds (Hann).
    #[serde(default = "default_window_ms")]
    pub window_ms: f64,
    /// Hop between frames in milliseconds.
    #[serde(default = "default_hop_ms")]
    pub hop_ms: f64,
    /// Frame stacking: `stack` consecutive frames become one input step (stride `stack`), which
    /// shortens the sequence the recurrent layers see.
    #[serde(default = "default_stack")]
    pub stack: usize,
    /// SpecAugment in training: masks over the mel axis and the time axis.
    #[serde(default)]
    pub spec_augment: SpecAugmentConfig,
}

fn default_sample_rate() -> u32 {
    16_000
}
fn default_mels() -> usize {
    80
}
fn default_window_ms() -> f64 {
    25.0
}
fn default_hop_ms() -> f64 {
    10.0
}
fn default_stack() -> usize {
    3
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        Self {
            sample_rate: default_sample_rate(),
            mels: default_mels(),
            window_ms: default_window_ms(),
            hop_ms: default_hop_ms(),
            stack: default_stack(),
            spec_augment: SpecAugmentConfig::default(),
        }
    }
}

/// SpecAugment (Park et al. 2019) without time warping: `freq_masks` bands of up to
/// `freq_width` mel bins and `time_masks` spans of up to `time_width` frames set to zero (the
/// normalised mean) in each training utterance. Zero masks turn it off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecAugmentConfig {
    /// Frequency masks per utterance.
    #[serde(default = "two")]
    pub freq_masks: usize,
    /// Widest frequency mask, in mel bins.
    #[serde(default = "default_freq_width")]
    pub freq_width: usize,
    /// Time masks per utterance.
    #[serde(default = "two")]
    pub time_masks: usize,
    /// Widest time mask, in frames (before stacking).
    #[serde(default = "default_time_width")]
    pub time_width: usize,
}

fn two() -> usize {
    2
}
fn default_freq_width() -> usize {
    15
}
fn default_time_width() -> usize {
    20
}

impl Default for SpecAugmentConfig {
    fn default() -> Self {
        Self {
            freq_masks: 2,
            freq_width: default_freq_width(),
            time_masks: 2,
            time_width: default_time_width(),
        }
    }
}

/// How a translation decoder attends to the encoder's outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionName {
    /// No attention: the decoder sees the source only through its initial state.
    None,
    /// Additive scores `v · tanh(W_q d_t + W_k e_s + b)` (Bahdanau et al. 2015; OpenNMT's `mlp`).
    Bahdanau,
    /// Dot-product scores `d_t · e_s` (Luong et al. 2015); needs equal sizes.
    Dot,
    /// Bilinear scores `d_t · W e_s` (Luong et al. 2015, `general`).
    General,
}

/// Decoding of a translation model: greedy when `beam` is 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeConfig {
    /// Beam width for `translate` and `eval` (1 is greedy).
    #[serde(default = "default_beam")]
    pub beam: usize,
    /// Beam width of the validation BLEU during training (1 is greedy, the fastest).
    #[serde(default = "one")]
    pub valid_beam: usize,
    /// Length normalisation: a hypothesis scores `log p / length^length_penalty` (0 is none,
    /// 1 the mean log-probability per token).
    #[serde(default = "one_f64")]
    pub length_penalty: f64,
    /// At most `max_length_ratio · source tokens + 10` target tokens are generated.
    #[serde(default = "default_length_ratio")]
    pub max_length_ratio: f64,
    /// Replace each generated `<unk>` by the source word it attends to most (needs attention).
    #[serde(default = "yes")]
    pub replace_unk: bool,
    /// Speech: a character n-gram language model for CTC prefix beam search, trained on this
    /// text file, or on the training transcripts with `train` (shallow fusion; none when
    /// absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lm_text: Option<PathBuf>,
    /// Speech: the n-gram order of `lm_text`.
    #[serde(default = "default_lm_order")]
    pub lm_order: usize,
    /// Speech: weight of the language model's log-probability in the beam score.
    #[serde(default = "default_lm_weight")]
    pub lm_weight: f64,
    /// Speech: bonus added to the beam score per emitted character (offsets the language
    /// model's preference for short outputs).
    #[serde(default)]
    pub lm_bonus: f64,
    /// Captioning with `data.caption_styles`: the style captions are written in, as the
    /// reference number (1 is each image's first reference, OpenMoji's annotation).
    #[serde(default = "one")]
    pub style: usize,
}

fn default_lm_order() -> usize {
    5
}
fn default_lm_weight() -> f64 {
    0.5
}

fn default_beam() -> usize {
    5
}
fn default_length_ratio() -> f64 {
    2.0
}
fn yes() -> bool {
    true
}

impl Default for DecodeConfig {
    fn default() -> Self {
        Self {
            beam: default_beam(),
            valid_beam: 1,
            length_penalty: 1.0,
            max_length_ratio: default_length_ratio(),
            replace_unk: true,
            lm_text: None,
            lm_order: default_lm_order(),
            lm_weight: default_lm_weight(),
            lm_bonus: 0.0,
            style: 1,
        }
    }
}

/// A synthetic long-range memory problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProblemName {
    /// The adding problem (Hochreiter & Schmidhuber 1997): `delay` steps of (value, marker)
    /// pairs, two of them marked; the target is the sum of the two marked values.
    Adding,
    /// Delayed recall / copy memory (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016):
    /// `symbols` random symbols, `delay` blanks, then the symbols are to be reproduced.
    Copy,
}

/// Generated data for `task: memory`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// `adding` or `copy`.
    pub problem: ProblemName,
    /// Adding: the sequence length; copy: blank steps between the symbols and the recall cue.
    pub delay: usize,
    /// Copy: symbols to remember.
    #[serde(default = "default_symbols")]
    pub symbols: usize,
    /// Copy: distinct symbols (the alphabet size).
    #[serde(default = "default_alphabet")]
    pub alphabet: usize,
    /// Sequences in the validation set (fixed per problem and delay, whatever the seed).
    #[serde(default = "default_examples")]
    pub valid_examples: usize,
    /// Sequences in the test set (fixed per problem and delay, whatever the seed).
    #[serde(default = "default_examples")]
    pub test_examples: usize,
}

fn default_symbols() -> usize {
    10
}
fn default_alphabet() -> usize {
    8
}
fn default_examples() -> usize {
    1000
}

/// Format of a labelled data file (classification tasks).
pub use rnnzoo_data::labelled::DataFormat;

/// How a text becomes model input for classification.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The final state (both directions' when bidirectional), at each text's true end.
    #[default]
    Last,
    /// Mean of the outputs over the true length.
    Mean,
    /// Element-wise maximum of the outputs over the true length.
    Max,
    /// Attention-weighted sum of the outputs (Bahdanau-style scorer, padding masked).
    Attention,
}

/// The embedding layer: a size, or a size with pretrained vectors.
///
/// Written either as a number (`embedding: 128`) or as a map
/// (`embedding: { size: 300, pretrained: glove.txt, freeze: true }`).
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingSpec {
    /// Vector size.
    pub size: usize,
    /// Word vectors in word2vec/GloVe text format (`word v1 v2 ...` per line).
    pub pretrained: Option<PathBuf>,
    /// Keep the embedding fixed during training.
    pub freeze: bool,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct EmbeddingMap {
    size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pretrained: Option<PathBuf>,
    #[serde(default)]
    freeze: bool,
}

impl Serialize for EmbeddingSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.pretrained.is_none() && !self.freeze {
            s.serialize_u64(self.size as u64)
        } else {
            EmbeddingMap {
                size: self.size,
                pretrained: self.pretrained.clone(),
                freeze: self.freeze,
            }
            .serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for EmbeddingSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = EmbeddingSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size, or a map with `size`, `pretrained` and `freeze`")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<EmbeddingSpec, E> {
                Ok(EmbeddingSpec {
                    size: v as usize,
                    pretrained: None,
                    freeze: false,
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<EmbeddingSpec, E> {
                usize::try_from(v)
                    .map(|size| EmbeddingSpec {
                        size,
                        pretrained: None,
                        freeze: false,
                    })
                    .map_err(|_| E::custom("embedding size must be positive"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<EmbeddingSpec, A::Error> {
                let m =
                    EmbeddingMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(EmbeddingSpec {
                    size: m.size,
                    pretrained: m.pretrained,
                    freeze: m.freeze,
                })
            }
        }
        d.deserialize_any(Visit)
    }
}

/// The Burn backend to run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceName {
    /// Burn's pure-Rust CPU backend (the default).
    #[default]
    Flex,
    /// The older ndarray CPU backend (needs the `ndarray` cargo feature).
    Ndarray,
    /// GPU through wgpu (needs the `wgpu` cargo feature).
    Wgpu,
}

/// One whole experiment file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Run name; runs are written to `runs/<name>/<timestamp>/`.
    pub name: String,
    /// The task.
    pub task: TaskName,
    /// Seed of weights, data order, dropout and splits.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Backend.
    #[serde(default)]
    pub device: DeviceName,
    /// The corpus and its tokenisation.
    pub data: DataConfig,
    /// The network.
    pub model: ModelConfig,
    /// The training run.
    pub train: TrainConfig,
    /// Text generated at the end of training (language models).
    #[serde(default)]
    pub sample: Option<SampleConfig>,
    /// Decoding of translation models (beam width, length normalisation, `<unk>` replacement)
    /// and speech models (beam width, language model fusion).
    #[serde(default)]
    pub decode: DecodeConfig,
    /// Audio features (speech recognition).
    #[serde(default)]
    pub features: FeaturesConfig,
    /// Image size and augmentation (captioning).
    #[serde(default)]
    pub images: ImagesConfig,
    /// Fine-tuning: start from this trained run's weights and vocabulary (its `model` section
    /// is used when the config has none; an explicit one must match its architecture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Fine-tuning: `keep` the run's vocabulary (new tokens read as `<unk>`) or `extend` it
    /// with the new corpus's tokens (old ids unchanged, new rows appended).
    #[serde(default)]
    pub vocab: VocabMode,
    /// Parameters left untouched by training: `embedding`, `layers.<k>` (every direction of
    /// layer k), `output` (language models) or `head` and `attention` (classifiers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<String>,
}

/// How fine-tuning treats the trained run's vocabulary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VocabMode {
    /// The run's vocabulary as it is; unknown tokens become `<unk>`.
    #[default]
    Keep,
    /// The run's vocabulary plus the new corpus's tokens, appended.
    Extend,
}

impl ModelConfig {
    /// The architecture keys on which `self` and `other` differ (`model.hidden: 512 vs 256`);
    /// empty when weights of one load into the other. Dropout, forget-bias initialisation and
    /// pretrained vectors are not architecture.
    pub fn architecture_differences(&self, other: &ModelConfig) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |key: &str, a: String, b: String| {
            if a != b {
                out.push(format!("model.{key}: {a} vs {b}"));
            }
        };
        check(
            "embedding",
            self.embedding.size.to_string(),
            other.embedding.size.to_string(),
        );
        check(
            "cell",
            format!("{:?}", self.cell),
            format!("{:?}", other.cell),
        );
        check(
            "activation",
            format!("{:?}", self.activation),
            format!("{:?}", other.activation),
        );
        check(
            "peephole",
            self.peephole.to_string(),
            other.peephole.to_string(),
        );
        check(
            "coupled",
            self.coupled.to_string(),
            other.coupled.to_string(),
        );
        check("hidden", self.hidden.to_string(), other.hidden.to_string());
        check("layers", self.layers.to_string(), other.layers.to_string());
        check(
            "bidirectional",
            self.bidirectional.to_string(),
            other.bidirectional.to_string(),
        );
        check(
            "tie_weights",
            self.tie_weights.to_string(),
            other.tie_weights.to_string(),
        );
        check(
            "pooling",
            format!("{:?}", self.pooling),
            format!("{:?}", other.pooling),
        );
        check(
            "attention",
            format!("{:?}", self.attention),
            format!("{:?}", other.attention),
        );
        check(
            "input_feeding",
            self.input_feeding.to_string(),
            other.input_feeding.to_string(),
        );
        check(
            "decoder_hidden",
            format!("{:?}", self.decoder_hidden),
            format!("{:?}", other.decoder_hidden),
        );
        out.into_iter().map(|d| d.to_lowercase()).collect()
    }
}

fn default_seed() -> u64 {
    17
}

/// Where text comes from and how it is cut into tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A named corpus fetched by `scripts/fetch-data.sh` (`shakespeare`).
    #[serde(default)]
    pub corpus: Option<String>,
    /// A user's UTF-8 text file, or a folder of `.txt` files (one document each).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Generated sequences (`task: memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticConfig>,
    /// `char` or `word`.
    #[serde(default)]
    pub tokenizer: TokenizerKind,
    /// Word level: tokens seen fewer times become `<unk>`.
    #[serde(default = "one")]
    pub min_freq: usize,
    /// Word level: at most this many tokens in the vocabulary (specials included).
    #[serde(default)]
    pub max_vocab: Option<usize>,
    /// Held-out fractions, by whole document.
    #[serde(default)]
    pub split: SplitConfig,
    /// Translation from two aligned files: `path` holds the source sentences and this file
    /// their translations, line by line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<PathBuf>,
    /// Translation from the `bible` corpus: `es-en` (Reina-Valera 1909 to King James) or
    /// `en-es`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Translation: pairs with more tokens than this on either side are left out.
    /// Captioning: captions with more words are left out of training, and decoding stops
    /// after this many words (20 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Captioning: train on only the first this many captions of each image (all of them when
    /// absent); evaluation still scores against every reference. OpenMoji's first caption is
    /// its annotation, so `1` teaches the decoder one style of caption instead of two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_captions: Option<usize>,
    /// Captioning: each caption's place among its image's references is its style (OpenMoji:
    /// the annotation, then the subgroup-and-tags list), and the decoder's first input says
    /// which: `<s>` for the first, `<s2>`, `<s3>`, ... for the others. Decoding then writes in
    /// one style, `decode.style`, while training learns from every caption.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub caption_styles: bool,
    /// Captioning with `path` (a captions file): the folder of its images (the captions
    /// file's own folder when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_dir: Option<PathBuf>,
    /// Use only the first this many characters of the training text (quick runs).
    #[serde(default)]
    pub max_train_chars: Option<usize>,
    /// Classification: the file's format (from its extension when absent).
    #[serde(default)]
    pub format: Option<DataFormat>,
    /// Classification: the column (or JSON key) holding the text.
    #[serde(default = "text_column")]
    pub text_column: String,
    /// Classification: the column (or JSON key) holding the label.
    #[serde(default = "label_column")]
    pub label_column: String,
    /// Lower-case texts before tokenising.
    #[serde(default)]
    pub lowercase: bool,
}

fn text_column() -> String {
    "text".into()
}

fn label_column() -> String {
    "label".into()
}

fn one() -> usize {
    1
}

/// Held-out fractions of the corpus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// Fraction of characters for validation.
    #[serde(default = "five_percent")]
    pub valid: f64,
    /// Fraction of characters for the test set.
    #[serde(default = "five_percent")]
    pub test: f64,
    /// Seed of the held-out split; the experiment's `seed` when absent. Set it to keep one split
    /// across seeds, so that a comparison's seeds vary only the initialisation and the batch
    /// order and differences between variants are not drowned in split noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl SplitConfig {
    /// The seed that draws the split: `seed` when set, else the experiment's.
    pub fn seed_or(&self, experiment_seed: u64) -> u64 {
        self.seed.unwrap_or(experiment_seed)
    }
}

fn five_percent() -> f64 {
    0.05
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            valid: 0.05,
            test: 0.05,
            seed: None,
        }
    }
}

/// Recurrent cell names as written in configs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellName {
    /// Elman RNN (see `model.activation`).
    Rnn,
    /// LSTM (see `model.peephole`, `model.coupled`).
    Lstm,
    /// GRU.
    Gru,
}

/// Non-linearity of the Elman RNN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivationName {
    /// tanh.
    #[default]
    Tanh,
    /// ReLU.
    Relu,
}

/// The network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Embedding size, or `{ size, pretrained, freeze }`.
    #[serde(default = "default_embedding")]
    pub embedding: EmbeddingSpec,
    /// Recurrent cell.
    pub cell: CellName,
    /// Elman RNN non-linearity.
    #[serde(default)]
    pub activation: ActivationName,
    /// LSTM peephole connections.
    #[serde(default)]
    pub peephole: bool,
    /// LSTM coupled input/forget gates (`f = 1 - i`).
    #[serde(default)]
    pub coupled: bool,
    /// Hidden size per direction.
    pub hidden: usize,
    /// Stacked recurrent layers.
    #[serde(default = "one")]
    pub layers: usize,
    /// Bidirectional encoder (not for language models, which must not see the future).
    #[serde(default)]
    pub bidirectional: bool,
    /// Dropout on embeddings, between layers and before the output layer.
    #[serde(default)]
    pub dropout: f64,
    /// Share the embedding and output weights (Press & Wolf 2017); needs `embedding == hidden`.
    #[serde(default)]
    pub tie_weights: bool,
    /// LSTM forget-gate bias at initialisation.
    #[serde(default = "one_f64")]
    pub forget_bias: f64,
    /// Classification: how the sequence of outputs becomes one vector.
    #[serde(default)]
    pub pooling: Pooling,
    /// Translation: how the decoder attends to the source (`general` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<AttentionName>,
    /// Translation: feed the previous attentional state into the decoder's next input (Luong
    /// et al. 2015); the decoder then runs one step at a time in training too.
    #[serde(default)]
    pub input_feeding: bool,
    /// Translation: the decoder's hidden size (`hidden` times the encoder's directions when
    /// absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_hidden: Option<usize>,
    /// Captioning: output channels of each CNN block (conv3x3, batch norm, ReLU, 2x2 max
    /// pooling).
    #[serde(default = "default_cnn", skip_serializing_if = "is_default_cnn")]
    pub cnn: Vec<usize>,
    /// Captioning: how the pooled image feature enters the decoder.
    #[serde(default)]
    pub image_feed: ImageFeedName,
}

fn default_cnn() -> Vec<usize> {
    vec![32, 64, 128]
}
fn is_default_cnn(v: &[usize]) -> bool {
    v == default_cnn()
}

fn default_embedding() -> EmbeddingSpec {
    EmbeddingSpec {
        size: 128,
        pretrained: None,
        freeze: false,
    }
}

fn one_f64() -> f64 {
    1.0
}

/// Optimizer names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerName {
    /// Adam (Kingma & Ba), with PyTorch's epsilon 1e-8.
    Adam,
    /// Stochastic gradient descent, optionally with momentum.
    Sgd,
}

/// The optimizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// `adam` or `sgd`.
    #[serde(default = "adam")]
    pub name: OptimizerName,
    /// Peak learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// L2 weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// SGD momentum (0 for none).
    #[serde(default)]
    pub momentum: f64,
    /// Adam's decay rates of the first and second moment estimates, PyTorch's `betas`.
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}

fn adam() -> OptimizerName {
    OptimizerName::Adam
}

fn default_lr() -> f64 {
    2e-3
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            name: OptimizerName::Adam,
            lr: default_lr(),
            weight_decay: 0.0,
            momentum: 0.0,
            betas: default_betas(),
        }
    }
}

/// Learning-rate schedule names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleName {
    /// The peak rate throughout (after warm-up).
    #[default]
    Constant,
    /// Cosine decay from the peak to `min_lr` over the run.
    Cosine,
    /// Multiply by `gamma` every `step_size` steps.
    Step,
}

/// The learning-rate schedule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// `constant`, `cosine` or `step`.
    #[serde(default)]
    pub name: ScheduleName,
    /// Linear warm-up from 0 over this many steps.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Cosine: the final rate.
    #[serde(default)]
    pub min_lr: f64,
    /// Step: steps between decays.
    #[serde(default)]
    pub step_size: Option<usize>,
    /// Step: decay factor.
    #[serde(default)]
    pub gamma: Option<f64>,
    /// Cosine: what the decay runs over, `steps` (`train.steps`) or `time` (the time budget
    /// `train.max_minutes`, or the steps if they run out first).
    #[serde(default)]
    pub over: ScheduleHorizon,
}

/// What a cosine schedule decays over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleHorizon {
    /// `train.steps`: the same rate at each step on any machine.
    #[default]
    Steps,
    /// Whichever of `train.steps` and `train.max_minutes` runs out first, so a run cut by its
    /// time budget still ends at `min_lr` however fast the machine is.
    Time,
}

/// Early stopping on the validation loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// Evaluations without improvement before training stops.
    pub patience: usize,
}

/// The training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimizer steps to run (exclusive with `epochs`).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Passes over the training data (exclusive with `steps`).
    #[serde(default)]
    pub epochs: Option<usize>,
    /// Also stop after this many minutes of training.
    #[serde(default)]
    pub max_minutes: Option<f64>,
    /// Sequences per batch (parallel streams for language models).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Truncated-BPTT segment length.
    #[serde(default = "default_bptt")]
    pub bptt: usize,
    /// Language models: the probability, per stream and segment, that the carried state is
    /// zeroed, so the model also learns to start from nothing (as `score` and `generate` do).
    #[serde(default = "default_state_reset_prob")]
    pub state_reset_prob: f64,
    /// The optimizer.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule.
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// Global gradient-norm clipping threshold.
    #[serde(default)]
    pub clip_norm: Option<f64>,
    /// Steps between validations (and at the end).
    #[serde(default = "default_eval_every")]
    pub eval_every: usize,
    /// Steps between checkpoints (and at each validation that improves, and at the end).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// Steps between progress lines when not on a terminal.
    #[serde(default = "default_log_every")]
    pub log_every: usize,
    /// Early stopping.
    #[serde(default)]
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Validate on at most this many target tokens (the full split when absent).
    #[serde(default)]
    pub max_eval_tokens: Option<usize>,
    /// What a NaN or infinite loss or gradient norm does: stop the run (keeping the last good
    /// checkpoint), or skip the batch and halve the learning rate.
    #[serde(default)]
    pub on_nan: OnNan,
    /// With `on_nan: skip`: batches skipped at most before the run stops anyway.
    #[serde(default = "default_max_nan_skips")]
    pub max_nan_skips: usize,
    /// Translation: the probability that the decoder reads the true previous word rather than
    /// its own prediction (1 is full teacher forcing; below 1 the decoder runs step by step).
    #[serde(default = "one_f64")]
    pub teacher_forcing: f64,
    /// Translation: label smoothing `ε` of the cross-entropy (PyTorch's `label_smoothing`).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Captioning: the probability that, in training, the decoder reads `<unk>` in place of
    /// each true previous word (word dropout: Bowman et al. 2016, Gal and Ghahramani 2016), so
    /// that it leans on the image more than on the words before. The targets stay the true
    /// words; the start token is never dropped. 0 is none.
    #[serde(default)]
    pub word_dropout: f64,
    /// Captioning with attention: the weight `λ` of Xu et al.'s (2015) doubly stochastic
    /// attention penalty, which asks the decoder to attend to every cell of the image's grid
    /// about equally often over a caption (`rnnzoo_models::attention::coverage_penalty`; their
    /// `λ` is 1). 0 is none.
    #[serde(default)]
    pub attention_penalty: f64,
    /// An exponential moving average of the weights, `θ̄ ← d·θ̄ + (1 − d)·θ` after every
    /// optimizer step, with `d = min(ema_decay, (1 + t) / (10 + t))` at step `t` so that the
    /// average forgets its random start quickly (TensorFlow's `ExponentialMovingAverage` with
    /// `num_updates`; Keras' `use_ema`/`ema_momentum`, OpenNMT's `average_decay`). Validation,
    /// the best checkpoint, evaluation and inference use the averaged weights; training goes on
    /// from the raw ones. Absent: no average.
    #[serde(default)]
    pub ema_decay: Option<f64>,
}

/// What the training loop does with a NaN or infinite loss or gradient norm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnNan {
    /// Stop with an error naming the step; the last checkpoint stays as it was.
    #[default]
    Stop,
    /// Skip the batch (no update) and halve the learning rate from then on.
    Skip,
}

fn default_max_nan_skips() -> usize {
    3
}

fn default_batch() -> usize {
    32
}
fn default_bptt() -> usize {
    64
}
/// 0.05: a carried state lives 20 segments on average (1,280 tokens at `bptt` 64), far past
/// any one segment. At 0.01, 2 of 8 seeds of the quick start (64 -> 256 LSTM, 300 steps) learnt
/// a model that babbles from a zero state after an all-capitals prompt; at 0.05, none of the
/// same 8 did, at the same validation loss.
fn default_state_reset_prob() -> f64 {
    0.05
}
fn default_eval_every() -> usize {
    500
}
fn default_checkpoint_every() -> usize {
    1000
}
fn default_log_every() -> usize {
    50
}

/// Text generated at the end of training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Text the sample continues.
    #[serde(default)]
    pub prompt: String,
    /// Tokens to generate.
    #[serde(default = "default_sample_len")]
    pub length: usize,
    /// Softmax temperature.
    #[serde(default = "one_f64")]
    pub temperature: f64,
    /// Sample only among the `top_k` most likely tokens.
    #[serde(default)]
    pub top_k: Option<usize>,
}

fn default_sample_len() -> usize {
    300
}

/// Whether `name` can be a folder under a runs folder and nothing else: not empty, not
/// starting with `.`, only letters, digits, `-`, `_`, `.` and `+` (so no `/` or `..`).
pub fn is_plain_folder_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
}

impl ExperimentConfig {
    /// Checks what the types alone cannot: exclusive or dependent keys, ranges.
    pub fn validate(&self) -> Result<(), String> {
        // The name is a folder under the runs folder: nothing in it may lead elsewhere.
        if !is_plain_folder_name(&self.name) {
            return Err(format!(
                "name: `{}` must be a plain folder name (letters, digits, `-`, `_`, `.`, `+`; \
                 not starting with `.`), since runs go to <runs>/<name>/",
                self.name
            ));
        }
        let d = &self.data;
        if self.task == TaskName::Memory {
            self.validate_memory()?;
        } else if d.synthetic.is_some() {
            return Err("data.synthetic: generated sequences are for `task: memory`".into());
        } else {
            match (&d.corpus, &d.path) {
                (None, None) => {
                    return Err(
                        "data: give `corpus` (a named corpus) or `path` (your text file or folder)"
                            .into(),
                    );
                }
                (Some(_), Some(_)) => {
                    return Err("data: give either `corpus` or `path`, not both".into());
                }
                _ => {}
            }
        }
        if !(0.0..0.5).contains(&d.split.valid) || !(0.0..0.5).contains(&d.split.test) {
            return Err("data.split: `valid` and `test` must be fractions in [0, 0.5)".into());
        }
        if self.vocab == VocabMode::Extend && self.init_from.is_none() {
            return Err("vocab: `extend` applies when fine-tuning (`init_from: RUN_DIR`)".into());
        }
        for name in &self.freeze {
            let layer_ok = frozen_layer(name).is_some_and(|k| k < self.model.layers);
            let parts: &[&str] = match self.task {
                TaskName::Lm => &["embedding", "output"],
                TaskName::Sentiment => &["embedding", "head", "attention"],
                TaskName::Memory => &["head"],
                TaskName::Translate => &["embedding", "output"],
                TaskName::Speech => &["output"],
                TaskName::Caption => &["cnn", "embedding", "output"],
            };
            if !(layer_ok || parts.contains(&name.as_str())) {
                let names: Vec<String> = parts.iter().map(|p| format!("`{p}`")).collect();
                return Err(format!(
                    "freeze: `{name}` is not a part of this model: {}, or `layers.<k>` with k < {}",
                    names.join(", "),
                    self.model.layers
                ));
            }
        }
        let schedule = &self.train.schedule;
        if schedule.over == ScheduleHorizon::Time {
            if schedule.name != ScheduleName::Cosine {
                return Err("train.schedule.over: `time` applies to `name: cosine`".into());
            }
            if self.train.max_minutes.is_none() {
                return Err(
                    "train.schedule.over: `time` needs a time budget, `train.max_minutes`".into(),
                );
            }
        }
        let optimizer = &self.train.optimizer;
        if optimizer.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
            return Err(format!(
                "train.optimizer.betas must both be in [0, 1), got {:?}",
                optimizer.betas
            ));
        }
        if optimizer.name != OptimizerName::Adam && optimizer.betas != default_betas() {
            return Err("train.optimizer.betas apply to `name: adam` only".into());
        }
        let m = &self.model;
        if m.hidden == 0 || m.embedding.size == 0 || m.layers == 0 {
            return Err("model: `hidden`, `embedding` and `layers` must be positive".into());
        }
        if m.cell != CellName::Lstm && (m.peephole || m.coupled) {
            return Err(format!(
                "model: `peephole` and `coupled` apply to `cell: lstm` only, not `{:?}`",
                m.cell
            )
            .to_lowercase());
        }
        if m.cell != CellName::Rnn && m.activation != ActivationName::Tanh {
            return Err("model: `activation` applies to `cell: rnn` only".into());
        }
        if !(0.0..1.0).contains(&m.dropout) {
            return Err("model.dropout must be in [0, 1)".into());
        }
        if m.tie_weights && m.embedding.size != m.hidden {
            return Err(format!(
                "model.tie_weights needs `embedding` ({}) equal to `hidden` ({})",
                m.embedding.size, m.hidden
            ));
        }
        if self.task != TaskName::Sentiment && m.pooling != Pooling::Last {
            return Err("model.pooling applies to classification tasks (`task: sentiment`)".into());
        }
        if self.task != TaskName::Lm && m.tie_weights {
            return Err("model.tie_weights applies to language models only".into());
        }
        if self.task == TaskName::Lm && m.bidirectional {
            return Err(
                "model.bidirectional: a language model must not see the future; set it to false"
                    .into(),
            );
        }
        // Captioning first: its own `decode.style` would otherwise read as a translation key.
        self.validate_caption()?;
        self.validate_translate()?;
        self.validate_speech()?;
        let t = &self.train;
        match (t.steps, t.epochs) {
            (None, None) => return Err("train: give `steps` or `epochs`".into()),
            (Some(_), Some(_)) => {
                return Err("train: give either `steps` or `epochs`, not both".into());
            }
            _ => {}
        }
        if t.batch_size == 0
            || t.bptt == 0
            || t.eval_every == 0
            || t.checkpoint_every == 0
            || t.log_every == 0
        {
            return Err("train: `batch_size`, `bptt`, `eval_every`, `checkpoint_every` and `log_every` must be positive".into());
        }
        if !(0.0..=1.0).contains(&t.state_reset_prob) {
            return Err("train.state_reset_prob must be a probability in [0, 1]".into());
        }
        if t.steps == Some(0) || t.epochs == Some(0) {
            return Err("train: `steps` and `epochs` must be at least 1".into());
        }
        if let Some(m) = t.max_minutes
            && !(m.is_finite() && m > 0.0)
        {
            return Err(format!(
                "train.max_minutes must be a positive number of minutes, got {m}"
            ));
        }
        if !(t.optimizer.lr.is_finite() && t.optimizer.lr > 0.0) {
            return Err(format!(
                "train.optimizer.lr must be a positive finite number, got {}",
                t.optimizer.lr
            ));
        }
        let o = &t.optimizer;
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return Err(format!(
                "train.optimizer.weight_decay must be >= 0, got {}",
                o.weight_decay
            ));
        }
        if !(0.0..1.0).contains(&o.momentum) {
            return Err(format!(
                "train.optimizer.momentum must be in [0, 1), got {}",
                o.momentum
            ));
        }
        if !(t.schedule.min_lr.is_finite() && (0.0..=o.lr).contains(&t.schedule.min_lr)) {
            return Err(format!(
                "train.schedule.min_lr must be between 0 and train.optimizer.lr ({}), got {}",
                o.lr, t.schedule.min_lr
            ));
        }
        if t.schedule.step_size == Some(0) {
            return Err("train.schedule.step_size must be at least 1".into());
        }
        if let Some(g) = t.schedule.gamma
            && !(g.is_finite() && g > 0.0 && g <= 1.0)
        {
            return Err(format!(
                "train.schedule.gamma must be in (0, 1] (the factor the rate is multiplied by), got {g}"
            ));
        }
        if t.early_stopping.as_ref().is_some_and(|e| e.patience == 0) {
            return Err("train.early_stopping.patience must be at least 1 evaluation".into());
        }
        if t.max_eval_tokens == Some(0) {
            return Err("train.max_eval_tokens must be at least 1 (or left out)".into());
        }
        if let Some(s) = &self.sample {
            if !(s.temperature.is_finite() && s.temperature > 0.0) {
                return Err(format!(
                    "sample.temperature must be a positive number, got {}",
                    s.temperature
                ));
            }
            if s.top_k == Some(0) {
                return Err("sample.top_k must be at least 1 (or left out for all tokens)".into());
            }
        }
        if !m.forget_bias.is_finite() {
            return Err("model.forget_bias must be a finite number".into());
        }
        if t.schedule.name == ScheduleName::Step && t.schedule.step_size.is_none() {
            return Err("train.schedule: `name: step` needs `step_size`".into());
        }
        if let Some(c) = t.clip_norm
            && (c.is_nan() || c <= 0.0)
        {
            return Err("train.clip_norm must be positive".into());
        }
        if let Some(d) = t.ema_decay
            && !(d > 0.0 && d < 1.0)
        {
            return Err(
                "train.ema_decay must be in (0, 1), e.g. 0.999 (or left out for no average)".into(),
            );
        }
        Ok(())
    }

    /// The checks of speech keys: where they apply and their ranges.
    fn validate_speech(&self) -> Result<(), String> {
        let (f, d) = (&self.features, &self.decode);
        if self.task != TaskName::Speech {
            let defaults = DecodeConfig::default();
            let misplaced = [
                ("features", *f != FeaturesConfig::default()),
                ("decode.lm_text", d.lm_text.is_some()),
                ("decode.lm_order", d.lm_order != defaults.lm_order),
                ("decode.lm_weight", d.lm_weight != defaults.lm_weight),
                ("decode.lm_bonus", d.lm_bonus != defaults.lm_bonus),
            ];
            if let Some((key, _)) = misplaced.iter().find(|(_, set)| *set) {
                return Err(format!("{key} applies to `task: speech` only"));
            }
            return Ok(());
        }
        if f.sample_rate < 1000 || f.sample_rate > 192_000 {
            return Err(format!(
                "features.sample_rate must be between 1000 and 192000 Hz, got {}",
                f.sample_rate
            ));
        }
        if f.mels == 0 || f.stack == 0 {
            return Err("features: `mels` and `stack` must be positive".into());
        }
        let finite_positive = |v: f64| v.is_finite() && v > 0.0;
        if !finite_positive(f.window_ms) || !finite_positive(f.hop_ms) {
            return Err("features: `window_ms` and `hop_ms` must be positive".into());
        }
        let window = f.window_ms * f.sample_rate as f64 / 1000.0;
        if window < 8.0 || f.hop_ms > f.window_ms {
            return Err(format!(
                "features: a window of {} ms is {window:.0} samples at {} Hz (at least 8 needed), and the hop ({} ms) must not exceed it",
                f.window_ms, f.sample_rate, f.hop_ms
            ));
        }
        if f.spec_augment.freq_width >= f.mels {
            return Err(format!(
                "features.spec_augment.freq_width ({}) must be below `mels` ({})",
                f.spec_augment.freq_width, f.mels
            ));
        }
        if !(1..=5).contains(&d.lm_order) {
            return Err(format!(
                "decode.lm_order must be 1 to 5, got {}",
                d.lm_order
            ));
        }
        if !d.lm_weight.is_finite() || d.lm_weight < 0.0 || !d.lm_bonus.is_finite() {
            return Err(
                "decode: `lm_weight` must be a finite non-negative number and `lm_bonus` finite"
                    .into(),
            );
        }
        if d.beam == 0 {
            return Err("decode.beam must be at least 1".into());
        }
        Ok(())
    }

    /// The checks of captioning keys: where they apply and their ranges.
    fn validate_caption(&self) -> Result<(), String> {
        let (d, m) = (&self.data, &self.model);
        if self.task != TaskName::Caption {
            let misplaced = [
                ("images", self.images != ImagesConfig::default()),
                ("train.word_dropout", self.train.word_dropout != 0.0),
                (
                    "train.attention_penalty",
                    self.train.attention_penalty != 0.0,
                ),
                ("data.image_dir", d.image_dir.is_some()),
                ("model.cnn", m.cnn != default_cnn()),
                ("model.image_feed", m.image_feed != ImageFeedName::State),
                ("data.caption_styles", d.caption_styles),
                ("decode.style", self.decode.style != 1),
            ];
            if let Some((key, _)) = misplaced.iter().find(|(_, set)| *set) {
                return Err(format!("{key} applies to captioning (`task: caption`)"));
            }
            return Ok(());
        }
        if let Some(c) = &d.corpus
            && c != "openmoji"
        {
            return Err(format!(
                "data.corpus: `{c}` has no images; captioning has `openmoji`, or give `path` (a captions file of `image,caption` lines)"
            ));
        }
        if d.image_dir.is_some() && d.path.is_none() {
            return Err("data.image_dir applies with `path`, a captions file".into());
        }
        if self.decode.style == 0 {
            return Err(
                "decode.style is a reference number: 1 for each image's first caption".into(),
            );
        }
        if !(0.0..1.0).contains(&self.train.word_dropout) {
            return Err(format!(
                "train.word_dropout must be a probability in [0, 1), got {}",
                self.train.word_dropout
            ));
        }
        let penalty = self.train.attention_penalty;
        if !(penalty.is_finite() && penalty >= 0.0) {
            return Err(format!(
                "train.attention_penalty must be a finite number >= 0, got {penalty}"
            ));
        }
        if penalty > 0.0 && matches!(m.attention, None | Some(AttentionName::None)) {
            return Err(
                "train.attention_penalty needs attention (`model.attention` is `none`)".into(),
            );
        }
        if self.decode.style != 1 && !d.caption_styles {
            return Err(format!(
                "decode.style: {} needs `data.caption_styles: true` (training with a start token per style)",
                self.decode.style
            ));
        }
        if m.cnn.is_empty() || m.cnn.contains(&0) {
            return Err(
                "model.cnn: give each block's channels, all positive (e.g. [32, 64, 128])".into(),
            );
        }
        if m.bidirectional {
            return Err(
                "model.bidirectional: a caption decoder writes left to right; set it to false"
                    .into(),
            );
        }
        let blocks = m.cnn.len() as u32;
        if self.images.size < 2usize.pow(blocks) || self.images.size > 1024 {
            return Err(format!(
                "images.size ({}) must be at least 2^{blocks} = {} (each CNN block halves it) and at most 1024",
                self.images.size,
                2usize.pow(blocks)
            ));
        }
        if self.images.shift >= self.images.size / 2 {
            return Err(format!(
                "images.shift ({}) must be below half of images.size ({})",
                self.images.shift, self.images.size
            ));
        }
        let channels = m.cnn[m.cnn.len() - 1];
        if m.attention == Some(AttentionName::Dot) && m.hidden != channels {
            return Err(format!(
                "model.attention: `dot` needs `hidden` ({}) equal to the last CNN block's channels ({channels}); use `general`",
                m.hidden
            ));
        }
        if m.input_feeding && m.attention == Some(AttentionName::None) {
            return Err("model.input_feeding needs attention (`model.attention` is `none`)".into());
        }
        if d.max_length == Some(0) {
            return Err("data.max_length must be positive".into());
        }
        if self.decode.beam == 0 || self.decode.valid_beam == 0 {
            return Err("decode: `beam` and `valid_beam` must be at least 1".into());
        }
        let p = self.decode.length_penalty;
        if !p.is_finite() || p < 0.0 {
            return Err("decode.length_penalty must be >= 0".into());
        }
        Ok(())
    }

    /// The checks of translation keys: where they apply and their ranges.
    fn validate_translate(&self) -> Result<(), String> {
        let (d, m, t) = (&self.data, &self.model, &self.train);
        let caption = self.task == TaskName::Caption;
        if self.task != TaskName::Translate {
            let misplaced = [
                ("data.target_path", d.target_path.is_some()),
                ("data.direction", d.direction.is_some()),
                ("data.max_length", d.max_length.is_some() && !caption),
                ("model.attention", m.attention.is_some() && !caption),
                ("model.input_feeding", m.input_feeding && !caption),
                ("model.decoder_hidden", m.decoder_hidden.is_some()),
                ("train.teacher_forcing", t.teacher_forcing != 1.0),
                (
                    "train.label_smoothing",
                    t.label_smoothing != 0.0 && !caption,
                ),
                (
                    "decode",
                    !caption
                        && self.task != TaskName::Speech
                        && self.decode != DecodeConfig::default(),
                ),
                ("decode.valid_beam", self.decode.valid_beam != 1 && !caption),
                (
                    "decode.length_penalty",
                    self.decode.length_penalty != 1.0 && !caption,
                ),
                (
                    "decode.max_length_ratio",
                    self.decode.max_length_ratio != DecodeConfig::default().max_length_ratio,
                ),
                ("decode.replace_unk", !self.decode.replace_unk),
            ];
            if let Some((key, _)) = misplaced.iter().find(|(_, set)| *set) {
                return Err(format!("{key} applies to translation (`task: translate`)"));
            }
            if d.tokenizer == TokenizerKind::Bpe {
                return Err(
                    "data.tokenizer: `bpe` applies to translation (`task: translate`)".into(),
                );
            }
            return Ok(());
        }
        if let Some(dir) = &d.direction {
            if d.corpus.as_deref() != Some("bible") {
                return Err("data.direction applies to `corpus: bible`".into());
            }
            if !["es-en", "en-es"].contains(&dir.as_str()) {
                return Err(format!(
                    "data.direction: `{dir}`; the bible corpus has `es-en` and `en-es`"
                ));
            }
        }
        if let Some(c) = &d.corpus
            && c != "bible"
        {
            return Err(format!(
                "data.corpus: `{c}` is not a parallel corpus; translation has `bible`, or give `path` (a TSV, or with `target_path` two aligned files)"
            ));
        }
        if d.target_path.is_some() && d.path.is_none() {
            return Err("data.target_path needs `path`, the file of source sentences".into());
        }
        if d.max_length == Some(0) {
            return Err("data.max_length must be positive".into());
        }
        if let Some(0) = m.decoder_hidden {
            return Err("model.decoder_hidden must be positive".into());
        }
        let context = m.hidden * if m.bidirectional { 2 } else { 1 };
        let decoder = m.decoder_hidden.unwrap_or(context);
        if m.attention == Some(AttentionName::Dot) && decoder != context {
            return Err(format!(
                "model.attention: `dot` needs the decoder's hidden size ({decoder}) equal to the encoder's output size ({context}); use `general`"
            ));
        }
        if m.input_feeding && m.attention == Some(AttentionName::None) {
            return Err("model.input_feeding needs attention (`model.attention` is `none`)".into());
        }
        if !(0.0..=1.0).contains(&t.teacher_forcing) {
            return Err("train.teacher_forcing must be a probability in [0, 1]".into());
        }
        if !(0.0..1.0).contains(&t.label_smoothing) {
            return Err("train.label_smoothing must be in [0, 1)".into());
        }
        let dc = &self.decode;
        if dc.beam == 0 || dc.valid_beam == 0 {
            return Err("decode: `beam` and `valid_beam` must be at least 1".into());
        }
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !non_negative(dc.length_penalty)
            || !non_negative(dc.max_length_ratio)
            || dc.max_length_ratio == 0.0
        {
            return Err(
                "decode: `length_penalty` must be >= 0 and `max_length_ratio` positive".into(),
            );
        }
        Ok(())
    }

    /// The checks of `task: memory`: generated data only, a step budget, no fine-tuning.
    fn validate_memory(&self) -> Result<(), String> {
        let d = &self.data;
        let Some(s) = &d.synthetic else {
            return Err(
                "data.synthetic: `task: memory` needs `synthetic: { problem: adding|copy, delay: N }`"
                    .into(),
            );
        };
        if d.corpus.is_some() || d.path.is_some() {
            return Err("data: `task: memory` generates its data; remove `corpus`/`path`".into());
        }
        if s.delay < 2 {
            return Err("data.synthetic.delay must be at least 2".into());
        }
        if s.problem == ProblemName::Copy && (s.symbols == 0 || s.alphabet < 2) {
            return Err("data.synthetic: `copy` needs `symbols` >= 1 and `alphabet` >= 2".into());
        }
        if s.valid_examples == 0 || s.test_examples == 0 {
            return Err(
                "data.synthetic: `valid_examples` and `test_examples` must be positive".into(),
            );
        }
        if self.train.steps.is_none() {
            return Err(
                "train: `task: memory` draws fresh sequences every step; give `steps`, not `epochs`"
                    .into(),
            );
        }
        if self.init_from.is_some() {
            return Err("init_from: memory problems train from scratch".into());
        }
        Ok(())
    }
}

/// The layer `k` a `freeze` entry `layers.<k>` names, or `None` for any other entry.
pub fn frozen_layer(name: &str) -> Option<usize> {
    name.strip_prefix("layers.")?.parse().ok()
}
