//! wsfuzz as a library, as a Rust user calls it from a `cargo test`: a campaign fails the test on a flawed server, keeps its findings, and passes once the server is fixed.

mod support;

use std::time::Duration;

use support::Flaw;
use wsfuzz::campaign::Event;
use wsfuzz::case::Layer;
use wsfuzz::Campaign;

fn campaign(addr: std::net::SocketAddr) -> Campaign {
    Campaign::new(format!("ws://{addr}"))
        .spec(support::spec())
        .layers(&[Layer::Messages])
        .timeout(Duration::from_millis(300))
        .cases(60)
        .seed(5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flawed_server_fails_the_test_with_the_finding_and_keeps_it() {
    let dir = std::env::temp_dir().join(format!("wsfuzz-library-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let flawed = support::start(Flaw::SilentOnUnknownAction).await;
    let (told, events) = std::sync::mpsc::channel();
    let report = campaign(flawed)
        .regressions(&dir)
        .unwrap()
        .reporter(move |event: &Event| match event {
            Event::Found(f) => drop(told.send(("found", f.regression.clone()))),
            Event::Saved(f) => drop(told.send(("saved", f.regression.clone()))),
            _ => {}
        })
        .run()
        .await
        .unwrap();
    // Each finding is saved as it is found: its file is named when reporters hear of it.
    let events: Vec<_> = events.try_iter().collect();
    assert_eq!(events.len(), 2 * report.findings.len(), "{events:?}");
    for pair in events.chunks(2) {
        assert_eq!((pair[0].0, pair[1].0), ("found", "saved"));
        assert!(pair[0].1.is_some() && pair[0].1 == pair[1].1, "{pair:?}");
    }
    let failed = std::panic::catch_unwind(|| report.assert_no_findings()).unwrap_err();
    let message = failed.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("wsfuzz found something") && message.contains("bad_input_gets_error"),
        "{message}"
    );
    // The printed command plays the same cases: same layers, same time-out.
    let command = format!(
        "Reproduce with: wsfuzz fuzz ws://{flawed} --spec '<the file of Prompt Manager WebSocket API>' --layers messages --timeout 0.3 --seed 5 --case"
    );
    assert!(message.contains(&command), "{message}");
    let saved = report.findings[0].regression.as_deref().unwrap();
    assert!(std::path::Path::new(saved).starts_with(&dir), "{saved}");

    // The next run replays the saved case first; against the fixed server it passes. A
    // reporter is told each event as it happens, in order.
    let fixed = support::start(Flaw::None).await;
    let (told, events) = std::sync::mpsc::channel();
    let report = campaign(fixed)
        .regressions(&dir)
        .unwrap()
        .cases(10)
        .reporter(move |event: &Event| {
            let name = match event {
                Event::Started { .. } => "started",
                Event::Replayed { fixed: true, .. } => "fixed",
                Event::Played { .. } => "case",
                Event::Finished(_) => "finished",
                _ => "other",
            };
            let _ = told.send(name);
        })
        .run()
        .await
        .unwrap();
    report.assert_no_findings();
    assert_eq!((report.replayed, report.fixed.len()), (1, 1));
    let events: Vec<&str> = events.try_iter().collect();
    let mut expected = vec!["started", "fixed"];
    expected.extend(["case"; 10]);
    expected.push("finished");
    assert_eq!(events, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_run_is_an_error_not_a_finding() {
    let error = Campaign::new("ws://127.0.0.1:1")
        .cases(1)
        .run()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
    let error = Campaign::new("ws://127.0.0.1:1")
        .spec_file("no/such/spec.yaml")
        .unwrap_err();
    assert!(error.to_string().contains("no/such/spec.yaml"), "{error}");
    let error = Campaign::new("http://example").run().await.unwrap_err();
    assert!(error.to_string().contains("ws://"), "{error}");
}

/// A warning passes the test unless the campaign is strict; the checks run are the caller's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_fail_a_test_only_when_strict() {
    use wsfuzz::checks::{BAD_INPUT_CLOSE_CODE, BAD_INPUT_GETS_ERROR};
    let addr = support::start(Flaw::ClosesNormallyOnBadJson).await;
    let report = campaign(addr)
        .checks(&[&BAD_INPUT_CLOSE_CODE, &BAD_INPUT_GETS_ERROR])
        .run()
        .await
        .unwrap();
    assert_eq!(report.checks.len(), 2);
    assert_eq!(support::checks_of(&report), ["bad_input_close_code"]);
    report.assert_no_findings();
    let strict = campaign(addr).strict(true).run().await.unwrap();
    let failed = std::panic::catch_unwind(|| strict.assert_no_findings());
    assert!(failed.is_err(), "{}", wsfuzz::report::text(&strict));
    let without = campaign(addr)
        .strict(true)
        .exclude_checks(&[&BAD_INPUT_CLOSE_CODE])
        .run()
        .await
        .unwrap();
    without.assert_no_findings();
}

/// Flags and code set a campaign up through the same builder: the command it renders for
/// `Reproduce with:` names every setting that shapes the cases, hides every secret, and read
/// back as flags sets up the very same campaign.
#[test]
fn flags_and_code_are_one_path_to_a_campaign() {
    use clap::Parser;
    use wsfuzz::cli::{Cli, Command};
    use wsfuzz::credentials::Access;

    let access = Access {
        headers: vec![("X-Api-Key".into(), "s3cret-header".into())],
        cookies: vec![("session".into(), "s3cret-cookie".into())],
        query: vec![("key".into(), "s3cret-query".into())],
        token: Some("s3cret-token".into()),
        subprotocols: vec!["prompt.v1".into()],
        origin: Some("http://127.0.0.1:{port}".into()),
    };
    let mut by_code = Campaign::new("ws://127.0.0.1:{port}")
        .spawn("exec ./server --port {port}", Duration::from_secs(3))
        .access(access)
        .layers(&[Layer::Messages, Layer::Frames])
        .timeout(Duration::from_millis(500))
        .clients(3);
    by_code.settings_mut().limits.fd_growth = 7;
    let command = by_code.command();
    for secret in [
        "s3cret-header",
        "s3cret-cookie",
        "s3cret-query",
        "s3cret-token",
    ] {
        assert!(!command.contains(secret), "{command}");
    }
    for flag in [
        "--spawn 'exec ./server --port {port}'",
        "--startup 3",
        "--layers messages,frames",
        "--header 'X-Api-Key: ***'",
        "--cookie 'session=***'",
        "--query 'key=***'",
        "--token '***'",
        "--subprotocol prompt.v1",
        "--origin 'http://127.0.0.1:{port}'",
        "--max-fd-growth 7",
        "--clients 3",
        "--timeout 0.5",
    ] {
        assert!(command.contains(flag), "{flag} missing from {command}");
    }

    let words = shell_words(&command);
    let args =
        match Cli::try_parse_from(words.iter().map(String::as_str).chain(["--no-regressions"]))
            .map(|cli| cli.command)
        {
            Ok(Command::Fuzz(args)) => args,
            other => panic!("{command} does not parse as flags: {other:?}"),
        };
    let by_flags = args.campaign().unwrap_or_else(|e| panic!("{}", e.0));
    assert_eq!(by_flags.command(), command);
}

/// The words of a command line quoted as `shell_quote` quotes: plain, or in single quotes.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match (c, quoted) {
            ('\'', _) => {
                quoted = !quoted;
                any = true;
            }
            (' ', false) => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (c, _) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}
