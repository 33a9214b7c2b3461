//! The decoders of users' media files, apart from models and Burn so that `fuzz/` can feed them
//! arbitrary bytes: [`audio`] (WAV, Ogg Vorbis and FLAC as mono samples at a chosen rate) for
//! speech recognition and [`images`] (PNG, JPEG and SVG as square RGB on white, cached) for
//! captioning. Each recognises a format by its first bytes, and every file that does not decode
//! is an error naming it.

pub mod audio;
pub mod images;
