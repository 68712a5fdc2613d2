//! A campaign set up in code: what a Rust user writes in an ordinary `cargo test` against their own server.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{run, Progress, Report, Settings, Unreachable};
use crate::case::Layer;
use crate::regressions::{self, Place};
use crate::spec::Spec;
use crate::target::Target;

/// A campaign against one server, built step by step and run with [`Campaign::run`].
///
/// Without a spec, wsfuzz fuzzes the URL's one endpoint on the wire and with generic messages;
/// with one, every channel the spec describes, judged by what the spec promises.
#[derive(Debug)]
pub struct Campaign {
    url: String,
    spec: Option<Spec>,
    /// The spec's file, when it was read from one, for saved cases to name.
    spec_file: Option<String>,
    settings: Settings,
    regressions: Option<PathBuf>,
}

/// Why a campaign could not run: a spec or saved case that cannot be read, or a server that
/// cannot be reached. Findings are not errors; they are in the [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<crate::spec::SpecError> for Error {
    fn from(e: crate::spec::SpecError) -> Error {
        Error(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error(e.to_string())
    }
}

impl Campaign {
    /// A campaign against `url` (`ws://host:port`, or one endpoint's full URL): 500 cases on
    /// every layer, seed 0 (a fixed seed, so a test plays the same cases every time).
    pub fn new(url: impl Into<String>) -> Campaign {
        Campaign {
            url: url.into(),
            spec: None,
            spec_file: None,
            settings: Settings::default(),
            regressions: None,
        }
    }

    /// Judges the server by this spec.
    pub fn spec(mut self, spec: Spec) -> Campaign {
        self.spec = Some(spec);
        self
    }

    /// Reads the spec from an AsyncAPI file (YAML or JSON).
    pub fn spec_file(mut self, path: impl AsRef<Path>) -> Result<Campaign, Error> {
        let path = path.as_ref();
        let spec = Spec::load(path)?;
        self.spec_file = Some(path.display().to_string());
        Ok(self.spec(spec))
    }

    pub fn cases(mut self, cases: u64) -> Campaign {
        self.settings.cases = cases;
        self
    }

    /// The same seed gives the same cases.
    pub fn seed(mut self, seed: u64) -> Campaign {
        self.settings.seed = seed;
        self
    }

    /// Draws cases from these layers only.
    pub fn layers(mut self, layers: &[Layer]) -> Campaign {
        self.settings.layers = layers.to_vec();
        self
    }

    /// How long to wait for a connection, a reply or a close.
    pub fn timeout(mut self, timeout: Duration) -> Campaign {
        self.settings.timing.timeout = timeout;
        // As `--timeout` does: no longer than that for the silence after a message.
        self.settings.timing.quiet = timeout.min(Duration::from_millis(200));
        self
    }

    /// Plays each case with `clients - 1` others at once.
    pub fn clients(mut self, clients: usize) -> Campaign {
        self.settings.clients = clients.max(1);
        self
    }

    /// Runs only `checks` (as `--checks`); `wsfuzz::checks::CHECKS` lists them all.
    pub fn checks(mut self, checks: &[&'static crate::checks::Check]) -> Campaign {
        self.settings.checks.only = checks.to_vec();
        self
    }

    /// Runs every check but `checks` (as `--exclude-checks`).
    pub fn exclude_checks(mut self, checks: &[&'static crate::checks::Check]) -> Campaign {
        self.settings.checks.exclude = checks.to_vec();
        self
    }

    /// Makes warnings fail [`Report::assert_no_findings`] too (as `--strict`).
    pub fn strict(mut self, strict: bool) -> Campaign {
        self.settings.strict = strict;
        self
    }

    /// Replays the cases saved in `dir` before new ones, and saves each new finding there
    /// (with its standalone script), as `wsfuzz fuzz` does with `proptest-regressions/`.
    pub fn regressions(mut self, dir: impl Into<PathBuf>) -> Result<Campaign, Error> {
        let dir = dir.into();
        // A directory not made yet holds nothing to replay.
        if dir.exists() {
            self.settings.saved = regressions::load(&dir).map_err(Error)?;
        }
        self.regressions = Some(dir);
        Ok(self)
    }

    /// Every other setting, as `wsfuzz fuzz`'s flags set them.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// The `wsfuzz fuzz` command that plays the same cases, for `Reproduce with:`.
    fn command(&self) -> String {
        let settings = &self.settings;
        let mut words = vec!["wsfuzz fuzz".to_string(), super::shell_quote(&self.url)];
        match (&self.spec_file, &self.spec) {
            (Some(path), _) => words.push(format!("--spec {}", super::shell_quote(path))),
            // A spec given as a value has no file to name.
            (None, Some(spec)) => words.push(format!(
                "--spec {}",
                super::shell_quote(&format!("<the file of {}>", spec.title))
            )),
            (None, None) => {}
        }
        if !settings.layers.is_empty() {
            let names: Vec<&str> = settings.layers.iter().map(|l| l.name()).collect();
            words.push(format!("--layers {}", names.join(",")));
        }
        if settings.timing.timeout != Settings::default().timing.timeout {
            words.push(format!(
                "--timeout {}",
                settings.timing.timeout.as_secs_f64()
            ));
        }
        if settings.clients > 1 {
            words.push(format!("--clients {}", settings.clients));
        }
        words.join(" ")
    }

    /// Runs the campaign to its end. Findings that cannot be saved are warned about on
    /// standard error; the report still holds them.
    pub async fn run(mut self) -> Result<Report, Error> {
        self.settings.command = self.command();
        let target = Target::resolve(&self.url, self.spec.as_ref()).map_err(Error)?;
        let mut quiet = |_: Progress| {};
        let mut report = run(&target, &self.settings, &mut quiet)
            .await
            .map_err(|Unreachable(e)| Error(e))?;
        if let Some(dir) = &self.regressions {
            let place = Place {
                dir,
                url: &self.url,
                spec: self.spec_file.as_deref(),
                target: &target,
                timing: self.settings.timing,
            };
            for problem in regressions::save_new(&mut report, &place) {
                eprintln!("wsfuzz: warning: {problem}");
            }
        }
        Ok(report)
    }
}

impl Report {
    /// Panics with the text report (each finding, its minimal case and how to reproduce it)
    /// if the campaign found an error (or, with `strict`, a warning): the assertion of a
    /// `cargo test`.
    #[track_caller]
    pub fn assert_no_findings(&self) {
        if self.failed() {
            panic!("wsfuzz found something:\n{}", crate::report::text(self));
        }
    }
}
