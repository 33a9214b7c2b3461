//! `--set KEY=VALUE` on a valid config: never panics, whatever the key and value.
#![no_main]

use libfuzzer_sys::fuzz_target;

const BASE: &str = "name: fuzz\ntask: lm\ndata:\n  path: corpus.txt\nmodel:\n  hidden: 13\ntrain:\n  steps: 10\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let overrides: Vec<String> = text.lines().take(4).map(str::to_string).collect();
    let _ = rnnzoo_config::parse(BASE, "base.yaml", &overrides);
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(BASE).expect("base parses");
    for o in &overrides {
        let _ = rnnzoo_config::apply_override(&mut doc, o);
    }
});
