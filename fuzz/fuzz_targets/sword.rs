//! The SWORD zText reader on a module made of the input: its block index, verse index and
//! compressed blocks (the input cut at 0xFF bytes), and the input itself as one zlib block.
#![no_main]

use std::io::Write as _;

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let parts = common::parts(data, 3);
    let bzs = common::file_of("ot.bzs", parts[0]);
    common::file_of("ot.bzv", parts[1]);
    common::file_of("ot.bzz", parts[2]);
    let dir = bzs.parent().expect("in a folder");
    let _ = rnnzoo_data::sword::read_ztext(dir);

    // A well-formed index over one block of fuzzed text, so the markup stripper sees it.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(data).expect("in memory");
    let block = z.finish().expect("in memory");
    let mut bzs = Vec::new();
    bzs.extend(0u32.to_le_bytes());
    bzs.extend((block.len() as u32).to_le_bytes());
    bzs.extend((data.len() as u32).to_le_bytes());
    let mut bzv = Vec::new();
    for (offset, size) in [(0u32, 0u16), (0, 0), (0, data.len().min(u16::MAX as usize) as u16)] {
        bzv.extend(0u32.to_le_bytes());
        bzv.extend(offset.to_le_bytes());
        bzv.extend(size.to_le_bytes());
    }
    common::file_of("ot.bzs", &bzs);
    common::file_of("ot.bzv", &bzv);
    common::file_of("ot.bzz", &block);
    let _ = rnnzoo_data::sword::read_ztext(dir);
});
