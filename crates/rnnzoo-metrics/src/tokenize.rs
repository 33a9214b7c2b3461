//! sacreBLEU's `13a` tokeniser (`tokenizer_13a.py` and `tokenizer_re.py`), rule by rule.

/// Characters the first rule of `TokenizerRegexp` surrounds with spaces:
/// `[\{-\~\[-\` -\&\(-\+\:-\@\/]`, i.e. `{|}~`, `[\]^_` + backtick, space to `&`, `(` to `+`,
/// `:` to `@`, and `/`.
fn is_split_symbol(c: char) -> bool {
    matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/')
}

/// Python's `re.sub` for a two-character pattern `(a)(b)` with the replacement built by
/// `emit`: matches are found left to right and do not overlap.
fn substitute_pairs(
    chars: &[char],
    matches: impl Fn(char, char) -> bool,
    emit: impl Fn(&mut Vec<char>, char, char),
) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len() + chars.len() / 4);
    let mut i = 0;
    while i < chars.len() {
        if i + 1 < chars.len() && matches(chars[i], chars[i + 1]) {
            emit(&mut out, chars[i], chars[i + 1]);
            i += 2;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// A line as sacreBLEU's default `13a` tokeniser cuts it: tokens joined by single spaces.
pub fn tokenize_13a(line: &str) -> String {
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let padded = format!(" {line} ");
    // Rule 1: split off symbols.
    let mut chars: Vec<char> = Vec::with_capacity(padded.len() * 2);
    for c in padded.chars() {
        if is_split_symbol(c) {
            chars.extend([' ', c, ' ']);
        } else {
            chars.push(c);
        }
    }
    let digit = |c: char| c.is_ascii_digit();
    let period_comma = |c: char| c == '.' || c == ',';
    // Rule 2: `([^0-9])([\.,])` -> `\1 \2 `.
    let chars = substitute_pairs(
        &chars,
        |a, b| !digit(a) && period_comma(b),
        |out, a, b| out.extend([a, ' ', b, ' ']),
    );
    // Rule 3: `([\.,])([^0-9])` -> ` \1 \2`.
    let chars = substitute_pairs(
        &chars,
        |a, b| period_comma(a) && !digit(b),
        |out, a, b| out.extend([' ', a, ' ', b]),
    );
    // Rule 4: `([0-9])(-)` -> `\1 \2 `.
    let chars = substitute_pairs(
        &chars,
        |a, b| digit(a) && b == '-',
        |out, a, b| out.extend([a, ' ', b, ' ']),
    );
    let text: String = chars.into_iter().collect();
    python_split(&text).join(" ")
}

/// Python's `str.split()`: runs of Unicode whitespace (and the separators `\x1c`..`\x1f`,
/// which Python also counts) separate the parts; no empty parts.
pub(crate) fn python_split(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_punctuation_but_not_numbers() {
        assert_eq!(
            tokenize_13a("Hello, world. It costs $3.50, or 1,000-2 (approx)!"),
            "Hello , world . It costs $ 3.50 , or 1,000 - 2 ( approx ) !"
        );
        assert_eq!(tokenize_13a("a &amp; b &quot;c&quot;"), "a & b \" c \"");
        assert_eq!(tokenize_13a("  "), "");
    }
}
