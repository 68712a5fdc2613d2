//! Test servers as target processes: a test binary started again as a server, for campaigns with `--spawn`.

use std::time::Duration;

use super::Flaw;
use wsfuzz::campaign::{self, Report, Settings};
use wsfuzz::case::Layer;
use wsfuzz::target::Target;
use wsfuzz::watch::Spawn;

/// The body of a test binary's ignored `spawned_target` test: serves a test server with the
/// flaw named by `WSFUZZ_TEST_FLAW` on the port in `WSFUZZ_TEST_PORT`, for ten minutes at
/// most; without them it returns at once.
pub async fn serve_if_asked() {
    let (Ok(flaw), Ok(port)) = (
        std::env::var("WSFUZZ_TEST_FLAW"),
        std::env::var("WSFUZZ_TEST_PORT"),
    ) else {
        return;
    };
    let flaw = Flaw::named(&flaw).expect("a flaw of a target process");
    let addr = format!("127.0.0.1:{port}").parse().expect("a port");
    super::start_on(addr, flaw).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// The command that starts this test binary as a target with `flaw`, on `{port}`.
pub fn command_for(flaw: Flaw) -> String {
    let exe = std::env::current_exe().expect("the test binary's path");
    format!(
        "WSFUZZ_TEST_FLAW={flaw:?} WSFUZZ_TEST_PORT={{port}} RUST_BACKTRACE=0 exec '{}' spawned_target --exact --ignored --nocapture --test-threads 1",
        exe.display()
    )
}

/// A campaign against a target started by `command` (with `{port}` in it), on `layers`.
pub async fn spawned(command: &str, layers: &[Layer], tune: impl FnOnce(&mut Settings)) -> Report {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}");
    let target = Target::resolve(&url, Some(&super::spec())).expect("a valid target");
    let mut settings = super::settings(11, 150);
    settings.layers = layers.to_vec();
    settings.spawn = Some(Spawn {
        command: command.replace("{port}", &port.to_string()),
        address: target.authority(),
        startup: Duration::from_secs(20),
    });
    tune(&mut settings);
    let mut quiet = |_: &campaign::Event| {};
    let run = campaign::run(&target, &settings, &mut quiet);
    tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the campaign ends in time")
        .expect("the target starts")
}
