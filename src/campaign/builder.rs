//! A campaign set up in code: what a Rust user writes in an ordinary `cargo test` against their own server.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{run, Report, Reporter, Reporters, Settings, Unreachable};
use crate::case::Layer;
use crate::credentials::Credentials;
use crate::regressions::{self, Saver};
use crate::spec::Spec;
use crate::target::Target;

/// A campaign against one server, built step by step and run with [`Campaign::run`].
///
/// Without a spec, wsfuzz fuzzes the URL's one endpoint on the wire and with generic messages;
/// with one, every channel the spec describes, judged by what the spec promises.
pub struct Campaign {
    url: String,
    spec: Option<Spec>,
    /// The spec's file, when it was read from one, for saved cases to name.
    spec_file: Option<String>,
    settings: Settings,
    regressions: Option<PathBuf>,
    credentials: Option<Credentials>,
    /// For `wss://`: a CA file to trust, and whether to check the certificate at all.
    tls: Option<(Option<PathBuf>, bool)>,
    reporters: Reporters,
}

impl fmt::Debug for Campaign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Campaign")
            .field("url", &self.url)
            .field("spec_file", &self.spec_file)
            .field("settings", &self.settings)
            .field("regressions", &self.regressions)
            .finish_non_exhaustive()
    }
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
            credentials: None,
            tls: None,
            reporters: Reporters::new(),
        }
    }

    /// Sends these credentials (headers, cookies, a token, an Origin) with every handshake;
    /// they never appear in reports, saved cases or scripts.
    pub fn credentials(mut self, credentials: Credentials) -> Campaign {
        self.credentials = Some(credentials);
        self
    }

    /// For a `wss://` URL: trusts the certificates in `ca_file` too, or (`insecure`) checks
    /// none, as `--ca-file` and `--insecure` do.
    pub fn tls(mut self, ca_file: Option<&Path>, insecure: bool) -> Campaign {
        self.tls = Some((ca_file.map(Path::to_path_buf), insecure));
        self
    }

    /// Tells `reporter` every event of the campaign as it happens, after those added before.
    pub fn reporter(mut self, reporter: impl Reporter + Send + 'static) -> Campaign {
        self.reporters.add(reporter);
        self
    }

    /// Stops the campaign before its end when `stop` is raised (a signal, say); the report
    /// then holds what it found so far.
    pub fn stop(mut self, stop: super::Stop) -> Campaign {
        self.settings.stop = stop;
        self
    }

    /// Bounds the whole campaign's time, shrinking included (as `--time`).
    pub fn time(mut self, time: Duration) -> Campaign {
        self.settings.time = Some(time);
        self
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
        let mut target = Target::resolve(&self.url, self.spec.as_ref()).map_err(Error)?;
        if let Some(credentials) = self.credentials {
            target.credentials = credentials;
        }
        if let Some((ca_file, insecure)) = &self.tls {
            if target.tls.is_none() {
                return Err(Error("TLS settings are for wss:// URLs".into()));
            }
            target.tls = Some(crate::tls::config(ca_file.as_deref(), *insecure).map_err(Error)?);
        }
        // The saver goes first: the other reporters see where each finding was saved.
        let mut reporters = Reporters::new();
        if let Some(dir) = &self.regressions {
            reporters.add(Saver::new(
                dir,
                &self.url,
                self.spec_file.as_deref(),
                &target,
                self.settings.timing,
            ));
        }
        reporters.add(self.reporters);
        run(&target, &self.settings, &mut reporters)
            .await
            .map_err(|Unreachable(e)| Error(e))
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
