//! The programs that read wsfuzz's reports in the wild, run on them in tests: a JUnit schema validator and a headless browser.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The JUnit report format, as CI dashboards read it.
const JUNIT_XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/junit.xsd");

/// Runs `program`; a missing program is a failed test that says what to install. Its output
/// goes to files, so a chatty program never blocks on a full pipe.
fn run_program(program: &str, package: &str, args: &[&str]) -> std::process::Output {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let number = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base =
        std::env::temp_dir().join(format!("wsfuzz-{program}-{}-{number}", std::process::id()));
    let (out_path, err_path) = (base.with_extension("out"), base.with_extension("err"));
    let file = |path: &Path| std::fs::File::create(path).expect("a file for the output");
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(file(&out_path))
        .stderr(file(&err_path))
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program} ({e}): install Debian's `{package}` package (.ci/run does)"
            )
        });
    // Bounded: a browser that hangs fails the test instead of holding it.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{program} did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |path: &Path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        let _ = std::fs::remove_file(path);
        bytes
    };
    std::process::Output {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// Asserts that `path` validates against the JUnit schema.
pub fn assert_valid_junit(path: &Path) {
    let file = path.display().to_string();
    let output = run_program(
        "xmllint",
        "libxml2-utils",
        &["--noout", "--schema", JUNIT_XSD, &file],
    );
    assert!(
        output.status.success(),
        "{file} does not validate against the JUnit schema:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The document headless Chromium builds from the HTML file at `path` (offline: no network).
pub fn browser_dom(path: &Path) -> String {
    let url = format!(
        "file://{}",
        path.canonicalize().expect("the page exists").display()
    );
    // A profile of its own for each run: two browsers cannot share one.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let number = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("wsfuzz-chromium-{}-{number}", std::process::id()));
    let profile = format!("--user-data-dir={}", dir.display());
    let output = run_program(
        "chromium",
        "chromium",
        &[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--proxy-server=127.0.0.1:9",
            &profile,
            "--dump-dom",
            &url,
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
