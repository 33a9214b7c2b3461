//! `rnnzoo`: runs the experiments that YAML files under `configs/` describe. Thin glue: parse the
//! command line and the config, pick the device, dispatch to the task crate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rnnzoo_config::{ExperimentConfig, TaskName};
use rnnzoo_lm::inference::{SampleOptions, generate_streaming, load_run, score};
use rnnzoo_train::verbs::{Inputs, TaskVerbs};

#[derive(Parser)]
#[command(
    name = "rnnzoo",
    version,
    about = "Recurrent neural network experiments from YAML configs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an experiment (or continue one with --resume RUN_DIR).
    Train {
        /// The experiment file.
        #[arg(required_unless_present = "resume")]
        config: Option<PathBuf>,
        /// Override a config value, e.g. --set train.optimizer.lr=3e-4 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Continue a run from its last checkpoint.
        #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "overrides"])]
        resume: Option<PathBuf>,
        /// Folder that holds run directories.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
    },
    /// Fine-tune a trained run: CONFIG's data and training settings from the run's weights and
    /// vocabulary (same as `init_from: RUN` in CONFIG; `vocab: keep | extend` and
    /// `freeze: [embedding, layers.0, ...]` are CONFIG keys). CONFIG may leave out `model`.
    Finetune {
        /// The trained run to start from.
        run: PathBuf,
        /// The fine-tuning experiment file.
        config: PathBuf,
        /// Override a config value (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Folder that holds run directories.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
    },
    /// Count a Kneser-Ney n-gram language model on a config's data (the same vocabulary and
    /// splits a recurrent run would use) and evaluate it: the count-based baseline.
    Ngram {
        /// A language-model experiment file.
        config: PathBuf,
        /// The n-gram order (1..=5).
        #[arg(long, default_value_t = 5, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=5))]
        order: usize,
        /// Override a config value (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Folder that holds run directories.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
    },
    /// Evaluate a trained run on its test split or on given data: loss and perplexity for
    /// language models; loss, accuracy, macro-F1 and confusion matrix for classifiers.
    Eval {
        /// The run directory.
        run: PathBuf,
        /// A text file or folder (language models) or labelled file (classifiers) to evaluate
        /// instead of the run's test split.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Captioning: another run that captions together with RUN as an ensemble
        /// (repeatable); the members share RUN's vocabulary and split, and the captions go to
        /// RUN/ensemble/.
        #[arg(long, value_name = "RUN")]
        ensemble: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate text by sampling from a trained language model.
    Generate {
        /// The run directory.
        run: PathBuf,
        /// Text to continue.
        #[arg(long, default_value = "")]
        prompt: String,
        /// Tokens to generate.
        #[arg(long, default_value_t = 500, value_parser = at_least_one)]
        length: usize,
        /// Softmax temperature (positive; lower is more conservative).
        #[arg(long, default_value_t = 0.8, allow_hyphen_values = true, value_parser = positive_number)]
        temperature: f64,
        /// Sample among the k most likely tokens only.
        #[arg(long, value_parser = at_least_one)]
        top_k: Option<usize>,
        /// Seed of the sampler.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Predict the labels of texts with a trained classifier, with class probabilities.
    Predict {
        /// The run directory.
        run: PathBuf,
        /// Texts to classify.
        #[arg(required_unless_present = "file")]
        texts: Vec<String>,
        /// Classify each line of this file instead.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Train every variant of a sweep (a base config times variants and seeds) with the same
    /// budget, then write compare.md, compare.csv, validation-curves.svg and final-metric.svg
    /// (and PNGs of both figures). Finished runs are
    /// skipped when the sweep runs again.
    Compare {
        /// The sweep file (see configs/compare/).
        #[arg(required_unless_present = "report")]
        sweep: Option<PathBuf>,
        /// Re-render the report of a comparison folder from its finished runs; trains nothing.
        #[arg(long, value_name = "DIR", conflicts_with = "sweep")]
        report: Option<PathBuf>,
        /// Runs at once, sharing the cores (overrides the sweep's `jobs`).
        #[arg(long, value_parser = at_least_one)]
        jobs: Option<usize>,
        /// Folder that holds run directories; a comparison goes to <runs>/compare/<name>/.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
    },
    /// Time the reference configs of shared/bench/torch_rnn_bench.py (see crates/rnnzoo-bench).
    Bench {
        /// Comma-separated config keys.
        #[arg(long, default_value = "a,b,c,d,e,f,g,h,i")]
        configs: String,
        /// Worker threads (the rayon pool of the flex backend).
        #[arg(long, default_value_t = 2, value_parser = at_least_one)]
        threads: usize,
        /// Round-robin repetitions; the result is the median of round medians.
        #[arg(long, default_value_t = 1, value_parser = at_least_one)]
        rounds: usize,
        /// Untimed warm-up steps per round (the config's own count when absent).
        #[arg(long)]
        warmup: Option<usize>,
        /// Timed steps per round (the config's own count when absent).
        #[arg(long, value_parser = at_least_one)]
        iters: Option<usize>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Translate sentences with a trained translation run (beam search; greedy at --beam 1).
    Translate {
        /// The run directory.
        run: PathBuf,
        /// Sentences to translate.
        #[arg(required_unless_present = "file")]
        texts: Vec<String>,
        /// Translate each line of this file instead.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Beam width (the run's `decode.beam` when absent; 1 is greedy).
        #[arg(long, value_parser = at_least_one)]
        beam: Option<usize>,
        /// Print JSON (with the attention weights).
        #[arg(long)]
        json: bool,
        /// Draw the first sentence's attention weights as a heat map (.png or .svg).
        #[arg(long, value_name = "OUT.png")]
        attention_png: Option<PathBuf>,
    },
    /// Transcribe audio files (WAV, FLAC or Ogg Vorbis; any sample rate and channel count)
    /// with a trained speech run.
    Transcribe {
        /// The run directory.
        run: PathBuf,
        /// Audio files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Beam width of the CTC prefix search (the run's `decode.beam` when absent; 1 is best
        /// path unless a language model is used).
        #[arg(long, value_parser = at_least_one)]
        beam: Option<usize>,
        /// Weight of the run's character language model (`decode.lm_text`); 0 turns it off.
        #[arg(long, allow_hyphen_values = true, value_parser = non_negative_number)]
        lm_weight: Option<f64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Caption images (PNG, JPEG or SVG) with a trained captioning run.
    Caption {
        /// The run directory.
        run: PathBuf,
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Beam width (the run's `decode.beam` when absent; 1 is greedy).
        #[arg(long, value_parser = at_least_one)]
        beam: Option<usize>,
        /// Caption style, as a reference number (the run's `decode.style` when absent); needs
        /// a run trained with `data.caption_styles`.
        #[arg(long, value_parser = at_least_one)]
        style: Option<usize>,
        /// Another run that captions together with RUN as an ensemble (repeatable); the
        /// members share RUN's vocabulary.
        #[arg(long, value_name = "RUN")]
        ensemble: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Draw where the decoder attended for each word of the first image's caption (SVG, or
        /// PNG by the file's extension); needs a model with attention.
        #[arg(long)]
        attention_png: Option<PathBuf>,
    },
    /// Log-probability and perplexity of sentences under a trained language model.
    Score {
        /// The run directory.
        run: PathBuf,
        /// Sentences to score.
        #[arg(required_unless_present = "file")]
        texts: Vec<String>,
        /// Score each line of this file instead.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A count that must be at least 1 (`--beam 0`, `--length 0` are mistakes, not "none").
fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{value}` is not a whole number")),
    }
}

/// A finite number above 0 (a temperature: 0, negative or NaN would silently mean greedy).
fn positive_number(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a positive number, got {v}")),
        Err(_) => Err(format!("`{value}` is not a number")),
    }
}

/// A finite number of at least 0 (a weight).
fn non_negative_number(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a finite number >= 0, got {v}")),
        Err(_) => Err(format!("`{value}` is not a number")),
    }
}

/// The task behind each `task:` name of a config. A new task is one line here (and its name in
/// `rnnzoo_config::TaskName`).
fn task(name: TaskName) -> &'static dyn TaskVerbs {
    match name {
        TaskName::Lm => &rnnzoo_lm::runner::LanguageModelTask,
        TaskName::Sentiment => &rnnzoo_sentiment::runner::ClassifierTask,
        TaskName::Memory => &rnnzoo_memory::runner::MemoryTask,
        TaskName::Translate => &rnnzoo_translate::runner::TranslationTask,
        TaskName::Speech => &rnnzoo_speech::runner::SpeechTask,
        TaskName::Caption => &rnnzoo_caption::runner::CaptionTask,
    }
}

fn device_of(config: &ExperimentConfig) -> Result<burn::tensor::Device, String> {
    rnnzoo_train::device::device(config.device)
}

fn train(
    config: Option<PathBuf>,
    overrides: Vec<String>,
    resume: Option<PathBuf>,
    runs: &Path,
) -> Result<(), String> {
    let config = match (&config, &resume) {
        (_, Some(run)) => rnnzoo_config::load(&run.join("config.yaml"), &[]),
        (Some(path), None) => rnnzoo_config::load(path, &overrides),
        (None, None) => unreachable!("clap requires one"),
    }
    .map_err(|e| e.to_string())?;
    let device = device_of(&config)?;
    task(config.task).train(&config, runs, resume.as_deref(), &device)
}

fn compare(
    sweep_path: Option<PathBuf>,
    report_dir: Option<PathBuf>,
    jobs: Option<usize>,
    runs: &Path,
) -> Result<(), String> {
    use rnnzoo_compare::{Execution, Plan, base_config, execute, load_sweep, plan, report};
    let text = |e: rnnzoo_compare::CompareError| e.to_string();
    if let Some(dir) = report_dir {
        let plan = Plan::load(&dir).map_err(text)?;
        println!("{}", report(&dir, &plan).map_err(text)?);
        return Ok(());
    }
    let path = sweep_path.expect("clap requires a sweep or --report");
    let sweep = load_sweep(&path).map_err(text)?;
    let planned = plan(&sweep, &path).map_err(text)?;
    let base = base_config(&sweep, &path);
    // The base config must load before any run starts.
    rnnzoo_config::load(&base, &[]).map_err(|e| e.to_string())?;
    let out = runs.join("compare").join(&sweep.name);
    let record = Plan {
        name: sweep.name.clone(),
        base: base.clone(),
        runs: planned.clone(),
    };
    record.save(&out).map_err(text)?;
    let jobs = jobs.unwrap_or(sweep.jobs).max(1);
    println!(
        "{}: {} runs, {} at a time, in {}",
        sweep.name,
        planned.len(),
        jobs,
        out.display()
    );
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the rnnzoo executable: {e}"))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let how = Execution {
        exe: &exe,
        base: &base,
        out: &out,
        jobs,
        threads,
    };
    let outcomes = execute(&how, &planned, |message| println!("{message}")).map_err(text)?;
    println!("{}", report(&out, &record).map_err(text)?);
    println!(
        "written: compare.md, compare.csv, validation-curves.{{svg,png}}, final-metric.{{svg,png}} in {}",
        out.display()
    );
    let failed: Vec<String> = outcomes
        .into_iter()
        .filter_map(|o| match o {
            rnnzoo_compare::RunOutcome::Failed(message) => Some(message),
            _ => None,
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} runs failed:\n{}",
            failed.len(),
            failed.join("\n")
        ))
    }
}

/// Refuses `verb` unless every run is a captioning run, naming the first that is not.
fn captioning_runs<'a>(
    runs: impl IntoIterator<Item = &'a PathBuf>,
    verb: &str,
) -> Result<(), String> {
    for run in runs {
        match task_of(run)? {
            TaskName::Caption => {}
            other => return Err(task(other).unsupported(run, verb)),
        }
    }
    Ok(())
}

/// The task of a run directory, from its resolved config.
fn task_of(run: &Path) -> Result<TaskName, String> {
    let path = run.join("config.yaml");
    if !path.is_file() {
        return Err(format!(
            "{}: not a run directory (no config.yaml)",
            run.display()
        ));
    }
    Ok(rnnzoo_config::load(&path, &[])
        .map_err(|e| e.to_string())?
        .task)
}

/// Checks that `run` is a language-model run before an LM-only verb.
fn language_model_run(run: &Path, verb: &str) -> Result<(), String> {
    match task_of(run)? {
        TaskName::Lm => Ok(()),
        other => Err(task(other).unsupported(run, verb)),
    }
}

fn loadavg() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| {
            s.split_whitespace()
                .take(3)
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn bench(
    configs: &str,
    threads: usize,
    schedule: rnnzoo_bench::Schedule,
    json: bool,
) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global()
        .map_err(|e| format!("--threads {threads}: {e}"))?;
    let keys: Vec<String> = configs
        .split(',')
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    let load_start = loadavg();
    let results = rnnzoo_bench::run(&keys, schedule, &burn::tensor::Device::flex(), |line| {
        eprintln!("{line}")
    })?;
    if json {
        let out = serde_json::json!({
            "meta": { "impl": "rnnzoo", "device": "flex", "threads": threads, "loadavg_start": load_start, "loadavg_end": loadavg() },
            "results": results,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serialisable")
        );
    } else {
        println!("rnnzoo (flex, {threads} threads)");
        println!(
            "{:<24} {:>10} {:>12} {:>10}",
            "config", "ms/step", "tokens/s", "GFLOP/s"
        );
        for r in &results {
            println!(
                "{:<24} {:>10.2} {:>12.1} {:>10.2}",
                r.name, r.ms_per_step, r.tokens_per_s, r.achieved_gflops
            );
        }
    }
    Ok(())
}

fn run_command(command: Command) -> Result<(), String> {
    match command {
        Command::Train {
            config,
            overrides,
            resume,
            runs,
        } => train(config, overrides, resume, &runs),
        Command::Eval {
            run,
            data,
            ensemble,
            json,
        } => {
            if ensemble.is_empty() {
                return task(task_of(&run)?).eval(&run, data.as_deref(), json);
            }
            captioning_runs(std::iter::once(&run).chain(&ensemble), "eval --ensemble")?;
            if data.is_some() {
                return Err(
                    "eval --ensemble scores the runs' own test split; leave out --data".into(),
                );
            }
            rnnzoo_caption::runner::eval_ensemble(&run, &ensemble, json)
        }
        Command::Predict {
            run,
            texts,
            file,
            json,
        } => {
            let inputs = match &file {
                Some(path) => Inputs::File(path),
                None => Inputs::Texts(&texts),
            };
            task(task_of(&run)?).predict(&run, inputs, json)
        }
        Command::Finetune {
            run,
            config,
            overrides,
            runs,
        } => {
            if !run.join("config.yaml").is_file() {
                return Err(format!(
                    "{}: not a run directory (no config.yaml)",
                    run.display()
                ));
            }
            let mut all = vec![format!("init_from={}", run.display())];
            all.extend(overrides);
            train(Some(config), all, None, &runs)
        }
        Command::Ngram {
            config,
            order,
            overrides,
            runs,
        } => {
            let config = rnnzoo_config::load(&config, &overrides).map_err(|e| e.to_string())?;
            if config.task != TaskName::Lm {
                return Err(format!(
                    "ngram: `{}` is a {:?} config; n-gram models are language models",
                    config.name, config.task
                ));
            }
            let (run, summary) = rnnzoo_lm::baseline::train_ngram(&config, order, &runs)
                .map_err(|e| e.to_string())?;
            let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
            println!(
                "done: Kneser-Ney {order}-gram, {} n-grams, valid loss {}, test loss {}, {:.0} s",
                summary.parameters,
                fmt(summary.best_valid_loss),
                fmt(summary.test_loss),
                summary.wall_s
            );
            println!("run saved in {}", run.path.display());
            Ok(())
        }
        Command::Compare {
            sweep,
            report,
            jobs,
            runs,
        } => compare(sweep, report, jobs, &runs),
        Command::Bench {
            configs,
            threads,
            rounds,
            warmup,
            iters,
            json,
        } => bench(
            &configs,
            threads,
            rnnzoo_bench::Schedule {
                rounds,
                warmup,
                iters,
            },
            json,
        ),
        Command::Generate {
            run,
            prompt,
            length,
            temperature,
            top_k,
            seed,
        } => {
            language_model_run(&run, "generate")?;
            let trained =
                load_run(&run, &burn::tensor::Device::flex()).map_err(|e| e.to_string())?;
            let options = SampleOptions {
                prompt,
                length,
                temperature,
                top_k,
                seed,
            };
            // Each token is printed as it is drawn, so a long generation shows at once.
            let mut stdout = std::io::stdout().lock();
            let generated = generate_streaming(&trained.model, &trained.vocab, &options, |piece| {
                use std::io::Write as _;
                let _ = stdout.write_all(piece.as_bytes());
                let _ = stdout.flush();
            });
            println!();
            if generated.prompt_unknown > 0 {
                eprintln!(
                    "warning: {} token(s) of the prompt are not in the run's vocabulary; the model read them as <unk>",
                    generated.prompt_unknown
                );
            }
            Ok(())
        }
        Command::Translate {
            run,
            texts,
            file,
            beam,
            json,
            attention_png,
        } => {
            match task_of(&run)? {
                TaskName::Translate => {}
                other => return Err(task(other).unsupported(&run, "translate")),
            }
            let inputs = match &file {
                Some(path) => Inputs::File(path),
                None => Inputs::Texts(&texts),
            };
            rnnzoo_translate::runner::translate(&run, inputs, beam, json, attention_png.as_deref())
        }
        Command::Transcribe {
            run,
            files,
            beam,
            lm_weight,
            json,
        } => {
            match task_of(&run)? {
                TaskName::Speech => {}
                other => return Err(task(other).unsupported(&run, "transcribe")),
            }
            rnnzoo_speech::runner::transcribe(&run, &files, beam, lm_weight, json)
        }
        Command::Caption {
            run,
            images,
            beam,
            style,
            ensemble,
            json,
            attention_png,
        } => {
            captioning_runs(std::iter::once(&run).chain(&ensemble), "caption")?;
            rnnzoo_caption::runner::caption(
                &run,
                &ensemble,
                &images,
                beam,
                style,
                json,
                attention_png.as_deref(),
            )
        }
        Command::Score {
            run,
            texts,
            file,
            json,
        } => {
            language_model_run(&run, "score")?;
            let trained =
                load_run(&run, &burn::tensor::Device::flex()).map_err(|e| e.to_string())?;
            let texts = match &file {
                Some(path) => Inputs::File(path),
                None => Inputs::Texts(&texts),
            }
            .lines()?;
            let scores: Vec<_> = texts
                .iter()
                .map(|t| score(&trained.model, &trained.vocab, t))
                .collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&scores).expect("serialisable")
                );
            } else {
                println!(
                    "{:>10} {:>10} {:>10} {:>6}  text",
                    "log_prob", "per_token", "ppl", "tokens"
                );
                for s in &scores {
                    println!(
                        "{:>10.3} {:>10.4} {:>10.3} {:>6}  {}",
                        s.log_prob, s.mean_log_prob, s.perplexity, s.tokens, s.text
                    );
                }
            }
            Ok(())
        }
    }
}

/// A panic is a bug of rnnzoo, never the user's fault: print one line saying so and where,
/// without Rust's backtrace text (`RUST_BACKTRACE=1` still gets the full report).
fn report_bugs_plainly() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let place = info
            .location()
            .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        eprintln!(
            "error: internal error{place}: {what}\n(this is a bug in rnnzoo, not in your input; \
             please report it with the command you ran)"
        );
    }));
}

fn main() -> ExitCode {
    report_bugs_plainly();
    let cli = Cli::parse();
    rnnzoo_train::device::keep_freed_memory();
    let result = std::panic::catch_unwind(|| run_command(cli.command));
    // A training that failed before its first checkpoint leaves no half-made run folder.
    let removed = match &result {
        Ok(Ok(())) => Vec::new(),
        _ => rnnzoo_train::rundir::remove_unfinished(),
    };
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(message)) => {
            eprintln!("error: {message}");
            for dir in removed {
                eprintln!("(removed the unfinished run folder {})", dir.display());
            }
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::from(70),
    }
}
