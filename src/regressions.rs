//! Findings kept as data: each saved as its minimal case in readable JSON, replayed first on the next run, reported fixed once it passes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::campaign::{Event, Finding, Reporter};
use crate::case::Case;
use crate::reproduce;
use crate::runner::Timing;
use crate::target::Target;

/// The format of a saved case; a file of another format is refused, not misread.
pub const FORMAT: u32 = 1;

/// The directory findings are saved in unless `--regressions` names another.
pub const DEFAULT_DIR: &str = "proptest-regressions";

/// One saved finding: the minimal case itself, so it replays whatever the generators become.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Regression {
    pub wsfuzz_regression: u32,
    pub check: String,
    /// The spec channel the case runs on.
    pub channel: String,
    /// The URL the campaign was given, and the spec it read (as given), to replay the same way.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    pub seed: u64,
    pub case_index: u64,
    pub expected: String,
    pub actual: String,
    pub case: Case,
}

/// A saved case, with the file it came from.
#[derive(Clone, Debug)]
pub struct Saved {
    pub path: PathBuf,
    pub regression: Regression,
}

impl Regression {
    pub fn of(finding: &Finding, target: &str, spec: Option<&str>) -> Regression {
        Regression {
            wsfuzz_regression: FORMAT,
            check: finding.check.to_string(),
            channel: finding.channel.clone(),
            target: target.to_string(),
            spec: spec.map(str::to_string),
            seed: finding.seed,
            case_index: finding.case_index,
            expected: finding.expected.clone(),
            actual: finding.actual.clone(),
            case: finding.case.clone(),
        }
    }

    /// A file name that is the same for the same check, channel and case, so a finding found
    /// again is not saved twice.
    pub fn file_name(&self) -> String {
        let case = serde_json::to_string(&self.case).unwrap_or_default();
        // FNV-1a: stable across runs and platforms, unlike the standard library's hasher.
        let hash = case.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        };
        format!(
            "wsfuzz-{}-{}-{hash:016x}.json",
            safe(&self.check),
            safe(&self.channel)
        )
    }

    /// Writes the regression into `dir` (created if need be); returns its path.
    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(self.file_name());
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&path, json + "\n")?;
        Ok(path)
    }
}

/// The regression saver: a reporter that saves each new finding as it is found, in `dir`,
/// with a standalone reproduction beside it, and notes both paths in the finding. A
/// campaign cut short has saved every finding it made.
pub struct Saver {
    pub dir: PathBuf,
    /// The URL and spec path the campaign was given.
    pub url: String,
    pub spec: Option<String>,
    pub target: Target,
    pub timing: Timing,
}

impl Saver {
    pub fn new(
        dir: &Path,
        url: &str,
        spec: Option<&str>,
        target: &Target,
        timing: Timing,
    ) -> Saver {
        Saver {
            dir: dir.to_path_buf(),
            url: url.to_string(),
            spec: spec.map(str::to_string),
            target: target.clone(),
            timing,
        }
    }

    /// What could not be written is worth a warning, said at once, not a failed run.
    fn warn(&self, problem: String) {
        eprintln!("wsfuzz: warning: {problem}");
    }

    fn save(&mut self, finding: &mut Finding) {
        let saved = Regression::of(finding, &self.url, self.spec.as_deref()).save(&self.dir);
        let path = match saved {
            Ok(path) => path,
            Err(e) => {
                self.warn(format!(
                    "cannot save the finding to {}: {e}",
                    self.dir.display()
                ));
                return;
            }
        };
        finding.regression = Some(path.display().to_string());
        let route = self
            .target
            .routes
            .iter()
            .find(|r| r.channel.id == finding.channel);
        let Some(route) = route else {
            self.warn(format!(
                "no standalone script for {}: the target has no channel `{}`",
                path.display(),
                finding.channel
            ));
            return;
        };
        // A ladder or a flood is measured as it runs, which a script of bytes cannot repeat:
        // the saved case replays it (`wsfuzz replay`).
        let measured = matches!(
            finding.case.sized(),
            Some(crate::case::Sized::Stretch(_) | crate::case::Sized::Flood(_))
        );
        if measured {
            return;
        }
        let script_path = path.with_extension("py");
        let script = reproduce::python(
            finding,
            &self.target,
            route,
            self.timing,
            &script_path.display().to_string(),
        );
        match std::fs::write(&script_path, script) {
            Ok(()) => finding.standalone = Some(script_path.display().to_string()),
            Err(e) => self.warn(format!("cannot write {}: {e}", script_path.display())),
        }
    }
}

impl Reporter for Saver {
    fn on(&mut self, _event: &Event<'_>) {}

    fn file(&mut self, finding: &mut Finding) {
        // A finding replayed from a saved case is saved already.
        if !finding.replayed {
            self.save(finding);
        }
    }
}

/// Reads a saved case, or every `wsfuzz-*.json` in a directory (a missing directory holds none).
pub fn load(path: &Path) -> Result<Vec<Saved>, String> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?
            .filter_map(|entry| Some(entry.ok()?.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("wsfuzz-") && n.ends_with(".json"))
            })
            .collect();
        // In name order, so every run replays them in the same order.
        files.sort();
        return files.iter().map(|file| load_file(file)).collect();
    }
    if !path.exists() {
        return Err(format!("{}: no such file or directory", path.display()));
    }
    Ok(vec![load_file(path)?])
}

fn load_file(path: &Path) -> Result<Saved, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut reader = serde_json::Deserializer::from_str(&text);
    // Saved cases may nest JSON deeper than serde_json's default guard: they were written by wsfuzz.
    reader.disable_recursion_limit();
    let reader = serde_stacker::Deserializer::new(&mut reader);
    let regression = Regression::deserialize(reader)
        .map_err(|e| format!("{}: not a saved wsfuzz case: {e}", path.display()))?;
    if regression.wsfuzz_regression != FORMAT {
        return Err(format!(
            "{}: saved in format {}, this wsfuzz reads format {FORMAT}",
            path.display(),
            regression.wsfuzz_regression
        ));
    }
    Ok(Saved {
        path: path.to_path_buf(),
        regression,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Endpoint, Payload};
    use serde_json::{json, Value};

    #[test]
    fn a_deeply_nested_case_survives_saving_and_loading() {
        let mut deep = json!("bottom");
        // As deep as the generators nest (past 128, serde_json's usual guard).
        for _ in 0..500 {
            deep = json!([deep]);
        }
        let case = Case::messages(
            Endpoint {
                channel: "echo".into(),
                address: "/e".into(),
                params: Default::default(),
            },
            vec![Payload::Json(json!({"action": "update", "content": deep}))],
        );
        let regression = Regression {
            wsfuzz_regression: FORMAT,
            check: "no_abrupt_close".into(),
            channel: "echo".into(),
            target: "ws://127.0.0.1:1".into(),
            spec: None,
            seed: 1,
            case_index: 2,
            expected: "e".into(),
            actual: "a".into(),
            case,
        };
        let dir = std::env::temp_dir().join(format!("wsfuzz-regressions-{}", std::process::id()));
        let path = regression.save(&dir).unwrap();
        assert_eq!(
            path,
            regression.save(&dir).unwrap(),
            "the same case, the same file"
        );
        let loaded = load(&dir).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].regression.case, regression.case);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "past serde_json's usual guard"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
