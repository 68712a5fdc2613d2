//! Benchmark: a wsfuzz campaign against the reference server beside a plain client doing the same I/O.
//!
//! `cargo bench --bench campaign` (cases per round: WSFUZZ_BENCH_CASES, default 2000).
//! The plain client replays the very same cases with bare tokio-tungstenite: the same
//! connects, greetings, sends, replies, closes and probe connections, but no generation,
//! classification, recording or checks. The difference is what wsfuzz itself costs.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use wsfuzz::campaign::{self, Settings};
use wsfuzz::case::{Case, Layer, Payload, Step};
use wsfuzz::gen::Generator;
use wsfuzz::spec::Spec;
use wsfuzz::target::Target;

const ROUNDS: usize = 3;

fn main() {
    let cases: u64 = std::env::var("WSFUZZ_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    // The server gets a runtime (and a core) of its own, as a real target would.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let server = wsfuzz::server::start(([127, 0, 0, 1], 0).into())
                .await
                .unwrap();
            addr_tx.send(server.local_addr()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let addr = addr_rx.recv().unwrap();
    let spec = Spec::parse(wsfuzz::PROMPT_MANAGER_SPEC, "prompt-manager.asyncapi.yaml").unwrap();
    let target = Target::resolve(&format!("ws://{addr}"), Some(&spec)).unwrap();
    // The message layer is what the plain client can replay; raw layers have no plain equivalent.
    let settings = Settings {
        cases,
        seed: 1,
        layers: vec![Layer::Messages],
        ..Settings::default()
    };
    let generator = Generator::new(&target.routes, &settings.layers);
    let planned: Vec<Case> = (0..cases)
        .map(|i| generator.case(settings.seed, i))
        .collect();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut fuzzer, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let report = runtime
            .block_on(campaign::run(
                &target,
                &settings,
                &mut |_: &campaign::Event| {},
            ))
            .expect("the server is up");
        fuzzer.push(started.elapsed());
        assert!(
            report.findings.is_empty(),
            "the reference server must pass: {}",
            wsfuzz::report::text(&report)
        );
        assert_eq!(report.stats.cases, cases);

        let started = Instant::now();
        runtime.block_on(replay_plain(&target, &planned));
        plain.push(started.elapsed());
    }
    let (fuzzer, plain) = (median(fuzzer), median(plain));
    let rate = |d: Duration| cases as f64 / d.as_secs_f64();
    println!("cases per round: {cases}, rounds: {ROUNDS} (medians below)");
    println!(
        "wsfuzz campaign:  {:>8.3} s  {:>8.0} cases/s",
        fuzzer.as_secs_f64(),
        rate(fuzzer)
    );
    println!(
        "plain client:     {:>8.3} s  {:>8.0} cases/s",
        plain.as_secs_f64(),
        rate(plain)
    );
    let overhead = (fuzzer.as_secs_f64() - plain.as_secs_f64()) / plain.as_secs_f64() * 100.0;
    println!("wsfuzz's own cost: {overhead:+.1}% of the plain client's time");
    watching(&runtime, &spec, cases);
}

/// What watching a target costs: a campaign against a `wsfuzz serve` process it starts itself
/// (with /proc read before and after every case) beside one against a process started by hand.
fn watching(runtime: &tokio::runtime::Runtime, spec: &Spec, cases: u64) {
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port()
    };
    let serve = |port: u16| {
        format!(
            "exec '{}' serve --port {port}",
            env!("CARGO_BIN_EXE_wsfuzz")
        )
    };
    let (mut watched, mut unwatched) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let port = free_port();
        let mut by_hand = std::process::Command::new("sh")
            .args(["-c", &serve(port)])
            .spawn()
            .unwrap();
        let target = Target::resolve(&format!("ws://127.0.0.1:{port}"), Some(spec)).unwrap();
        let settings = Settings {
            cases,
            seed: 1,
            layers: vec![Layer::Messages],
            recover: Duration::from_secs(5),
            ..Settings::default()
        };
        let mut watched_settings = settings.clone();
        // Let the process started by hand begin listening (a failed first probe would end the run).
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let report = runtime
            .block_on(campaign::run(
                &target,
                &settings,
                &mut |_: &campaign::Event| {},
            ))
            .expect("the server is up");
        unwatched.push(started.elapsed());
        assert!(report.findings.is_empty());
        let _ = by_hand.kill();
        let _ = by_hand.wait();

        let port = free_port();
        let target = Target::resolve(&format!("ws://127.0.0.1:{port}"), Some(spec)).unwrap();
        watched_settings.spawn = Some(wsfuzz::watch::Spawn {
            command: serve(port),
            address: target.authority(),
            startup: Duration::from_secs(10),
        });
        let started = Instant::now();
        let report = runtime
            .block_on(campaign::run(
                &target,
                &watched_settings,
                &mut |_: &campaign::Event| {},
            ))
            .expect("the server starts");
        // The start of the process is part of what --spawn costs.
        watched.push(started.elapsed());
        assert!(
            report.findings.is_empty(),
            "{}",
            wsfuzz::report::text(&report)
        );
    }
    let (watched, unwatched) = (median(watched), median(unwatched));
    let rate = |d: Duration| cases as f64 / d.as_secs_f64();
    println!(
        "target process, unwatched: {:>8.3} s  {:>8.0} cases/s",
        unwatched.as_secs_f64(),
        rate(unwatched)
    );
    println!(
        "target process, --spawn:   {:>8.3} s  {:>8.0} cases/s",
        watched.as_secs_f64(),
        rate(watched)
    );
    let overhead =
        (watched.as_secs_f64() - unwatched.as_secs_f64()) / unwatched.as_secs_f64() * 100.0;
    println!("watching the target costs: {overhead:+.1}%");
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The same network work as a campaign, with nothing else.
async fn replay_plain(target: &Target, cases: &[Case]) {
    for case in cases {
        let route = target
            .routes
            .iter()
            .find(|r| r.channel.id == case.endpoint.channel)
            .unwrap();
        let messages: Vec<Message> = case
            .steps
            .iter()
            .filter_map(|step| match step {
                Step::Send(Payload::Binary(bytes)) => Some(Message::binary(bytes.clone())),
                Step::Send(other) => Some(Message::text(other.text()?.into_owned())),
                _ => None,
            })
            .collect();
        // A refused handshake (HTTP 404 for an empty id) ends the case, as in a campaign.
        if let Ok((mut ws, _)) =
            tokio_tungstenite::connect_async_with_config(target.url(&case.endpoint), None, true)
                .await
        {
            // Both channels greet on connect; a refused endpoint answers with its close instead.
            let mut open = first_answer(&mut ws).await;
            for message in messages {
                if !open {
                    break;
                }
                open = ws.send(message).await.is_ok() && first_answer(&mut ws).await;
            }
            if open {
                let _ = ws.close(None).await;
                while let Some(Ok(_)) = ws.next().await {}
            }
        }
        let (mut probe, _) = tokio_tungstenite::connect_async_with_config(
            target.url(&route.probe_endpoint()),
            None,
            true,
        )
        .await
        .unwrap();
        first_answer(&mut probe).await;
        let _ = probe.close(None).await;
        while let Some(Ok(_)) = probe.next().await {}
    }
}

/// Reads up to the next message; false when the connection ended instead.
async fn first_answer<S>(ws: &mut S) -> bool
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(_) | Message::Binary(_))) => return true,
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            _ => return false,
        }
    }
}
