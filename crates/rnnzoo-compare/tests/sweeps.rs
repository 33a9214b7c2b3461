//! Sweep files: the shipped ones expand into valid runs; grids multiply with variants and
//! seeds; mistakes are reported with the file and the key.

use std::path::{Path, PathBuf};

use rnnzoo_compare::{load_sweep, plan};

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

#[test]
fn shipped_sweeps_expand_into_valid_runs() {
    let path = configs().join("compare/lstm-variants.yaml");
    let runs = plan(&load_sweep(&path).unwrap(), &path).unwrap();
    assert_eq!(
        runs.len(),
        21,
        "6 variants x 3 seeds, and a 5-gram baseline per seed"
    );
    assert_eq!(runs[18].ngram_order, Some(5));
    assert_eq!(runs[18].run_name, "ngram-kn5-s1");
    let peephole = runs
        .iter()
        .find(|r| r.run_name == "lstm-peephole-s2")
        .unwrap();
    for o in [
        "model.peephole=true",
        "seed=2",
        "train.steps=5000",
        "data.split.seed=1",
        "name=lstm-peephole-s2",
    ] {
        assert!(
            peephole.overrides.iter().any(|x| x == o),
            "{:?}",
            peephole.overrides
        );
    }
    let path = configs().join("compare/movies-cells.yaml");
    assert_eq!(
        plan(&load_sweep(&path).unwrap(), &path).unwrap().len(),
        12,
        "3 cells on pretrained vectors and 1 on random ones, x 3 seeds"
    );
    let path = configs().join("compare/memory.yaml");
    let runs = plan(&load_sweep(&path).unwrap(), &path).unwrap();
    assert_eq!(runs.len(), 48, "2 problems x 4 delays x 3 cells x 2 seeds");
    assert!(
        runs.iter()
            .any(|r| r.run_name == "problem_copy_delay_200_cell_gru-s2"),
        "{:?}",
        runs.iter().map(|r| &r.run_name).collect::<Vec<_>>()
    );
    let path = configs().join("compare/memory-long.yaml");
    assert_eq!(plan(&load_sweep(&path).unwrap(), &path).unwrap().len(), 6);
}

#[test]
fn grids_multiply_with_variants_and_seeds() {
    let dir = std::env::temp_dir().join(format!("rnnzoo-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = configs().join("lm/cells/shakespeare-char-lstm.yaml");
    let sweep = dir.join("s.yaml");
    std::fs::write(
        &sweep,
        format!(
            "name: s\nbase: {}\nvariants:\n  - {{ name: a, set: {{ model.cell: gru }} }}\n  - {{ name: b }}\ngrid:\n  model.hidden: [8, 16]\n  train.bptt: [4, 8, 12]\nseeds: [1, 2]\n",
            base.display()
        ),
    )
    .unwrap();
    let runs = plan(&load_sweep(&sweep).unwrap(), &sweep).unwrap();
    assert_eq!(runs.len(), 2 * 2 * 3 * 2);
    assert_eq!(runs[0].variant, "a hidden=8,bptt=4");
    assert_eq!(runs[0].run_name, "a_hidden_8_bptt_4-s1");

    std::fs::write(&sweep, "name: s\nbase: x.yaml\nseed: [1]\n").unwrap();
    let err = load_sweep(&sweep).unwrap_err().to_string();
    assert!(err.contains("s.yaml:3") && err.contains("seeds"), "{err}");
}
