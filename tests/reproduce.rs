//! Standalone reproductions: the script saved with a finding, run with Python alone, shows the flaw on the server that has it and not on one without.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{settings, Flaw};
use wsfuzz::campaign::{Finding, Report, Settings};
use wsfuzz::case::{Layer, Step};
use wsfuzz::regressions::Saver;
use wsfuzz::target::Target;

/// Runs a campaign on `target` and saves its findings (with their scripts) in a fresh directory.
async fn found(target: &Target, settings: &Settings, name: &str) -> (Report, PathBuf) {
    let dir = std::env::temp_dir().join(format!("wsfuzz-reproduce-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut saver = Saver::new(&dir, &target.base, None, target, settings.timing);
    let report = support::run_with(target, settings, &mut saver).await;
    (report, dir)
}

/// The script saved for `finding`.
fn script_of(finding: &Finding) -> PathBuf {
    let path = PathBuf::from(finding.standalone.as_deref().expect("a script was saved"));
    assert_eq!(path.extension().unwrap(), "py");
    path
}

/// What the script prints when run with `python3`, against `url` if given (else where it was found).
async fn run_script(script: &Path, url: Option<String>) -> String {
    let mut command = tokio::process::Command::new("python3");
    command.arg(script).args(url).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the script ends in time")
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the script failed: {stderr}");
    assert!(stderr.is_empty(), "the script complained: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn count(text: &str, what: &str) -> usize {
    text.matches(what).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_finding_replays_with_python_alone() {
    let flawed = support::start(Flaw::Close1011OnWrongType).await;
    let target = Target::resolve(&format!("ws://{flawed}"), Some(&support::spec())).unwrap();
    let (report, dir) = found(&target, &settings(3, 150), "messages").await;
    let finding = report
        .findings
        .iter()
        .find(|f| f.check.name == "no_internal_error")
        .unwrap_or_else(|| panic!("{}", wsfuzz::report::text(&report)));
    let script = script_of(finding);

    let shown = run_script(&script, None).await;
    assert!(shown.contains("<- close 1011"), "{shown}");

    // The same bytes to a server without the flaw get a proper error instead.
    let correct = support::start(Flaw::None).await;
    let shown = run_script(&script, Some(format!("ws://{correct}"))).await;
    assert!(!shown.contains("<- close 1011"), "{shown}");
    assert!(shown.contains("\"action\":\"error\""), "{shown}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A campaign without a spec on the frames layer of a raw test server.
async fn frames_found(addr: SocketAddr) -> (Report, PathBuf) {
    let mut settings = settings(3, 150);
    settings.layers = vec![Layer::Frames];
    settings.timing.timeout = Duration::from_millis(500);
    let target = Target::resolve(&format!("ws://{addr}/"), None).unwrap();
    found(&target, &settings, "frames").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_finding_replays_byte_for_byte() {
    use support::raw::{start, WireFlaw};
    let (report, dir) = frames_found(start(WireFlaw::AcceptsRsv).await).await;
    let finding = report
        .findings
        .iter()
        .find(|f| f.check.name == "bad_frames_fail_the_connection")
        .unwrap_or_else(|| panic!("{}", wsfuzz::report::text(&report)));
    let script = script_of(finding);
    let text = std::fs::read_to_string(&script).unwrap();
    for step in &finding.case.steps {
        if let Step::Frame(frame) = step {
            let bytes: String = frame.encode().iter().map(|b| format!("{b:02x}")).collect();
            assert!(text.contains(&bytes), "{bytes} not in {text}");
        }
    }

    // The flawed server takes the frame with an RSV bit as a message and echoes it; a correct
    // one fails the connection with 1002.
    let shown = run_script(&script, None).await;
    assert!(shown.contains("<- text"), "{shown}");
    assert!(!shown.contains("<- close 1002"), "{shown}");
    let correct = start(WireFlaw::None).await;
    let shown = run_script(&script, Some(format!("ws://{correct}/"))).await;
    assert!(shown.contains("<- close 1002"), "{shown}");
    assert!(!shown.contains("<- text"), "{shown}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_finding_replays_with_every_client() {
    let flawed = support::start(Flaw::BroadcastEverywhere).await;
    let target = Target::resolve(&format!("ws://{flawed}"), Some(&support::spec())).unwrap();
    let mut settings = settings(3, 120);
    settings.layers = vec![Layer::Clients];
    let (report, dir) = found(&target, &settings, "clients").await;
    let finding = report
        .findings
        .iter()
        .find(|f| f.check.name == "no_stray_broadcasts")
        .unwrap_or_else(|| panic!("{}", wsfuzz::report::text(&report)));
    let script = script_of(finding);

    // The flawed server sends more than the correct one: the broadcast that should not be.
    let stray = run_script(&script, None).await;
    let correct = support::start(Flaw::None).await;
    let right = run_script(&script, Some(format!("ws://{correct}"))).await;
    assert!(stray.contains("[client 1] -> text"), "{stray}");
    assert!(
        count(&stray, "<- text") > count(&right, "<- text"),
        "the flawed server:\n{stray}\nthe correct one:\n{right}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
