//! Run directories: `runs/<name>/<timestamp>/`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The run folders this process created, so that a training that fails before its first
/// checkpoint can take its half-made folder away again ([`remove_unfinished`]).
static CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// One run's folder and the files in it.
#[derive(Clone, Debug)]
pub struct RunDir {
    /// The folder.
    pub path: PathBuf,
}

/// `YYYY-MM-DDTHH-MM-SS` in UTC for a Unix time (civil-from-days, Howard Hinnant's algorithm).
pub fn timestamp(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let secs = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

impl RunDir {
    /// Creates `root/<name>/<timestamp>/` (with a numeric suffix if that exists already). The
    /// folder is claimed with one `create_dir`, which fails if it exists, so two trainings
    /// started in the same second get two folders.
    pub fn create(root: &Path, name: &str) -> std::io::Result<Self> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let base = root.join(name).join(timestamp(now));
        std::fs::create_dir_all(root.join(name))?;
        let mut path = base.clone();
        let mut n = 1;
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    if let Ok(mut created) = CREATED.lock() {
                        created.push(path.clone());
                    }
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    n += 1;
                    path = PathBuf::from(format!("{}-{n}", base.display()));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// An existing run folder.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if !path.join("config.yaml").is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: not a run directory (no config.yaml)", path.display()),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The resolved configuration.
    pub fn config(&self) -> PathBuf {
        self.path.join("config.yaml")
    }
    /// The vocabulary.
    pub fn vocab(&self) -> PathBuf {
        self.path.join("vocab.json")
    }
    /// The checkpoints folder.
    pub fn checkpoints(&self) -> PathBuf {
        self.path.join("checkpoints")
    }
    /// The metrics log.
    pub fn metrics(&self) -> PathBuf {
        self.path.join("metrics.csv")
    }
    /// The learning-curve plot.
    pub fn plot(&self) -> PathBuf {
        self.path.join("learning-curve.svg")
    }
    /// Final metrics.
    pub fn summary(&self) -> PathBuf {
        self.path.join("summary.json")
    }
}

/// Removes the run folders this process created that hold no checkpoint and no summary (a
/// training that failed on its config, data or first steps), and returns them. Folders of other
/// processes, and runs with a checkpoint to resume from, are never touched.
pub fn remove_unfinished() -> Vec<PathBuf> {
    let created = match CREATED.lock() {
        Ok(mut created) => std::mem::take(&mut *created),
        Err(_) => return Vec::new(),
    };
    created
        .into_iter()
        .filter(|path| {
            let unfinished = path.is_dir()
                && !path.join("summary.json").exists()
                && !path.join("checkpoints").join("latest").exists();
            unfinished && std::fs::remove_dir_all(path).is_ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_created_at_once_get_their_own_folders() {
        let root = std::env::temp_dir().join(format!("rnnzoo-rundir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let paths: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| RunDir::create(&root, "same").unwrap().path))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut unique = paths.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 8, "{paths:?}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn only_unfinished_folders_of_this_process_are_removed() {
        let root = std::env::temp_dir().join(format!("rnnzoo-unfinished-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let failed = RunDir::create(&root, "failed").unwrap();
        std::fs::write(failed.config(), "name: failed\n").unwrap();
        let resumable = RunDir::create(&root, "resumable").unwrap();
        std::fs::create_dir_all(resumable.checkpoints()).unwrap();
        std::fs::write(resumable.checkpoints().join("latest"), "step-00000010").unwrap();
        let foreign = root.join("foreign").join("2026-01-01T00-00-00");
        std::fs::create_dir_all(&foreign).unwrap();
        let removed = remove_unfinished();
        assert!(removed.contains(&failed.path), "{removed:?}");
        assert!(!failed.path.exists());
        assert!(resumable.path.exists() && foreign.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(super::timestamp(0), "1970-01-01T00-00-00");
        assert_eq!(
            super::timestamp(1_795_392_000 + 3661),
            "2026-11-23T01-01-01"
        );
        assert_eq!(super::timestamp(951_782_400), "2000-02-29T00-00-00");
    }
}
