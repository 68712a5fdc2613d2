//! Servers that attack their client: against each, a campaign ends within its time, wsfuzz's memory stays bounded, and the report is written whole.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::hostile::{self, Attack};

/// The bound on wsfuzz's resident memory against any server.
const MEMORY_BOUND_MIB: f64 = 256.0;
/// How far past `--time` a campaign may end, shrinking and reports included.
const TIME_SLACK: Duration = Duration::from_secs(5);
/// The campaign's time against each attack.
const TIME: u64 = 8;

/// How a run of the wsfuzz binary went, measured from outside.
struct Measured {
    code: Option<i32>,
    wall: Duration,
    peak_rss_mib: f64,
    stdout: String,
    stderr: String,
}

/// Runs `wsfuzz` with `args` in `dir`, and measures its wall time and peak resident memory
/// (the kernel's own account, read when the process is reaped). A run still going at `kill`
/// is killed, so a hang fails the test instead of holding it. `WSFUZZ_MEASURED` names another
/// build to measure instead, such as an earlier release.
fn measured(dir: &std::path::Path, args: &[String], kill: Duration) -> Measured {
    let binary = std::env::var("WSFUZZ_MEASURED")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_wsfuzz").to_string());
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let started = Instant::now();
    let child = Command::new(binary)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("wsfuzz starts");
    let pid = child.id() as libc::pid_t;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if started.elapsed() > kill {
                    // SAFETY: the child is not reaped until wait4 below returns.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, reaped here only once; std's handle is never waited on.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    watchdog.join().unwrap();
    assert_eq!(reaped, pid, "wsfuzz is reaped");
    std::mem::forget(child);
    Measured {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        wall,
        // ru_maxrss is in KiB on Linux.
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        stdout: std::fs::read_to_string(out).unwrap_or_default(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wsfuzz-hostile-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The default campaign, timed, against a server making `attack`.
async fn against(attack: Attack) {
    let addr = hostile::start(attack).await;
    let dir = temp(&format!("{attack:?}"));
    let json = dir.join("report.json");
    let mut args: Vec<String> = [
        "fuzz",
        &format!("ws://{addr}"),
        "--time",
        &TIME.to_string(),
        "--seed",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A spec that promises replies: against a server that gives none, every case fails and
    // shrinking each failure would take all the time there is.
    if attack == Attack::Silent {
        args.extend([
            "--spec".into(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/specs/jsonrpc.asyncapi.yaml").into(),
        ]);
    }
    let bound = Duration::from_secs(TIME) + TIME_SLACK;
    let run = tokio::task::spawn_blocking(move || measured(&dir, &args, bound * 4))
        .await
        .unwrap();
    eprintln!(
        "{attack:?}: exit {:?} in {:.1} s, peak RSS {:.0} MiB",
        run.code,
        run.wall.as_secs_f64(),
        run.peak_rss_mib
    );
    assert!(
        run.wall <= bound,
        "{attack:?}: ran {:.1} s, past --time {TIME} by more than {} s\n{}",
        run.wall.as_secs_f64(),
        TIME_SLACK.as_secs(),
        run.stderr
    );
    assert!(
        run.peak_rss_mib < MEMORY_BOUND_MIB,
        "{attack:?}: peak RSS {:.0} MiB",
        run.peak_rss_mib
    );
    assert!(
        matches!(run.code, Some(0 | 1 | 3)),
        "{attack:?}: exit {:?}\n{}",
        run.code,
        run.stderr
    );
    if run.code != Some(3) {
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
            .unwrap_or_else(|e| panic!("{attack:?}: the JSON report is whole: {e}"));
        assert!(report["stats"]["cases"].as_u64().is_some(), "{attack:?}");
        assert!(run.stdout.contains("cases"), "{attack:?}: {}", run.stdout);
    }
}

/// Serves the attack named by `WSFUZZ_ATTACK` on `WSFUZZ_TEST_PORT` for ten minutes, to try
/// wsfuzz against it by hand:
/// `WSFUZZ_ATTACK=PingFlood WSFUZZ_TEST_PORT=9001 cargo test --test hostile serve -- --ignored`.
#[tokio::test]
#[ignore]
async fn serve() {
    let (Ok(name), Ok(port)) = (
        std::env::var("WSFUZZ_ATTACK"),
        std::env::var("WSFUZZ_TEST_PORT"),
    ) else {
        return;
    };
    let attack = Attack::named(&name).expect("an attack");
    let addr = format!("127.0.0.1:{port}").parse().expect("a port");
    hostile::start_on(addr, attack).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
}

macro_rules! attacks {
    ($($name:ident: $attack:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            against(Attack::$attack).await;
        }
    )*};
}

attacks! {
    an_endless_fragmented_message: EndlessMessage,
    an_endless_frame: EndlessFrame,
    endless_messages: EndlessMessages,
    a_ping_flood: PingFlood,
    a_half_open_socket: HalfOpen,
    a_close_reason_that_is_not_utf8: BadCloseReason,
    a_message_dripped_byte_by_byte: Drip,
    a_server_that_answers_nothing: Silent,
}

/// A campaign stopped by `signal` three seconds in: it ends within 2 s, exits 128 plus the
/// signal's number, writes every report whole, says it was interrupted, and leaves no target.
async fn stopped_by(signal: libc::c_int, name: &'static str, code: i32) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let dir = temp(name);
    let target = format!(
        "WSFUZZ_ATTACK=Silent WSFUZZ_TEST_PORT={port} exec '{}' serve --exact --ignored --nocapture",
        std::env::current_exe().unwrap().display()
    );
    let args: Vec<String> = vec![
        "fuzz".into(),
        format!("ws://127.0.0.1:{port}"),
        "--spawn".into(),
        target,
        "--time".into(),
        "60".into(),
        "--json".into(),
        "report.json".into(),
        "--junit".into(),
        "report.xml".into(),
        "--html".into(),
        "report.html".into(),
    ];
    let signalled = dir.clone();
    let run = tokio::task::spawn_blocking(move || {
        let binary = env!("CARGO_BIN_EXE_wsfuzz");
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(&args)
            .current_dir(&signalled)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(signalled.join("stdout")).unwrap())
            .stderr(std::fs::File::create(signalled.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(3));
        // SAFETY: kill only sends a signal to our own child, not yet reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let sent = Instant::now();
        let deadline = sent + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{name}: wsfuzz still running 30 s after the signal");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, sent.elapsed(), started.elapsed())
    });
    let (status, after_signal, wall) = run.await.unwrap();
    let stdout = std::fs::read_to_string(dir.join("stdout")).unwrap();
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap();
    eprintln!(
        "{name}: exit {:?} {:.2} s after the signal ({:.1} s in all)",
        status.code(),
        after_signal.as_secs_f64(),
        wall.as_secs_f64()
    );
    assert_eq!(status.code(), Some(code), "{name}\n{stdout}\n{stderr}");
    assert!(
        after_signal <= Duration::from_secs(2),
        "{name}: {:.2} s after the signal",
        after_signal.as_secs_f64()
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap())
            .expect("the JSON report is whole");
    let cases = report["stats"]["cases"].as_u64().unwrap();
    assert_eq!(report["interrupted"]["signal"], name);
    assert_eq!(report["interrupted"]["cases"].as_u64(), Some(cases));
    let said = format!("interrupted after {cases} cases");
    assert!(
        report["stopped"]
            .as_str()
            .is_some_and(|s| s.starts_with(&said)),
        "{}",
        report["stopped"]
    );
    assert!(stdout.contains(&said), "{stdout}");
    support::readers::assert_valid_junit(&dir.join("report.xml"));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.trim_end().ends_with("</html>"),
        "the HTML report is whole"
    );
    // The target started for the campaign is gone with it.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "{name}: the target still accepts connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_the_campaign_cleanly() {
    stopped_by(libc::SIGINT, "SIGINT", 130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_campaign_cleanly() {
    stopped_by(libc::SIGTERM, "SIGTERM", 143).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_stops_the_campaign_cleanly() {
    stopped_by(libc::SIGHUP, "SIGHUP", 129).await;
}
