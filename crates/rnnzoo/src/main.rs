//! `rnnzoo`: runs the experiments that YAML files under `configs/` describe. Thin glue: parse the
//! command line and the config, pick the device, dispatch to the task crate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rnnzoo_config::{ExperimentConfig, TaskName};
use rnnzoo_lm::inference::{SampleOptions, evaluate, generate, load_run, score};

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
    /// Loss and perplexity of a trained run on its test split or on a text file or folder.
    Eval {
        /// The run directory.
        run: PathBuf,
        /// A text file or folder to evaluate instead of the run's test split.
        #[arg(long)]
        data: Option<PathBuf>,
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
        #[arg(long, default_value_t = 500)]
        length: usize,
        /// Softmax temperature.
        #[arg(long, default_value_t = 0.8)]
        temperature: f64,
        /// Sample among the k most likely tokens only.
        #[arg(long)]
        top_k: Option<usize>,
        /// Seed of the sampler.
        #[arg(long, default_value_t = 1)]
        seed: u64,
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
    match config.task {
        TaskName::Lm => {
            let (run, summary) =
                rnnzoo_lm::training::train(&config, runs, resume.as_deref(), &device)
                    .map_err(|e| e.to_string())?;
            let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
            println!(
                "done: {} steps, best valid loss {} (ppl {}), test loss {} (ppl {}), {:.0} tok/s, {:.0} s",
                summary.steps,
                fmt(summary.best_valid_loss),
                fmt(summary.best_valid_perplexity),
                fmt(summary.test_loss),
                fmt(summary.test_perplexity),
                summary.tokens_per_s,
                summary.wall_s
            );
            if let Some(sample) = &summary.sample {
                println!("--- sample ---\n{sample}\n--------------");
            }
            println!("run saved in {}", run.path.display());
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
        Command::Eval { run, data, json } => {
            let device = burn::tensor::Device::flex();
            let trained = load_run(&run, &device).map_err(|e| e.to_string())?;
            let (label, tokens) = match &data {
                Some(path) => {
                    let text = rnnzoo_lm::data::read_text(path).map_err(|e| e.to_string())?;
                    (path.display().to_string(), trained.vocab.encode(&text))
                }
                None => {
                    let (_, streams) =
                        rnnzoo_lm::training::prepare(&trained.config, Some(trained.vocab.clone()))
                            .map_err(|e| e.to_string())?;
                    ("test split".to_string(), streams.test)
                }
            };
            if tokens.len() < 4 {
                return Err(format!(
                    "{label}: too little text to evaluate ({} tokens)",
                    tokens.len()
                ));
            }
            let result = evaluate(&trained.model, &tokens, 8, trained.config.train.bptt);
            if json {
                println!("{}", serde_json::to_string(&result).expect("serialisable"));
            } else {
                println!(
                    "{label}: loss {:.4} nats/token, perplexity {:.3}, {} tokens (checkpoint {})",
                    result.loss,
                    result.perplexity,
                    result.tokens,
                    trained.checkpoint.display()
                );
            }
            Ok(())
        }
        Command::Generate {
            run,
            prompt,
            length,
            temperature,
            top_k,
            seed,
        } => {
            let trained =
                load_run(&run, &burn::tensor::Device::flex()).map_err(|e| e.to_string())?;
            let options = SampleOptions {
                prompt,
                length,
                temperature,
                top_k,
                seed,
            };
            println!("{}", generate(&trained.model, &trained.vocab, &options));
            Ok(())
        }
        Command::Score {
            run,
            texts,
            file,
            json,
        } => {
            let trained =
                load_run(&run, &burn::tensor::Device::flex()).map_err(|e| e.to_string())?;
            let texts = match file {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(String::from)
                    .collect(),
                None => texts,
            };
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_command(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
