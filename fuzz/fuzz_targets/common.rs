//! What the file-reading targets share: the input written to a file of this process.
#![allow(dead_code)] // each target uses part of it

use std::path::PathBuf;

/// Writes `bytes` to `name` in a folder of this process and returns its path.
pub fn file_of(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnzoo-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp folder");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("temp file");
    path
}

/// Splits `bytes` at the first `n - 1` occurrences of 0xFF into `n` parts (missing parts empty).
pub fn parts(bytes: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = bytes.splitn(n, |&b| b == 0xFF).collect();
    out.resize(n, &[]);
    out
}
