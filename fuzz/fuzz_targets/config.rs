//! The experiment-file parser: never panics, and what it accepts writes back as YAML that
//! parses to the same config (what a run directory's `config.yaml` relies on).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = rnnzoo_config::parse(text, "fuzz.yaml", &[]) {
        let written = rnnzoo_config::to_yaml(&config);
        let again = rnnzoo_config::parse(&written, "written.yaml", &[])
            .unwrap_or_else(|e| panic!("a written config does not parse back: {e}\n{written}"));
        assert_eq!(rnnzoo_config::to_yaml(&again), written);
    }
});
