//! An image captioner: a convolutional encoder reads the image and an [`AttentionDecoder`]
//! writes its caption (Show and Tell, Vinyals et al. 2015; with attention over the spatial grid,
//! Show, Attend and Tell, Xu et al. 2015).
//!
//! - CNN: blocks of `conv3x3 (padding 1) -> BatchNorm -> ReLU -> maxpool 2x2`, trained from
//!   scratch, giving a grid `G [B, C, h, w]` and its mean `g = mean_{ij} G_ij [B, C]`.
//! - The image reaches the decoder in one of two ways ([`ImageFeed`]): as its initial state,
//!   `h_0 = tanh(W_g g + b_g)` in every layer (`c_0 = 0` for the LSTM); or as its first input,
//!   `x_0 = W_g g + b_g` in place of the `<s>` embedding, from a zero state (Show and Tell).
//! - Attention (optional): the decoder attends over the `h · w` grid cells as memory rows
//!   (see [`crate::attention`] for the scores and `h̃_t`).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::RecurrentState;
use crate::attention::{AttentionDecoder, AttentionDecoderConfig, Memory};

/// How the image's pooled feature enters the decoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageFeed {
    /// `h_0 = tanh(W_g g + b_g)` in every layer.
    #[default]
    State,
    /// `x_0 = W_g g + b_g`, the decoder's first input.
    Input,
}

/// One `conv3x3 -> BatchNorm -> ReLU -> maxpool 2x2` block.
#[derive(Module, Debug)]
pub struct ConvBlock {
    /// The 3x3 convolution (padding 1).
    pub conv: Conv2d,
    /// Batch normalisation over its channels.
    pub norm: BatchNorm,
    /// 2x2 max pooling, stride 2.
    pub pool: MaxPool2d,
}

/// A stack of [`ConvBlock`]s.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    /// The blocks, first to last.
    pub blocks: Vec<ConvBlock>,
}

impl ConvEncoder {
    /// Blocks with these output channels, reading `channels_in` channels.
    pub fn new(channels_in: usize, channels: &[usize], device: &Device) -> Self {
        let mut input = channels_in;
        let blocks = channels
            .iter()
            .map(|&c| {
                let block = ConvBlock {
                    conv: Conv2dConfig::new([input, c], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device),
                    norm: BatchNormConfig::new(c).init(device),
                    pool: MaxPool2dConfig::new([2, 2]).init(),
                };
                input = c;
                block
            })
            .collect();
        Self { blocks }
    }

    /// Channels of the output grid.
    pub fn channels(&self) -> usize {
        self.blocks
            .last()
            .map_or(0, |b| b.norm.gamma.val().dims()[0])
    }

    /// The grid `[B, C, h, w]` of images `[B, 3, H, W]` (`h = H / 2^blocks`).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        self.blocks.iter().fold(images, |x, b| {
            b.pool.forward(relu(b.norm.forward(b.conv.forward(x))))
        })
    }
}

/// The sizes of a [`Captioner`].
#[derive(Clone, Debug)]
pub struct CaptionerConfig {
    /// Output channels of each CNN block.
    pub channels: Vec<usize>,
    /// How the image enters the decoder.
    pub feed: ImageFeed,
    /// The decoder; its `memory` size is set from the CNN's last block.
    pub decoder: AttentionDecoderConfig,
}

impl CaptionerConfig {
    /// A fresh captioner for RGB images.
    pub fn init(&self, device: &Device) -> Captioner {
        let cnn = ConvEncoder::new(3, &self.channels, device);
        let c = cnn.channels();
        let mut decoder = self.decoder.clone();
        decoder.memory = c;
        let layers = decoder.recurrent.num_layers;
        let image = match self.feed {
            ImageFeed::State => LinearConfig::new(c, layers * decoder.recurrent.hidden_size),
            ImageFeed::Input => LinearConfig::new(c, decoder.embedding),
        }
        .init(device);
        Captioner {
            cnn,
            image,
            decoder: decoder.init(device),
            feed: self.feed,
        }
    }
}

/// A CNN encoder and an attentional recurrent decoder (see the module's equations).
#[derive(Module, Debug)]
pub struct Captioner {
    /// The convolutional encoder.
    pub cnn: ConvEncoder,
    /// `W_g`, `b_g`: the pooled feature to the initial states or to the first input.
    pub image: Linear,
    /// The decoder.
    pub decoder: AttentionDecoder,
    /// How the image enters the decoder.
    #[module(skip)]
    pub feed: ImageFeed,
}

/// What the CNN makes of a batch of images.
pub struct Encoding {
    /// The decoder's memory: the grid cells `[B, h·w, C]`, its initial state and first input.
    pub memory: Memory,
    /// `g`, the pooled feature `[B, C]` (the feature space of nearest-neighbour retrieval).
    pub pooled: Tensor<2>,
}

impl Captioner {
    /// Runs the CNN over `images [B, 3, H, W]` (values in `[0, 1]`).
    pub fn encode(&self, images: Tensor<4>) -> Encoding {
        let grid = self.cnn.forward(images);
        let [batch, channels, h, w] = grid.dims();
        let cells = grid.reshape([batch, channels, h * w]).swap_dims(1, 2); // [B, hw, C]
        let pooled = cells.clone().mean_dim(1).reshape([batch, channels]);
        let projected = crate::linear(&self.image, pooled.clone());
        let recurrent = &self.decoder.recurrent;
        let (layers, hidden) = (recurrent.num_layers, recurrent.hidden_size());
        let device = cells.device();
        let zeros = || Tensor::<3>::zeros([layers, batch, hidden], &device);
        let (initial, first) = match self.feed {
            ImageFeed::State => {
                // [B, L·H] -> [L, B, H]: layer l reads columns l·H..(l+1)·H.
                let h0 = projected
                    .tanh()
                    .reshape([batch, layers, hidden])
                    .swap_dims(0, 1);
                (h0, None)
            }
            ImageFeed::Input => (zeros(), Some(projected)),
        };
        let initial = RecurrentState {
            hidden: initial,
            cell: recurrent.cell.has_cell_state().then(zeros),
        };
        let mut memory = Memory::new(cells, &vec![h * w; batch], initial);
        memory.first_input = first;
        Encoding { memory, pooled }
    }
}
