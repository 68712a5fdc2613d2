//! Command-line flags, turned into validated settings before any work starts.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::campaign::{Campaign, Settings};
use crate::case::Layer;
use crate::checks::process::Limits;
use crate::checks::Check;
use crate::credentials;
use crate::spec::Spec;

#[derive(Parser, Debug)]
#[command(
    name = "wsfuzz",
    version,
    about = "Property-based fuzzer for WebSocket APIs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size of the largest variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a property-based campaign against a WebSocket server.
    ///
    /// Flags are read from ./wsfuzz.toml first (its [fuzz] table), if there is one; the
    /// command line overrides them.
    Fuzz(FuzzArgs),
    /// Run the reference Prompt Manager server.
    Serve {
        #[arg(long, default_value_t = 8081)]
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
    },
    /// Connect by hand: print what the server sends, send what you type (or --send).
    Connect(ConnectArgs),
    /// Replay saved findings (a file, or a directory of them) and say which are fixed.
    Replay(ReplayArgs),
    /// Join the JSON reports of a campaign's parts (--partition) into one; exit 1 if it has findings.
    Merge {
        /// The parts' reports (from --json).
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Write the merged report here instead of to standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List every check: its level, the layers whose cases it judges, and what it verifies.
    Checks,
    /// Start the reference server on a free port and run a campaign against it.
    Demo {
        #[arg(long, default_value_t = 300)]
        cases: u64,
        #[arg(long)]
        seed: Option<u64>,
    },
}

/// What it takes to get in: credentials and TLS trust, shared by `fuzz` and `replay`.
#[derive(Args, Debug, Clone, Default)]
pub struct Access {
    /// A header sent with every handshake (`Authorization: Bearer ...`); repeatable. Its value
    /// never appears in reports, saved cases or scripts.
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// A cookie sent with every handshake (`session=...`); repeatable, secret like --header.
    #[arg(long = "cookie", value_name = "NAME=VALUE")]
    pub cookies: Vec<String>,
    /// A query parameter added to every URL connected to (`token=...`); repeatable, secret.
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub queries: Vec<String>,
    /// A token, sent where the spec's security scheme says (a header, the query, a cookie),
    /// else as `Authorization: Bearer TOKEN`; secret.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// A subprotocol to ask for (`Sec-WebSocket-Protocol`); repeatable.
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Vec<String>,
    /// For wss://: trust the certificates in this PEM file (a private CA's, a test server's).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// For wss://: accept any certificate, self-signed or not (test servers only).
    #[arg(long)]
    pub insecure: bool,
    /// The Origin of the site the server serves; a foreign one must then be refused (default:
    /// the spec's `x-wsfuzz-origin`, if any).
    #[arg(long, value_name = "URL")]
    pub origin: Option<String>,
}

#[derive(Args, Debug)]
pub struct FuzzArgs {
    /// ws://HOST:PORT (every channel of the spec) or a full endpoint URL (that one).
    pub url: String,
    /// AsyncAPI 3.0 or 2.x file (YAML or JSON) describing the protocol.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Read flags from this file's [fuzz] table instead of ./wsfuzz.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How many cases to run (default: 500, or as many as --time allows).
    #[arg(long)]
    pub cases: Option<u64>,
    /// Stop after this many seconds; without --cases, run for all of them.
    #[arg(long, value_name = "SECS")]
    pub time: Option<f64>,
    /// Seed for the generators: the same seed gives the same cases.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only this case number of the seed (as printed by a finding).
    #[arg(long = "case", value_name = "N")]
    pub only_case: Option<u64>,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the report as JUnit XML to this file: a test case per check and channel.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the findings as one HTML page, with each one's transcript, readable offline.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write events as JSON Lines while the campaign runs: started, case, shrinking, finding, finished.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Seconds to wait for a connection, a reply or a close.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub timeout: f64,
    /// Most replays spent shrinking one finding.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub shrink_attempts: usize,
    /// Seconds to wait for a target that stopped answering before ending the campaign.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub recover: f64,
    /// Layers to draw cases from: messages, frames, handshake, disconnect, clients (default: all).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = layer)]
    pub layers: Vec<Layer>,
    /// Where findings are saved as cases, and replayed from before any new case.
    #[arg(long, value_name = "DIR", default_value = crate::regressions::DEFAULT_DIR)]
    pub regressions: PathBuf,
    /// Neither replay saved cases nor save new findings.
    #[arg(long)]
    pub no_regressions: bool,
    /// Play only part M of N of the campaign's cases (case i is in part i % N + 1), to split
    /// one campaign across machines; `wsfuzz merge` joins their JSON reports.
    #[arg(long, value_name = "M/N", value_parser = crate::campaign::Partition::parse)]
    pub partition: Option<crate::campaign::Partition>,
    /// Connections played at once, each with a case of its own, to find races.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub clients: u16,
    /// Cases played at once, each on resources (channel and parameters) of its own; 1 with
    /// --spawn. Default: the cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Start the target with this shell command, watch it for crashes, panics and resource
    /// use, and restart it after a crash. `{port}` in it (and in the URL) becomes a free port.
    #[arg(long, value_name = "CMD")]
    pub spawn: Option<String>,
    #[command(flatten)]
    pub access: Access,
    /// Seconds a spawned target may take to accept connections.
    #[arg(long, value_name = "SECS", default_value_t = crate::campaign::DEFAULT_STARTUP.as_secs_f64())]
    pub startup: f64,
    /// CPU seconds one case may cost a spawned target (or 20 times the median case, if more).
    #[arg(long, value_name = "SECS", default_value_t = 0.5)]
    pub max_case_cpu: f64,
    /// MiB by which one case may raise a spawned target's peak resident memory.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub max_memory_jump: u64,
    /// MiB by which a spawned target's resident memory may grow over the campaign.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub max_memory_growth: u64,
    /// Open descriptors by which a spawned target may grow over the campaign.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_fd_growth: u64,
    /// Run only these checks (comma-separated names; `wsfuzz checks` lists them).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = check)]
    pub checks: Vec<&'static Check>,
    /// Run every check but these.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = check)]
    pub exclude_checks: Vec<&'static Check>,
    /// Fail the run (exit 1) on warnings too, not only on errors.
    #[arg(long)]
    pub strict: bool,
    /// Shrink saved cases that fail again (they were minimal when saved, so by default they
    /// are only replayed).
    #[arg(long)]
    pub shrink: bool,
}

fn check(name: &str) -> Result<&'static Check, String> {
    crate::checks::named(name.trim())
        .ok_or_else(|| format!("`{name}` is not a check (`wsfuzz checks` lists them)"))
}

fn layer(name: &str) -> Result<Layer, String> {
    Layer::ALL
        .into_iter()
        .find(|l| l.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = Layer::ALL.iter().map(|l| l.name()).collect();
            format!("`{name}` is not a layer ({})", names.join(", "))
        })
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A saved case, or a directory of them (as `fuzz` writes to --regressions).
    pub path: PathBuf,
    /// The server to replay against (default: the URL the cases were found on).
    pub url: Option<String>,
    /// The spec to judge by (default: the one the cases were found with).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Start the target with this command, as for `fuzz` (needed for crash and resource findings).
    #[arg(long, value_name = "CMD")]
    pub spawn: Option<String>,
    /// Seconds to wait for a connection, a reply or a close.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub timeout: f64,
    /// Shrink the cases that fail again (by default they are replayed as saved).
    #[arg(long)]
    pub shrink: bool,
    #[command(flatten)]
    pub access: Access,
}

impl ReplayArgs {
    /// The `fuzz` flags that replay these saved cases and run no new one.
    pub fn as_fuzz(&self) -> Result<FuzzArgs, Misuse> {
        let saved = crate::regressions::load(&self.path).map_err(Misuse)?;
        let first = saved.first().map(|s| &s.regression).ok_or_else(|| {
            Misuse(format!(
                "{}: no saved cases (wsfuzz-*.json) there",
                self.path.display()
            ))
        })?;
        let url = self.url.clone().unwrap_or_else(|| first.target.clone());
        let mut words: Vec<String> = vec![
            "wsfuzz".into(),
            "fuzz".into(),
            url,
            "--cases".into(),
            "0".into(),
        ];
        let spec = self
            .spec
            .as_ref()
            .map(|p| p.display().to_string())
            .or_else(|| first.spec.clone());
        if let Some(spec) = spec {
            words.extend(["--spec".into(), spec]);
        }
        if let Some(spawn) = &self.spawn {
            words.extend(["--spawn".into(), spawn.clone()]);
        }
        if self.shrink {
            words.push("--shrink".into());
        }
        words.extend([
            "--timeout".into(),
            self.timeout.to_string(),
            "--regressions".into(),
            self.path.display().to_string(),
            "--seed".into(),
            first.seed.to_string(),
        ]);
        match Cli::try_parse_from(words) {
            Ok(Cli {
                command: Command::Fuzz(mut args),
            }) => {
                // Credentials and trust pass through as they are, never through a command line.
                args.access = self.access.clone();
                Ok(args)
            }
            Ok(_) => Err(Misuse("cannot build the replay's flags".into())),
            Err(e) => Err(Misuse(
                e.to_string().lines().next().unwrap_or_default().to_string(),
            )),
        }
    }
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// The endpoint's URL (or build it with --type, --id/--path and --port).
    pub url: Option<String>,
    /// `generic` (with --path) or a channel of the spec (with --id for its parameter).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    #[arg(long)]
    pub id: Option<String>,
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
    /// Spec whose channels --type names (default: the bundled Prompt Manager spec).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Send this message (repeatable); with --send or --expect the session is a one-shot check.
    #[arg(long, value_name = "MSG")]
    pub send: Vec<String>,
    /// Exit 0 once a message (or the close) matches this regex, 1 if none does.
    #[arg(long, value_name = "PATTERN")]
    pub expect: Option<regex::Regex>,
    /// Seconds to wait for the handshake and for replies after the last message.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub timeout: f64,
}

/// Misuse of wsfuzz: a bad flag value, an unreadable spec, a URL that is not one.
#[derive(Debug)]
pub struct Misuse(pub String);

pub fn seconds(value: f64, flag: &str) -> Result<Duration, Misuse> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Misuse(format!(
                "--{flag} must be a positive number of seconds, not {value}"
            ))
        })
}

pub fn load_spec(path: &std::path::Path) -> Result<Spec, Misuse> {
    Spec::load(path).map_err(|e| Misuse(e.to_string()))
}

impl FuzzArgs {
    /// The credentials these flags give, as flags give them.
    fn access(&self) -> Result<credentials::Access, Misuse> {
        let mut headers = Vec::new();
        for header in &self.access.headers {
            let (name, value) = header.split_once(':').ok_or_else(|| {
                Misuse(format!(
                    "--header `{}` is not `NAME: VALUE`",
                    redacted_name(header, ':')
                ))
            })?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let pairs = |list: &[String], flag: &str| -> Result<Vec<(String, String)>, Misuse> {
            list.iter()
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(n, v)| (n.trim().to_string(), v.to_string()))
                        .ok_or_else(|| {
                            Misuse(format!(
                                "{flag} `{}` is not `NAME=VALUE`",
                                redacted_name(pair, '=')
                            ))
                        })
                })
                .collect()
        };
        Ok(credentials::Access {
            headers,
            cookies: pairs(&self.access.cookies, "--cookie")?,
            query: pairs(&self.access.queries, "--query")?,
            token: self.access.token.clone(),
            subprotocols: self.access.subprotocols.clone(),
            origin: self.access.origin.clone(),
        })
    }

    /// The campaign these flags ask for: the library's own builder, so that flags, the
    /// config file and code all set a campaign up the same way.
    pub fn campaign(&self) -> Result<Campaign, Misuse> {
        let setup = |e: crate::campaign::Error| Misuse(e.to_string());
        let mut campaign = Campaign::new(&self.url)
            .access(self.access()?)
            .cases(match (self.cases, self.time) {
                (Some(cases), _) => cases,
                (None, Some(_)) => Settings::UNTIL_TIME,
                (None, None) => Settings::default().cases,
            })
            .seed(self.seed.unwrap_or_else(random_seed))
            .layers(&self.layers)
            .timeout(seconds(self.timeout, "timeout")?)
            .clients(usize::from(self.clients))
            .jobs(self.jobs.map_or_else(Settings::cores, usize::from))
            .checks(&self.checks)
            .exclude_checks(&self.exclude_checks)
            .strict(self.strict);
        if let Some(spec) = &self.spec {
            campaign = campaign.spec_file(spec).map_err(setup)?;
        }
        if let Some(time) = self.time {
            campaign = campaign.time(seconds(time, "time")?);
        }
        if let Some(command) = &self.spawn {
            campaign = campaign.spawn(command, seconds(self.startup, "startup")?);
        }
        if self.access.ca_file.is_some() || self.access.insecure {
            campaign = campaign.tls(self.access.ca_file.as_deref(), self.access.insecure);
        }
        if !self.no_regressions {
            campaign = campaign.regressions(&self.regressions).map_err(setup)?;
        }
        let settings = campaign.settings_mut();
        settings.only_case = self.only_case;
        settings.shrink.attempts = self.shrink_attempts;
        settings.recover = seconds(self.recover, "recover")?;
        settings.partition = self.partition.unwrap_or(crate::campaign::Partition::WHOLE);
        settings.reshrink = self.shrink;
        settings.limits = Limits {
            cpu: seconds(self.max_case_cpu, "max-case-cpu")?,
            memory_jump: mebibytes(self.max_memory_jump, "max-memory-jump")?,
            memory_growth: mebibytes(self.max_memory_growth, "max-memory-growth")?,
            fd_growth: self.max_fd_growth,
            ..Limits::default()
        };
        // What cannot be set up is said now, before any report is begun.
        campaign.target().map_err(setup)?;
        Ok(campaign)
    }
}

impl ConnectArgs {
    /// The URL to connect to, from the URL itself or from --type and its companions.
    pub fn url(&self) -> Result<String, Misuse> {
        let base = format!("ws://{}:{}", self.host, self.port);
        match (&self.url, self.kind.as_deref()) {
            (Some(url), None) => Ok(url.clone()),
            (Some(_), Some(_)) => Err(Misuse("give either a URL or --type, not both".into())),
            (None, None) => Err(Misuse("give a URL, or --type with --id or --path".into())),
            (None, Some("generic")) => {
                let path = self
                    .path
                    .as_deref()
                    .ok_or_else(|| Misuse("--type generic needs --path".into()))?;
                Ok(format!("{base}/{}", path.trim_start_matches('/')))
            }
            (None, Some(kind)) => {
                let spec = match &self.spec {
                    Some(path) => load_spec(path)?,
                    None => Spec::parse(crate::PROMPT_MANAGER_SPEC, "prompt-manager.asyncapi.yaml")
                        .map_err(|e| Misuse(e.to_string()))?,
                };
                let names: Vec<&str> = spec.channels.iter().map(|c| c.id.as_str()).collect();
                let channel = spec.channel(kind).ok_or_else(|| {
                    Misuse(format!(
                        "--type {kind}: no such channel (generic, {})",
                        names.join(", ")
                    ))
                })?;
                let mut endpoint = crate::case::Endpoint {
                    channel: channel.id.clone(),
                    address: channel.address.clone(),
                    params: Default::default(),
                };
                if let Some(param) = channel.params.first() {
                    let id = self.id.clone().ok_or_else(|| {
                        Misuse(format!("--type {kind} needs --id (its `{}`)", param.name))
                    })?;
                    endpoint.params.insert(param.name.clone(), id);
                }
                Ok(format!("{base}{}", endpoint.path()))
            }
        }
    }
}

/// Mebibytes as bytes, for a flag.
fn mebibytes(value: u64, flag: &str) -> Result<u64, Misuse> {
    value
        .checked_mul(1 << 20)
        .ok_or_else(|| Misuse(format!("--{flag} {value} is more memory than there is")))
}

/// A seed from the clock, for campaigns that do not name one; the report prints it.
fn random_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}

/// The name part of a `NAME: VALUE` or `NAME=VALUE` flag, for errors that must not show the value.
fn redacted_name(flag: &str, separator: char) -> String {
    match flag.split_once(separator) {
        Some((name, _)) => format!("{name}{separator}***"),
        None => "***".into(),
    }
}
