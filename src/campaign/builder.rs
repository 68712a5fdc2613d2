//! A campaign set up in code: what a Rust user writes in an ordinary `cargo test` against their own server.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{run, Report, Reporter, Reporters, Settings, Unreachable};
use crate::case::Layer;
use crate::credentials::{Access, Credentials};
use crate::regressions::{self, Saver};
use crate::spec::Spec;
use crate::target::Target;
use crate::watch::Spawn;

/// A campaign against one server, built step by step and run with [`Campaign::run`]. The
/// command line builds one too, from its flags and `wsfuzz.toml`: this is the one place
/// settings are put together, and the one that writes the `Reproduce with:` command.
///
/// Without a spec, wsfuzz fuzzes the URL's one endpoint on the wire and with generic messages;
/// with one, every channel the spec describes, judged by what the spec promises.
pub struct Campaign {
    /// As given: `{port}` in it is the port of a target wsfuzz starts.
    url: String,
    spec: Option<Spec>,
    /// The spec's file, when it was read from one, for saved cases to name.
    spec_file: Option<String>,
    settings: Settings,
    regressions: Option<PathBuf>,
    access: Access,
    /// For `wss://`: a CA file to trust, and whether to check the certificate at all.
    tls: Option<(Option<PathBuf>, bool)>,
    /// The shell command that starts the target, as given, and how long it may take to.
    spawn: Option<(String, Duration)>,
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

/// Why a campaign could not run, or ran but could not write what it found. Findings are not
/// errors; they are in the [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The campaign as set up cannot run: a spec, saved case or setting that is wrong.
    Setup(String),
    /// The target could not be started or reached (or a stop came first).
    Unreachable(String),
    /// The campaign ran, but one of its outputs could not be written.
    Output(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Setup(why) | Error::Unreachable(why) | Error::Output(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::spec::SpecError> for Error {
    fn from(e: crate::spec::SpecError) -> Error {
        Error::Setup(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Setup(e.to_string())
    }
}

/// The placeholder for the port a target wsfuzz starts listens on.
const PORT: &str = "{port}";

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
            access: Access::default(),
            tls: None,
            spawn: None,
            reporters: Reporters::new(),
        }
    }

    /// Sends these credentials (headers, cookies, a token, an Origin) with every handshake;
    /// they never appear in reports, saved cases or scripts.
    pub fn credentials(self, credentials: Credentials) -> Campaign {
        self.access(credentials.into())
    }

    /// Sends these credentials, as the flags give them: a token goes where the spec's
    /// security scheme says.
    pub fn access(mut self, access: Access) -> Campaign {
        self.access = access;
        self
    }

    /// For a `wss://` URL: trusts the certificates in `ca_file` too, or (`insecure`) checks
    /// none, as `--ca-file` and `--insecure` do.
    pub fn tls(mut self, ca_file: Option<&Path>, insecure: bool) -> Campaign {
        self.tls = Some((ca_file.map(Path::to_path_buf), insecure));
        self
    }

    /// Starts the target with this shell command (`{port}` in it, and in the URL, is a free
    /// port), watches it for crashes and resources, and stops it at the end (as `--spawn`).
    pub fn spawn(mut self, command: impl Into<String>, startup: Duration) -> Campaign {
        self.spawn = Some((command.into(), startup));
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
        // No longer than that for the silence after a message either.
        self.settings.timing.quiet = timeout.min(Duration::from_millis(200));
        self
    }

    /// Plays each case with `clients - 1` others at once.
    pub fn clients(mut self, clients: usize) -> Campaign {
        self.settings.clients = clients.max(1);
        self
    }

    /// Plays up to `jobs` cases at once, each on resources of its own (as `--jobs`; the
    /// default is the cores, and a target wsfuzz starts gets one at a time).
    pub fn jobs(mut self, jobs: usize) -> Campaign {
        self.settings.jobs = jobs.max(1);
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
            self.settings.saved = regressions::load(&dir).map_err(Error::Setup)?;
        }
        self.regressions = Some(dir);
        Ok(self)
    }

    /// Every other setting, as `wsfuzz fuzz`'s flags set them.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// The `wsfuzz fuzz` command that plays the same cases, for `Reproduce with:`: every
    /// setting that changes which cases are played or how they are judged, and no secret.
    pub fn command(&self) -> String {
        let quote = super::shell_quote;
        let settings = &self.settings;
        let defaults = Settings::default();
        let mut words = vec!["wsfuzz fuzz".to_string(), quote(&self.url)];
        if let Some((command, startup)) = &self.spawn {
            words.push(format!("--spawn {}", quote(command)));
            if *startup != DEFAULT_STARTUP {
                words.push(format!("--startup {}", startup.as_secs_f64()));
            }
        }
        match (&self.spec_file, &self.spec) {
            (Some(path), _) => words.push(format!("--spec {}", quote(path))),
            // A spec given as a value has no file to name.
            (None, Some(spec)) => words.push(format!(
                "--spec {}",
                quote(&format!("<the file of {}>", spec.title))
            )),
            (None, None) => {}
        }
        if !settings.layers.is_empty() {
            let names: Vec<&str> = settings.layers.iter().map(|l| l.name()).collect();
            words.push(format!("--layers {}", names.join(",")));
        }
        words.extend(self.access.flags());
        if let Some((ca_file, insecure)) = &self.tls {
            if let Some(ca_file) = ca_file {
                words.push(format!(
                    "--ca-file {}",
                    quote(&ca_file.display().to_string())
                ));
            }
            if *insecure {
                words.push("--insecure".into());
            }
        }
        // The limits shape which findings come up, so a reproduction repeats them.
        let (limits, usual) = (&settings.limits, &defaults.limits);
        let mib = |bytes: u64| bytes >> 20;
        if limits.cpu != usual.cpu {
            words.push(format!("--max-case-cpu {}", limits.cpu.as_secs_f64()));
        }
        for (flag, given, default) in [
            (
                "--max-memory-jump",
                mib(limits.memory_jump),
                mib(usual.memory_jump),
            ),
            (
                "--max-memory-growth",
                mib(limits.memory_growth),
                mib(usual.memory_growth),
            ),
            ("--max-fd-growth", limits.fd_growth, usual.fd_growth),
        ] {
            if given != default {
                words.push(format!("{flag} {given}"));
            }
        }
        // `--case N` reproduces a case whatever part it was in: no --partition in the command.
        if settings.clients > 1 {
            words.push(format!("--clients {}", settings.clients));
        }
        if settings.timing.timeout != defaults.timing.timeout {
            words.push(format!(
                "--timeout {}",
                settings.timing.timeout.as_secs_f64()
            ));
        }
        words.join(" ")
    }

    /// The target as this campaign reaches it, its credentials and trust put together; with
    /// `{port}` replaced by `port`.
    fn resolve(&self, port: &str) -> Result<Target, Error> {
        let url = self.url.replace(PORT, port);
        let mut target = Target::resolve(&url, self.spec.as_ref()).map_err(Error::Setup)?;
        target.credentials = self
            .access
            .credentials(self.spec.as_ref())
            .map_err(Error::Setup)?;
        // The site the server serves is on the port it was started on.
        if let Some(origin) = &mut target.credentials.origin {
            *origin = origin.replace(PORT, port);
        }
        if let Some((ca_file, insecure)) = &self.tls {
            if target.tls.is_none() {
                return Err(Error::Setup(
                    "--ca-file and --insecure are for wss:// URLs".into(),
                ));
            }
            target.tls =
                Some(crate::tls::config(ca_file.as_deref(), *insecure).map_err(Error::Setup)?);
        }
        Ok(target)
    }

    /// The target the campaign would play against, as it would reach it.
    pub fn target(&self) -> Result<Target, Error> {
        self.resolve(&self.port()?)
    }

    /// The port `{port}` stands for: a free one, when the target is one wsfuzz starts.
    fn port(&self) -> Result<String, Error> {
        if self
            .spawn
            .as_ref()
            .is_some_and(|(c, _)| c.trim().is_empty())
        {
            return Err(Error::Setup("--spawn needs a command".into()));
        }
        let origin = self.access.origin.as_deref().unwrap_or_default();
        let spawn = self
            .spawn
            .as_ref()
            .map_or("", |(command, _)| command.as_str());
        if ![self.url.as_str(), spawn, origin]
            .iter()
            .any(|s| s.contains(PORT))
        {
            return Ok(String::new());
        }
        if self.spawn.is_none() {
            return Err(Error::Setup(format!(
                "{PORT} in the URL needs --spawn, which picks the port"
            )));
        }
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port().to_string())
            .map_err(|e| Error::Setup(format!("cannot find a free port for {PORT}: {e}")))
    }

    /// Runs the campaign to its end. Findings that cannot be saved are warned about on
    /// standard error; the report still holds them.
    pub async fn run(mut self) -> Result<Report, Error> {
        self.settings.command = self.command();
        let port = self.port()?;
        let target = self.resolve(&port)?;
        self.settings.spawn = self.spawn.as_ref().map(|(command, startup)| Spawn {
            command: command.replace(PORT, &port),
            address: target.authority(),
            startup: *startup,
        });
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
        let report = run(&target, &self.settings, &mut reporters)
            .await
            .map_err(|Unreachable(e)| Error::Unreachable(e))?;
        match reporters.problems().into_iter().next() {
            Some(problem) => Err(Error::Output(problem)),
            None => Ok(report),
        }
    }
}

/// How long a target wsfuzz starts may take to accept connections, unless told otherwise.
pub const DEFAULT_STARTUP: Duration = Duration::from_secs(10);

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
