//! The `wsfuzz` binary: parse flags, run the command, print errors once, exit with a meaningful code.

use std::process::ExitCode;

use clap::Parser;

use wsfuzz::campaign;
use wsfuzz::cli::{Cli, Command, FuzzArgs, Misuse};
use wsfuzz::connect::{self, Outcome, Session};
use wsfuzz::{report, server};

/// Exit codes: 0 no errors (warnings alone pass unless `--strict`), 1 errors, 2 misuse, 3
/// target unreachable at the start.
const FOUND: u8 = 1;
const MISUSE: u8 = 2;
const UNREACHABLE: u8 = 3;

fn main() -> ExitCode {
    let words = match wsfuzz::config::apply(std::env::args_os().collect()) {
        Ok(words) => words,
        Err(Misuse(e)) => return fail(MISUSE, &e),
    };
    let cli = Cli::parse_from(words);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(MISUSE, &format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(dispatch(cli.command))
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("wsfuzz: error: {message}");
    ExitCode::from(code)
}

async fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::Fuzz(args) => fuzz(args).await,
        Command::Serve { port, host } => {
            let addr = std::net::SocketAddr::new(host, port);
            eprintln!("wsfuzz: reference Prompt Manager server on ws://{addr} (Ctrl-C stops it)");
            tokio::select! {
                result = server::serve(addr) => match result {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(MISUSE, &format!("cannot serve on {addr}: {e}")),
                },
                _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
            }
        }
        Command::Connect(args) => {
            let session = match (args.url(), wsfuzz::cli::seconds(args.timeout, "timeout")) {
                (Ok(url), Ok(timeout)) => Session {
                    url,
                    send: args.send,
                    expect: args.expect,
                    timeout,
                },
                (Err(Misuse(e)), _) | (_, Err(Misuse(e))) => return fail(MISUSE, &e),
            };
            match connect::run(session).await {
                Ok(Outcome::Done | Outcome::Expected) => ExitCode::SUCCESS,
                Ok(Outcome::NotExpected) => ExitCode::from(FOUND),
                Err(e) => fail(UNREACHABLE, &e),
            }
        }
        Command::Checks => {
            print!("{}", wsfuzz::checks::listing());
            ExitCode::SUCCESS
        }
        Command::Demo { cases, seed } => demo(cases, seed).await,
        Command::Merge { reports, output } => {
            let paths: Vec<&std::path::Path> = reports.iter().map(|p| p.as_path()).collect();
            let merged = match wsfuzz::merge::merge(&paths) {
                Ok(merged) => merged,
                Err(e) => return fail(MISUSE, &e),
            };
            let text = serde_json::to_string_pretty(&merged).unwrap_or_default() + "\n";
            match output {
                Some(path) => {
                    if let Err(e) = std::fs::write(&path, text) {
                        return fail(MISUSE, &format!("cannot write {}: {e}", path.display()));
                    }
                }
                None => print!("{text}"),
            }
            let strict = merged["strict"].as_bool().unwrap_or(false);
            let found = merged["findings"].as_array().is_some_and(|f| {
                f.iter()
                    .any(|f| strict || f["level"].as_str() != Some("warning"))
            });
            if found {
                ExitCode::from(FOUND)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Replay(args) => match args.as_fuzz() {
            Ok(fuzz_args) => fuzz(fuzz_args).await,
            Err(Misuse(e)) => fail(MISUSE, &e),
        },
    }
}

async fn fuzz(args: FuzzArgs) -> ExitCode {
    let mut campaign = match args.campaign() {
        Ok(campaign) => campaign,
        Err(Misuse(e)) => return fail(MISUSE, &e),
    };
    // A signal stops the campaign, which still reports what it found and stops its target.
    let stop = match campaign::Stop::on_signals() {
        Ok(stop) => stop,
        Err(e) => return fail(MISUSE, &format!("cannot listen for signals: {e}")),
    };
    campaign = campaign.stop(stop.clone());
    // A report path that cannot be written is known before the campaign, not after it.
    for path in [&args.json, &args.junit, &args.html].into_iter().flatten() {
        if let Err(e) = writable(path) {
            return fail(MISUSE, &format!("cannot write {}: {e}", path.display()));
        }
    }
    // Every output is a reporter of the campaign's events, told them in this order (after
    // the regression saver, which the campaign puts first): the bar is cleared before the
    // text is printed.
    campaign = campaign.reporter(report::Bar::new(&args.url));
    if let Some(path) = args.events.as_deref() {
        match report::Events::create(path, &args.url) {
            Ok(events) => campaign = campaign.reporter(events),
            Err(e) => return fail(MISUSE, &format!("cannot write {}: {e}", path.display())),
        }
    }
    let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let files = [
        (args.json.clone(), report::File::json as fn(_, &_) -> _),
        (args.junit.clone(), report::File::junit),
        (args.html.clone(), report::File::html),
    ];
    for (path, file) in files {
        if let Some(path) = path {
            campaign = campaign.reporter(file(path, &written));
        }
    }
    campaign = campaign.reporter(report::Text::new(&written));
    let report = match campaign.run().await {
        Ok(report) => report,
        Err(campaign::Error::Unreachable(e)) => {
            let code = stop.signal().map_or(UNREACHABLE, |s| s.exit_code());
            return fail(code, &e);
        }
        Err(campaign::Error::Setup(e) | campaign::Error::Output(e)) => return fail(MISUSE, &e),
    };
    // Stopped by a signal: the exit code says so, as a shell's does, whatever was found.
    if let Some(interrupted) = report.interrupted {
        return ExitCode::from(interrupted.signal.exit_code());
    }
    if report.failed() {
        ExitCode::from(FOUND)
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether `path` can be written, leaving what is there (a previous report) as it is.
fn writable(path: &std::path::Path) -> std::io::Result<()> {
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
    } else {
        std::fs::File::create(path)?;
        std::fs::remove_file(path)
    }
}

async fn demo(cases: u64, seed: Option<u64>) -> ExitCode {
    let server = match server::start(([127, 0, 0, 1], 0).into()).await {
        Ok(server) => server,
        Err(e) => return fail(MISUSE, &format!("cannot start the reference server: {e}")),
    };
    let dir = std::env::temp_dir().join(format!("wsfuzz-demo-{}", std::process::id()));
    let spec_path = dir.join("prompt-manager.asyncapi.yaml");
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&spec_path, wsfuzz::PROMPT_MANAGER_SPEC))
    {
        return fail(
            MISUSE,
            &format!("cannot write the demo spec to {}: {e}", dir.display()),
        );
    }
    let url = format!("ws://{}", server.local_addr());
    eprintln!("wsfuzz: started the reference Prompt Manager server on {url}");
    let mut words = vec![
        "wsfuzz".to_string(),
        "fuzz".into(),
        url,
        "--spec".into(),
        spec_path.display().to_string(),
        "--cases".into(),
        cases.to_string(),
    ];
    if let Some(seed) = seed {
        words.extend(["--seed".into(), seed.to_string()]);
    }
    let args = match Cli::try_parse_from(words) {
        Ok(Cli {
            command: Command::Fuzz(args),
        }) => args,
        _ => return fail(MISUSE, "cannot build the demo campaign's flags"),
    };
    let code = fuzz(args).await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}
