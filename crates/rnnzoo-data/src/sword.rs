//! SWORD `zText` Bible modules (what Debian's `sword-text-*` packages install): the verses with
//! their references, markup stripped.
//!
//! A module folder holds, per testament (`ot`, `nt`), three files:
//! - `.bzs`: one 12-byte entry per compressed block: offset and size in `.bzz`, size unpacked
//!   (little-endian `u32`s);
//! - `.bzv`: one 10-byte entry per index slot: block number and offset in the unpacked block
//!   (`u32`s), and size (`u16`); size 0 is an empty slot;
//! - `.bzz`: the zlib-compressed blocks, concatenated.
//!
//! The slots follow the module's versification: two heading slots (module, testament), then for
//! each book a heading slot and for each chapter a heading slot followed by its verses. Modules
//! of one versification (the KJV's here, for the KJV and the Reina-Valera 1909) therefore line up
//! verse by verse. The headings carry OSIS markup (`<div type="book" osisID="Gen"/>`, `<chapter
//! osisID="Gen.1"/>`), which is where the references come from. Verse text is OSIS too: the
//! words are kept, tags dropped, and footnotes (`<note>`) and inline titles (`<title>`) dropped
//! with their contents. `flate2` does the decompression.

use std::io::Read;
use std::path::{Path, PathBuf};

/// A verse: its reference and its text without markup (empty where the module has no text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verse {
    /// The book's OSIS name (`Gen`, `Matt`).
    pub book: String,
    /// Chapter, from 1.
    pub chapter: u32,
    /// Verse, from 1.
    pub verse: u32,
    /// The words.
    pub text: String,
}

/// A module that cannot be read, naming the file and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SwordError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

fn error(path: &Path, message: impl Into<String>) -> SwordError {
    SwordError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, SwordError> {
    std::fs::read(path).map_err(|e| error(path, e.to_string()))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Every verse of the module in `dir` (a folder with `ot.bz*` and/or `nt.bz*`), in canonical
/// order: the Old Testament, then the New.
///
/// # Errors
/// When a file is missing, an index is truncated or points outside its data, a block does not
/// decompress, or a verse comes before any chapter heading.
pub fn read_ztext(dir: &Path) -> Result<Vec<Verse>, SwordError> {
    let mut verses = Vec::new();
    let mut found = false;
    for testament in ["ot", "nt"] {
        let index = dir.join(format!("{testament}.bzv"));
        if !index.is_file() {
            continue;
        }
        found = true;
        read_testament(dir, testament, &mut verses)?;
    }
    if !found {
        return Err(error(dir, "not a zText module (no ot.bzv or nt.bzv)"));
    }
    Ok(verses)
}

fn read_testament(dir: &Path, testament: &str, verses: &mut Vec<Verse>) -> Result<(), SwordError> {
    let (bzs_path, bzv_path, bzz_path) = (
        dir.join(format!("{testament}.bzs")),
        dir.join(format!("{testament}.bzv")),
        dir.join(format!("{testament}.bzz")),
    );
    let (bzs, bzv, bzz) = (
        read_file(&bzs_path)?,
        read_file(&bzv_path)?,
        read_file(&bzz_path)?,
    );
    if !bzs.len().is_multiple_of(12) {
        return Err(error(
            &bzs_path,
            format!("{} bytes: not 12-byte block entries", bzs.len()),
        ));
    }
    if !bzv.len().is_multiple_of(10) {
        return Err(error(
            &bzv_path,
            format!("{} bytes: not 10-byte slot entries", bzv.len()),
        ));
    }
    let mut block: Option<(u32, Vec<u8>)> = None;
    let (mut book, mut chapter, mut verse) = (String::new(), 0u32, 0u32);
    for (slot, entry) in bzv.chunks_exact(10).enumerate() {
        let (number, offset) = (u32_at(entry, 0), u32_at(entry, 4) as usize);
        let size = u16::from_le_bytes([entry[8], entry[9]]) as usize;
        let raw = if size == 0 {
            ""
        } else {
            if block.as_ref().is_none_or(|(n, _)| *n != number) {
                let at = number as usize * 12;
                if at + 12 > bzs.len() {
                    return Err(error(
                        &bzv_path,
                        format!("slot {slot}: block {number} does not exist"),
                    ));
                }
                let (start, len) = (u32_at(&bzs, at) as usize, u32_at(&bzs, at + 4) as usize);
                let compressed = bzz.get(start..start + len).ok_or_else(|| {
                    error(
                        &bzz_path,
                        format!("block {number} lies past the end of the file"),
                    )
                })?;
                let mut unpacked = Vec::new();
                flate2::read::ZlibDecoder::new(compressed)
                    .read_to_end(&mut unpacked)
                    .map_err(|e| error(&bzz_path, format!("block {number}: {e}")))?;
                block = Some((number, unpacked));
            }
            let data = &block.as_ref().expect("loaded above").1;
            let bytes = data.get(offset..offset + size).ok_or_else(|| {
                error(
                    &bzv_path,
                    format!("slot {slot}: text lies past the end of block {number}"),
                )
            })?;
            std::str::from_utf8(bytes)
                .map_err(|e| error(&bzv_path, format!("slot {slot}: not UTF-8: {e}")))?
        };
        // Slots 0 and 1 head the module and the testament.
        if slot < 2 {
            continue;
        }
        if let Some(id) = osis_id(raw, "<div", "type=\"book\"") {
            (book, chapter) = (id, 0);
            continue;
        }
        if let Some(id) = osis_id(raw, "<chapter", "") {
            let n = id.rsplit('.').next().and_then(|n| n.parse().ok());
            chapter = n.ok_or_else(|| error(&bzv_path, format!("slot {slot}: chapter {id:?}")))?;
            verse = 0;
            continue;
        }
        if chapter == 0 {
            return Err(error(
                &bzv_path,
                format!("slot {slot}: a verse before any chapter heading"),
            ));
        }
        verse += 1;
        verses.push(Verse {
            book: book.clone(),
            chapter,
            verse,
            text: strip_markup(raw),
        });
    }
    Ok(())
}

/// The `osisID` of the first `tag` element (one whose attributes contain `with`) in `raw`.
fn osis_id(raw: &str, tag: &str, with: &str) -> Option<String> {
    let start = raw.find(tag)?;
    let element = &raw[start..start + raw[start..].find('>')?];
    if !element.contains(with) {
        return None;
    }
    let id = element.split("osisID=\"").nth(1)?.split('"').next()?;
    Some(id.to_string())
}

/// The words of an OSIS fragment: tags dropped; footnotes (`<note>`) and editors' headings
/// (`<title>` but the canonical ones, the psalms' superscriptions) dropped with what they hold;
/// the five XML entities decoded; white space collapsed.
pub fn strip_markup(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    // Open <note>/<title> elements, each with whether it hides its contents.
    let mut open_hiding: Vec<bool> = Vec::new();
    let hidden = |stack: &[bool]| stack.iter().any(|&h| h);
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        if !hidden(&open_hiding) {
            out.push_str(&rest[..open]);
        }
        let Some(close) = rest[open..].find('>') else {
            break; // a cut tag: drop it
        };
        let tag = &rest[open + 1..open + close];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        if matches!(name, "note" | "title") && !tag.ends_with('/') {
            if tag.starts_with('/') {
                open_hiding.pop();
            } else {
                open_hiding.push(name == "note" || !tag.contains("canonical=\"true\""));
            }
        }
        rest = &rest[open + close + 1..];
    }
    if !hidden(&open_hiding) {
        out.push_str(rest);
    }
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Writes a zText testament: `slots` are the texts of the index slots (empty: no text), two
    /// slots a block.
    fn write_testament(dir: &Path, testament: &str, slots: &[&str]) {
        let (mut bzs, mut bzv, mut bzz) = (Vec::new(), Vec::new(), Vec::new());
        for (number, pair) in slots.chunks(2).enumerate() {
            let mut block = Vec::new();
            for text in pair {
                bzv.extend((number as u32).to_le_bytes());
                bzv.extend((block.len() as u32).to_le_bytes());
                bzv.extend((text.len() as u16).to_le_bytes());
                block.extend(text.as_bytes());
            }
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&block).unwrap();
            let compressed = encoder.finish().unwrap();
            bzs.extend((bzz.len() as u32).to_le_bytes());
            bzs.extend((compressed.len() as u32).to_le_bytes());
            bzs.extend((block.len() as u32).to_le_bytes());
            bzz.extend(compressed);
        }
        std::fs::write(dir.join(format!("{testament}.bzs")), bzs).unwrap();
        std::fs::write(dir.join(format!("{testament}.bzv")), bzv).unwrap();
        std::fs::write(dir.join(format!("{testament}.bzz")), bzz).unwrap();
    }

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rnnzoo-sword-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn verses_come_with_their_references_and_without_markup() {
        let dir = temp("read");
        write_testament(
            &dir,
            "ot",
            &[
                "",
                "<milestone type=\"x-importer\"/>",
                "<div canonical=\"true\" osisID=\"Gen\" type=\"book\"/> <title>Genesis</title>",
                "<chapter n=\"1\" osisID=\"Gen.1\" sID=\"Gen.1\"/> ",
                "In the <w lemma=\"strong:H7225\">beginning</w> God<note>a note</note> created.",
                "And the earth was <transChange type=\"added\">without</transChange> form &amp; void.",
                "<chapter n=\"2\" osisID=\"Gen.2\"/>",
                "",
                "<title type=\"main\">Heading</title><title canonical=\"true\" type=\"psalm\">A <w>psalm</w>.</title> Thus   the heavens.",
                "<div osisID=\"Exod\" type=\"book\"/>",
                "<chapter osisID=\"Exod.1\"/>",
                "Now these are the names.",
            ],
        );
        write_testament(
            &dir,
            "nt",
            &[
                "",
                "",
                "<div osisID=\"Matt\" type=\"book\"/>",
                "<chapter osisID=\"Matt.1\"/>",
                "The book.",
            ],
        );
        let verses = read_ztext(&dir).unwrap();
        let refs: Vec<(String, u32, u32, String)> = verses
            .into_iter()
            .map(|v| (v.book, v.chapter, v.verse, v.text))
            .collect();
        let r = |b: &str, c, v, t: &str| (b.to_string(), c, v, t.to_string());
        assert_eq!(
            refs,
            [
                r("Gen", 1, 1, "In the beginning God created."),
                r("Gen", 1, 2, "And the earth was without form & void."),
                r("Gen", 2, 1, ""),
                r("Gen", 2, 2, "A psalm. Thus the heavens."),
                r("Exod", 1, 1, "Now these are the names."),
                r("Matt", 1, 1, "The book."),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn broken_modules_are_errors_naming_the_file() {
        let dir = temp("broken");
        let missing = read_ztext(&dir).unwrap_err();
        assert!(
            missing.to_string().contains("not a zText module"),
            "{missing}"
        );
        write_testament(
            &dir,
            "ot",
            &["", "", "<chapter osisID=\"Gen.1\"/>", "Text."],
        );
        let bzv = dir.join("ot.bzv");
        let mut bytes = std::fs::read(&bzv).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&bzv, &bytes).unwrap();
        let cut = read_ztext(&dir).unwrap_err();
        assert!(
            cut.to_string().contains("ot.bzv") && cut.to_string().contains("10-byte"),
            "{cut}"
        );
        write_testament(
            &dir,
            "ot",
            &["", "", "<chapter osisID=\"Gen.1\"/>", "Text."],
        );
        std::fs::write(dir.join("ot.bzz"), b"not zlib at all").unwrap();
        let garbled = read_ztext(&dir).unwrap_err();
        assert!(garbled.to_string().contains("ot.bzz"), "{garbled}");
        write_testament(&dir, "ot", &["", "", "A verse before any chapter."]);
        let orphan = read_ztext(&dir).unwrap_err();
        assert!(
            orphan.to_string().contains("before any chapter"),
            "{orphan}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
