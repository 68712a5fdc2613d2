//! A target wsfuzz starts itself: spawned in a process group of its own, awaited, watched for exits and panics, measured, restarted.

mod usage;

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use regex::Regex;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

pub use usage::Usage;

/// How to start the target.
#[derive(Clone, Debug)]
pub struct Spawn {
    /// A shell command line, with `{port}` already replaced.
    pub command: String,
    /// `host:port` the target must accept TCP connections on once started.
    pub address: String,
    /// How long the target may take to start accepting connections.
    pub startup: Duration,
}

/// Lines of output kept, and shown with a finding.
const KEPT_LINES: usize = 400;
const SHOWN_LINES: usize = 16;
/// Longest output line kept; the rest of a longer one is cut off.
const LINE_BYTES: usize = 2048;
/// How often the process group is scanned for members (a worker may fork later).
const RESCAN: Duration = Duration::from_secs(1);

/// The started target's cost, read as a case runs: what its process group has used so far.
/// It follows the target through restarts; with no target started it reads nothing.
#[derive(Clone, Debug, Default)]
pub struct Meter(Arc<std::sync::atomic::AtomicU32>);

impl Meter {
    /// The group's usage now, or `None` with no target started.
    pub fn read(&self) -> Option<Usage> {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            group => Some(usage::read(&usage::members(group))),
        }
    }

    fn follow(&self, group: u32) {
        self.0.store(group, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How a target process ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Exit {
    /// "was killed by signal 11 (SIGSEGV)", "exited with code 1".
    pub status: String,
    /// The last lines it wrote, stdout and stderr interleaved.
    pub tail: Vec<String>,
}

/// The running target.
pub struct Watched {
    spawn: Spawn,
    child: Child,
    /// The process group: the pid of the process spawned.
    group: u32,
    output: Arc<Mutex<Output>>,
    members: Vec<u32>,
    scanned: Instant,
    /// Whether the last reset of the peak memory took; if not, the peak is the all-time one.
    peak_reset: bool,
    /// How many times the target was started.
    pub starts: u32,
    /// Its cost, for the runner to read while a case runs.
    pub meter: Meter,
}

/// What the target wrote, shared with the tasks that read its pipes.
#[derive(Default)]
struct Output {
    /// The last lines, with their numbers.
    kept: VecDeque<(u64, String)>,
    /// Lines written so far.
    lines: u64,
    /// Lines that say the target panicked or raised, with their line numbers.
    alarms: Vec<(u64, String)>,
    /// Pipes still being read: their last lines may be on the way.
    open_pipes: usize,
}

impl Watched {
    /// Starts the target and waits until it accepts connections.
    pub async fn start(spawn: Spawn) -> Result<Watched, String> {
        vacant(&spawn.address).await?;
        let output = Arc::new(Mutex::new(Output::default()));
        let (child, group) = launch(&spawn, &output)?;
        let mut watched = Watched {
            spawn,
            child,
            group,
            output,
            members: vec![group],
            scanned: Instant::now(),
            peak_reset: false,
            starts: 1,
            meter: Meter::default(),
        };
        watched.meter.follow(group);
        watched.until_ready().await?;
        Ok(watched)
    }

    /// Kills the target (its whole process group) and starts it afresh.
    pub async fn restart(&mut self) -> Result<(), String> {
        self.kill().await;
        // The shell is reaped, but the server it started may still hold its port a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        while vacant(&self.spawn.address).await.is_err() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        vacant(&self.spawn.address).await?;
        let (child, group) = launch(&self.spawn, &self.output)?;
        self.child = child;
        self.group = group;
        self.meter.follow(group);
        self.members = vec![group];
        self.scanned = Instant::now();
        self.starts += 1;
        self.until_ready().await
    }

    async fn until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + self.spawn.startup;
        loop {
            if let Some(exit) = self.exited().await {
                return Err(format!(
                    "the target {} before accepting connections{}",
                    exit.status,
                    last_words(&exit.tail)
                ));
            }
            let attempt = tokio::net::TcpStream::connect(self.spawn.address.as_str());
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), attempt).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the target accepted no connection on {} within {} s{}",
                    self.spawn.address,
                    self.spawn.startup.as_secs_f64(),
                    last_words(&self.tail())
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How the target ended, if it has, with its last words once its pipes are read.
    pub async fn exited(&mut self) -> Option<Exit> {
        let status = self.child.try_wait().ok()??;
        // A child of the target may hold the pipes open: the wait is bounded.
        let deadline = Instant::now() + Duration::from_millis(300);
        while lock(&self.output).open_pipes > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Some(Exit {
            status: describe(status),
            tail: self.tail(),
        })
    }

    /// Waits up to `wait` for the target to end: a crash may come a moment after the input that caused it.
    pub async fn exit_within(&mut self, wait: Duration) -> Option<Exit> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(exit) = self.exited().await {
                return Some(exit);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The number of output lines so far, to ask later what came after.
    pub fn mark(&self) -> u64 {
        lock(&self.output).lines
    }

    /// Panic and traceback lines written since `mark`.
    pub fn alarms_since(&self, mark: u64) -> Vec<String> {
        let output = lock(&self.output);
        output
            .alarms
            .iter()
            .filter(|(line, _)| *line >= mark)
            .map(|(_, text)| text.clone())
            .collect()
    }

    /// The last lines the target wrote.
    pub fn tail(&self) -> Vec<String> {
        let output = lock(&self.output);
        let from = output.kept.len().saturating_sub(SHOWN_LINES);
        output
            .kept
            .iter()
            .skip(from)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// What to show of a target that failed after `mark`: its first panic or traceback since
    /// then if it wrote one, else its last lines.
    pub fn last_words(&self, mark: u64) -> Vec<String> {
        let context = self.alarm_context(mark);
        if context.is_empty() {
            self.tail()
        } else {
            context
        }
    }

    /// The lines from the first panic or traceback line written since `mark`: the message
    /// and the top of the stack.
    pub fn alarm_context(&self, mark: u64) -> Vec<String> {
        let output = lock(&self.output);
        let Some(&(first, _)) = output.alarms.iter().find(|(n, _)| *n >= mark) else {
            return Vec::new();
        };
        output
            .kept
            .iter()
            .filter(|(n, _)| *n >= first)
            .take(SHOWN_LINES)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// What the target's processes use now. Where the peak memory cannot be reset, the peak
    /// is the resident memory now, so an old peak cannot pass for a new one.
    pub fn usage(&mut self) -> Usage {
        if self.scanned.elapsed() >= RESCAN {
            self.members = usage::members(self.group);
            self.scanned = Instant::now();
        }
        let mut usage = usage::read(&self.members);
        if !self.peak_reset {
            usage.peak = usage.rss;
        }
        usage
    }

    /// Starts a new peak-memory measurement.
    pub fn reset_peak(&mut self) {
        self.peak_reset = usage::reset_peaks(&self.members);
    }

    /// Stops the target: SIGTERM to its group, then SIGKILL if it lingers.
    pub async fn stop(mut self) {
        signal_group(self.group, libc::SIGTERM);
        // Short: a campaign stopped by a signal has two seconds to be gone.
        if tokio::time::timeout(Duration::from_secs(1), self.child.wait())
            .await
            .is_err()
        {
            self.kill().await;
        }
    }

    async fn kill(&mut self) {
        signal_group(self.group, libc::SIGKILL);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // Never leave a target behind, whatever way the campaign ended.
        signal_group(self.group, libc::SIGKILL);
    }
}

/// Fails if something already accepts connections on `address`: the target's readiness would
/// be that other process's.
async fn vacant(address: &str) -> Result<(), String> {
    let attempt = tokio::net::TcpStream::connect(address);
    match tokio::time::timeout(Duration::from_millis(500), attempt).await {
        Ok(Ok(_)) => Err(format!(
            "something already accepts connections on {address}; stop it or pick another port"
        )),
        _ => Ok(()),
    }
}

fn signal_group(group: u32, signal: i32) {
    // SAFETY: killpg only sends a signal; the group is one this process created.
    unsafe {
        libc::killpg(group as libc::pid_t, signal);
    }
}

fn lock(output: &Mutex<Output>) -> MutexGuard<'_, Output> {
    output
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Spawns the command through `sh -c` in a new process group, its output read into `output`.
fn launch(spawn: &Spawn, output: &Arc<Mutex<Output>>) -> Result<(Child, u32), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&spawn.command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", spawn.command))?;
    let group = child
        .id()
        .ok_or_else(|| format!("`{}` ended at once", spawn.command))?;
    if let Some(stdout) = child.stdout.take() {
        lock(output).open_pipes += 1;
        tokio::spawn(read_lines(stdout, output.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        lock(output).open_pipes += 1;
        tokio::spawn(read_lines(stderr, output.clone()));
    }
    Ok((child, group))
}

/// Reads a pipe line by line into `output`, with bounded memory whatever the target writes.
async fn read_lines(mut pipe: impl AsyncRead + Unpin, output: Arc<Mutex<Output>>) {
    let mut buffer = [0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let mut cut = false;
    loop {
        let n = match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &byte in &buffer[..n] {
            if byte == b'\n' {
                keep(&output, &line);
                line.clear();
                cut = false;
            } else if line.len() < LINE_BYTES {
                line.push(byte);
            } else if !cut {
                cut = true;
                line.extend_from_slice("…".as_bytes());
            }
        }
    }
    if !line.is_empty() {
        keep(&output, &line);
    }
    lock(&output).open_pipes -= 1;
}

fn keep(output: &Mutex<Output>, line: &[u8]) {
    let text = String::from_utf8_lossy(line)
        .trim_end_matches('\r')
        .to_string();
    let mut output = lock(output);
    let number = output.lines;
    output.lines += 1;
    if is_alarm(&text) && output.alarms.len() < 1000 {
        output.alarms.push((number, text.clone()));
    }
    if output.kept.len() == KEPT_LINES {
        output.kept.pop_front();
    }
    output.kept.push_back((number, text));
}

/// Whether a line says the program panicked, raised, or hit a fatal error: Rust, Python, Go,
/// Node.js, the JVM, sanitizers.
pub fn is_alarm(line: &str) -> bool {
    static ALARMS: OnceLock<Regex> = OnceLock::new();
    ALARMS
        .get_or_init(|| {
            Regex::new(concat!(
                r"panicked at |^Traceback \(most recent call last\):|^panic: |^fatal error: |",
                r"^goroutine \d+ \[running\]:|^FATAL ERROR: |UnhandledPromiseRejection|",
                r"^Uncaught \w*(Error|Exception)|^Exception in thread |^ERROR: \w+Sanitizer|",
                r"^Segmentation fault|Unhandled '\w+' event"
            ))
            .expect("the alarm pattern compiles")
        })
        .is_match(line)
}

fn describe(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name = match signal {
            libc::SIGSEGV => " (SIGSEGV)",
            libc::SIGABRT => " (SIGABRT)",
            libc::SIGKILL => " (SIGKILL)",
            libc::SIGBUS => " (SIGBUS)",
            libc::SIGILL => " (SIGILL)",
            libc::SIGFPE => " (SIGFPE)",
            libc::SIGTERM => " (SIGTERM)",
            _ => "",
        };
        return format!("was killed by signal {signal}{name}");
    }
    match status.code() {
        // A shell reports a child killed by signal N as 128 + N.
        Some(code) if code > 128 && code < 160 => {
            format!(
                "exited with code {code} (signal {} in its shell)",
                code - 128
            )
        }
        Some(code) => format!("exited with code {code}"),
        None => "ended".into(),
    }
}

/// The tail of the target's output for an error message: its last few lines, on one line.
fn last_words(tail: &[String]) -> String {
    let lines: Vec<&str> = tail
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .map(String::as_str)
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        let shown: Vec<&str> = lines.into_iter().rev().collect();
        format!("; it wrote: {}", shown.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_and_tracebacks_are_alarms() {
        for line in [
            "thread 'tokio-runtime-worker' panicked at src/main.rs:10:5:",
            "Traceback (most recent call last):",
            "panic: runtime error: index out of range [3] with length 3",
            "goroutine 1 [running]:",
            "FATAL ERROR: Reached heap limit Allocation failed",
            "Exception in thread \"main\" java.lang.NullPointerException",
            "ERROR: AddressSanitizer: heap-use-after-free on address",
            "[UnhandledPromiseRejection: This error originated either by throwing",
            "      throw er; // Unhandled 'error' event",
        ] {
            assert!(is_alarm(line), "{line}");
        }
        for line in [
            "INFO: connection open",
            "listening on 127.0.0.1:8081",
            "client sent an invalid frame; closing with 1002",
            "the word panic in a message",
        ] {
            assert!(!is_alarm(line), "{line}");
        }
    }

    #[tokio::test]
    async fn a_target_that_never_listens_is_reported_with_its_last_words() {
        let spawn = Spawn {
            command: "echo starting up; echo 'cannot bind: address in use' >&2; exit 3".into(),
            address: "127.0.0.1:1".into(),
            startup: Duration::from_secs(5),
        };
        let Err(error) = Watched::start(spawn).await else {
            panic!("it never listens, so it cannot have started")
        };
        assert!(error.contains("exited with code 3"), "{error}");
        assert!(error.contains("cannot bind"), "{error}");
    }

    #[tokio::test]
    async fn stopping_a_target_ends_its_whole_group() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        // The shell forks a sleeper that holds the group open, and a listener stands in for the server.
        let listen = format!(
            "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(30)"
        );
        let spawn = Spawn {
            command: format!("sleep 30 & exec python3 -c \"{listen}\""),
            address: format!("127.0.0.1:{port}"),
            startup: Duration::from_secs(10),
        };
        let mut watched = Watched::start(spawn).await.expect("it starts");
        tokio::time::sleep(RESCAN).await;
        let group = watched.group;
        assert!(watched.usage().processes >= 2, "{:?}", watched.usage());
        watched.stop().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            usage::members(group).is_empty(),
            "the group outlived stop()"
        );
    }

    #[tokio::test]
    async fn a_port_already_taken_is_refused_before_starting() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let spawn = Spawn {
            command: "sleep 30".into(),
            address: listener.local_addr().unwrap().to_string(),
            startup: Duration::from_secs(5),
        };
        let Err(error) = Watched::start(spawn).await else {
            panic!("another process's port is not the target's")
        };
        assert!(
            error.contains("something already accepts connections"),
            "{error}"
        );
    }
}
