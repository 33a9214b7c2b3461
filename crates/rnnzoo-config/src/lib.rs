//! The experiment file a user writes (see `configs/README.md` for every key), parsed into typed
//! structs that reject unknown keys up front: an error names the file, the line and the nearest
//! valid key, not an hour into training. Command-line overrides (`--set train.lr=3e-4`) apply to
//! the parsed document before it is typed, so they are validated the same way.

mod schema;

pub use schema::*;

use std::path::Path;

use serde_yaml_ng::Value;

/// A configuration error, with where it was found.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The YAML is malformed or does not match the schema.
    #[error("{location}: {message}")]
    Invalid {
        /// `file:line:column`, or the override that caused it.
        location: String,
        /// What is wrong, with the nearest valid key where one applies.
        message: String,
    },
}

/// Levenshtein distance, for suggesting the nearest valid key.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Adds "did you mean `x`?" to serde's unknown-field and unknown-variant messages, which list the
/// valid names as "expected one of `a`, `b`".
fn with_suggestion(message: &str) -> String {
    let grab = |prefix: &str| {
        message.find(prefix).and_then(|at| {
            let rest = &message[at + prefix.len()..];
            rest.find('`').map(|end| rest[..end].to_string())
        })
    };
    let Some(unknown) = grab("unknown field `").or_else(|| grab("unknown variant `")) else {
        return message.to_string();
    };
    let Some(list_at) = message.find("expected") else {
        return message.to_string();
    };
    let candidates: Vec<&str> = message[list_at..].split('`').skip(1).step_by(2).collect();
    match candidates.iter().min_by_key(|c| edit_distance(&unknown, c)) {
        Some(best) => format!("{message}; did you mean `{best}`?"),
        None => message.to_string(),
    }
}

fn invalid(location: String, err: &serde_yaml_ng::Error) -> ConfigError {
    // serde_yaml_ng appends " at line L column C" to the message; the location says it already.
    let raw = err.to_string();
    let message = match raw.find(" at line ") {
        Some(at) => raw[..at].to_string(),
        None => raw,
    };
    ConfigError::Invalid {
        location,
        message: with_suggestion(&message),
    }
}

/// Sets `dotted.key=value` in a YAML document; the value is parsed as YAML (`3e-4` is a number,
/// `gru` a string, `[1, 2]` a list). Missing intermediate mappings are created.
pub fn apply_override(doc: &mut Value, assignment: &str) -> Result<(), ConfigError> {
    let bad = |message: String| ConfigError::Invalid {
        location: format!("--set {assignment}"),
        message,
    };
    let (path, raw) = assignment
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE, e.g. train.lr=3e-4".into()))?;
    let value: Value = serde_yaml_ng::from_str(raw).map_err(|e| bad(format!("value: {e}")))?;
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(bad(format!("`{path}` is not a dotted key")));
    }
    let mut node = doc;
    for (i, key) in keys.iter().enumerate() {
        if !node.is_mapping() {
            if node.is_null() {
                *node = Value::Mapping(Default::default());
            } else {
                return Err(bad(format!("`{}` is not a section", keys[..i].join("."))));
            }
        }
        let map = node.as_mapping_mut().expect("checked mapping");
        let key = Value::String(key.to_string());
        if i + 1 == keys.len() {
            map.insert(key, value);
            return Ok(());
        }
        node = map.entry(key).or_insert(Value::Null);
    }
    Ok(())
}

/// A fine-tuning config (`init_from`, in the file or an override) with no `model` section, in
/// the text or built by overrides, takes the trained run's: returns the document with the
/// overrides applied and that section filled in, or `None` when nothing is inherited.
fn inherit_model(
    text: &str,
    label: &str,
    overrides: &[String],
) -> Result<Option<String>, ConfigError> {
    let Ok(mut doc) = serde_yaml_ng::from_str::<Value>(text) else {
        return Ok(None); // the typed pass reports the syntax error with its line
    };
    let key = |k: &str| Value::String(k.to_string());
    for o in overrides {
        apply_override(&mut doc, o)?;
    }
    let Some(map) = doc.as_mapping_mut() else {
        return Ok(None);
    };
    if map.contains_key(key("model")) {
        return Ok(None);
    }
    let Some(run) = map.get(key("init_from")).and_then(Value::as_str) else {
        return Ok(None);
    };
    let run_config = Path::new(run).join("config.yaml");
    let run_text = std::fs::read_to_string(&run_config).map_err(|source| ConfigError::Invalid {
        location: format!("{label}: init_from"),
        message: format!(
            "{}: {source} (is `{run}` a trained run?)",
            run_config.display()
        ),
    })?;
    let run_doc: Value = serde_yaml_ng::from_str(&run_text)
        .map_err(|e| invalid(run_config.display().to_string(), &e))?;
    let model = run_doc
        .get("model")
        .cloned()
        .ok_or_else(|| ConfigError::Invalid {
            location: run_config.display().to_string(),
            message: "no `model` section".into(),
        })?;
    map.insert(key("model"), model);
    Ok(Some(
        serde_yaml_ng::to_string(&doc).expect("YAML documents serialise"),
    ))
}

/// Parses an experiment from YAML text; `label` names the source in errors.
pub fn parse(
    text: &str,
    label: &str,
    overrides: &[String],
) -> Result<ExperimentConfig, ConfigError> {
    if let Some(filled) = inherit_model(text, label, overrides)? {
        return parse(&filled, &format!("{label} (model from init_from)"), &[]);
    }
    // The overridden document, typed; the text alone is typed first so that errors carry line
    // numbers, unless the overrides supply what the text lacks (`--set model.hidden=...`).
    let overridden = || -> Result<ExperimentConfig, ConfigError> {
        let mut doc: Value =
            serde_yaml_ng::from_str(text).map_err(|e| invalid(label.into(), &e))?;
        for o in overrides {
            apply_override(&mut doc, o)?;
        }
        serde_yaml_ng::from_value(doc).map_err(|e| {
            invalid(
                format!("{label} with --set {}", overrides.join(" --set ")),
                &e,
            )
        })
    };
    let config = match serde_yaml_ng::from_str::<ExperimentConfig>(text) {
        Ok(_) if !overrides.is_empty() => overridden()?,
        Ok(c) => c,
        Err(e) => {
            if !overrides.is_empty()
                && let Ok(c) = overridden()
            {
                c
            } else {
                let location = match e.location() {
                    Some(l) => format!("{label}:{}:{}", l.line(), l.column()),
                    None => label.to_string(),
                };
                return Err(invalid(location, &e));
            }
        }
    };
    config.validate().map_err(|message| ConfigError::Invalid {
        location: label.to_string(),
        message,
    })?;
    Ok(config)
}

/// Reads and parses an experiment file.
pub fn load(path: &Path, overrides: &[String]) -> Result<ExperimentConfig, ConfigError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: label.clone(),
        source,
    })?;
    parse(&text, &label, overrides)
}

/// The resolved configuration as YAML, as written into a run directory.
pub fn to_yaml(config: &ExperimentConfig) -> String {
    serde_yaml_ng::to_string(config).expect("configs serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name: t\ntask: lm\ndata:\n  path: corpus.txt\nmodel:\n  cell: lstm\n  hidden: 32\ntrain:\n  steps: 10\n";

    #[test]
    fn minimal_file_gets_defaults() {
        let c = parse(MINIMAL, "t.yaml", &[]).unwrap();
        assert_eq!(c.model.hidden, 32);
        assert_eq!(c.model.layers, 1);
        assert_eq!(c.train.optimizer.name, OptimizerName::Adam);
        assert_eq!(c.device, DeviceName::Flex);
    }

    #[test]
    fn unknown_key_names_file_line_and_nearest_key() {
        let text = MINIMAL.replace("  hidden: 32", "  hiden: 32");
        let err = parse(&text, "t.yaml", &[]).unwrap_err().to_string();
        assert!(err.starts_with("t.yaml:7:"), "{err}");
        assert!(
            err.contains("unknown field `hiden`") && err.contains("did you mean `hidden`?"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_and_bad_variant_are_reported() {
        let err = parse(
            &MINIMAL.replace("hidden: 32", "hidden: lots"),
            "t.yaml",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("t.yaml:7") && err.contains("invalid type"),
            "{err}"
        );
        let err = parse(&MINIMAL.replace("cell: lstm", "cell: lstn"), "t.yaml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `lstm`?"), "{err}");
    }

    #[test]
    fn overrides_apply_and_are_validated() {
        let c = parse(
            MINIMAL,
            "t.yaml",
            &["train.optimizer.lr=3e-4".into(), "model.cell=gru".into()],
        )
        .unwrap();
        assert_eq!(c.train.optimizer.lr, 3e-4);
        assert_eq!(c.model.cell, CellName::Gru);
        let err = parse(MINIMAL, "t.yaml", &["train.lrr=1".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--set train.lrr=1") && err.contains("unknown field `lrr`"),
            "{err}"
        );
        let err = parse(MINIMAL, "t.yaml", &["train.lr".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEY=VALUE"), "{err}");
    }

    #[test]
    fn semantic_errors_are_caught_up_front() {
        let err = parse(
            &MINIMAL.replace("cell: lstm", "cell: gru\n  peephole: true"),
            "t.yaml",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("peephole"), "{err}");
        let err = parse(&MINIMAL.replace("  steps: 10\n", ""), "t.yaml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("steps") && err.contains("epochs"), "{err}");
        let c = parse(
            MINIMAL,
            "t.yaml",
            &["train.optimizer.betas=[0.9, 0.99]".into()],
        )
        .unwrap();
        assert_eq!(c.train.optimizer.betas, [0.9, 0.99]);
        let err = parse(
            MINIMAL,
            "t.yaml",
            &["train.optimizer.betas=[0.9, 1.0]".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("betas"), "{err}");
        let over_time = ["train.schedule={name: cosine, over: time}".to_string()];
        let err = parse(MINIMAL, "t.yaml", &over_time)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_minutes"), "{err}");
        let mut with_budget = over_time.to_vec();
        with_budget.push("train.max_minutes=30".into());
        let c = parse(MINIMAL, "t.yaml", &with_budget).unwrap();
        assert_eq!(c.train.schedule.over, ScheduleHorizon::Time);
    }

    /// The error of the minimal language-model config with one override.
    fn lm_with(o: &str) -> String {
        parse(MINIMAL, "t.yaml", &[o.to_string()])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn caption_style_keys_apply_to_captioning_alone() {
        assert!(
            lm_with("data.caption_styles=true")
                .contains("data.caption_styles applies to captioning")
        );
        assert!(lm_with("decode.style=2").contains("decode.style applies to captioning"));
        assert!(
            lm_with("train.word_dropout=0.1").contains("train.word_dropout applies to captioning")
        );
    }

    #[test]
    fn translation_keys_are_checked_where_they_apply() {
        assert!(
            lm_with("model.attention=general").contains("model.attention applies to translation")
        );
        assert!(lm_with("decode.beam=3").contains("decode applies to translation"));
        assert!(lm_with("data.tokenizer=bpe").contains("`bpe` applies to translation"));
        let translate = MINIMAL
            .replace("task: lm", "task: translate")
            .replace("path: corpus.txt", "path: pairs.tsv");
        let with = |o: &[&str]| {
            let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
            parse(&translate, "t.yaml", &o)
        };
        let c = with(&["data.tokenizer=bpe", "model.attention=bahdanau"]).unwrap();
        assert_eq!(c.model.attention, Some(AttentionName::Bahdanau));
        assert_eq!(c.decode.beam, 5);
        let err = |o: &[&str]| with(o).unwrap_err().to_string();
        assert!(err(&["model.attention=dot", "model.decoder_hidden=48"]).contains("`dot` needs"));
        assert!(
            err(&["model.attention=none", "model.input_feeding=true"])
                .contains("input_feeding needs attention")
        );
        assert!(err(&["train.teacher_forcing=1.5"]).contains("teacher_forcing"));
        assert!(err(&["decode.beam=0"]).contains("beam"));
        assert!(
            err(&["data.corpus=shakespeare", "data.path=null"]).contains("not a parallel corpus")
        );
        assert!(err(&["data.direction=fr-en"]).contains("applies to `corpus: bible`"));
    }

    #[test]
    fn embedding_is_a_size_or_a_map() {
        let c = parse(
            &MINIMAL.replace("  cell: lstm", "  embedding: 64\n  cell: lstm"),
            "t.yaml",
            &[],
        )
        .unwrap();
        assert_eq!(c.model.embedding.size, 64);
        let text = MINIMAL.replace(
            "  cell: lstm",
            "  embedding: { size: 50, pretrained: glove.txt, freeze: true }\n  cell: lstm",
        );
        let c = parse(&text, "t.yaml", &[]).unwrap();
        assert_eq!(
            c.model.embedding.pretrained.as_deref(),
            Some(std::path::Path::new("glove.txt"))
        );
        assert!(c.model.embedding.freeze);
        assert_eq!(parse(&to_yaml(&c), "resolved.yaml", &[]).unwrap(), c);
        let bad = MINIMAL.replace(
            "  cell: lstm",
            "  embedding: { size: 50, pretrain: x }\n  cell: lstm",
        );
        let err = parse(&bad, "t.yaml", &[]).unwrap_err().to_string();
        assert!(err.contains("did you mean `pretrained`?"), "{err}");
    }

    #[test]
    fn resolved_config_round_trips() {
        let c = parse(MINIMAL, "t.yaml", &[]).unwrap();
        let again = parse(&to_yaml(&c), "resolved.yaml", &[]).unwrap();
        assert_eq!(c, again);
    }
}

#[cfg(test)]
mod shipped {
    fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                yaml_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_shipped_config_is_valid() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut files = Vec::new();
        yaml_files(&root, &mut files);
        assert!(files.len() >= 9, "configs found: {files:?}");
        for f in files {
            let within = |dir: &str| f.parent().is_some_and(|p| p.ends_with(dir));
            if within("compare") {
                continue; // sweep files: rnnzoo-compare checks them
            }
            // Fine-tuning configs take their model from the run they start from.
            let overrides: Vec<String> = if within("finetune") {
                ["init_from=runs/x", "model.cell=lstm", "model.hidden=8"]
                    .map(String::from)
                    .to_vec()
            } else {
                Vec::new()
            };
            super::load(&f, &overrides).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
