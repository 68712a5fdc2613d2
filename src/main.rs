//! The `wsfuzz` binary: parse flags, run the command, print errors once, exit with a meaningful code.

use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use wsfuzz::campaign::{self, Progress, Report};
use wsfuzz::cli::{Cli, Command, FuzzArgs, Misuse};
use wsfuzz::connect::{self, Outcome, Session};
use wsfuzz::regressions::{self, Place};
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
    let (target, mut settings) = match args.settings() {
        Ok(pair) => pair,
        Err(Misuse(e)) => return fail(MISUSE, &e),
    };
    // A signal stops the campaign, which still reports what it found and stops its target.
    settings.stop = match campaign::Stop::on_signals() {
        Ok(stop) => stop,
        Err(e) => return fail(MISUSE, &format!("cannot listen for signals: {e}")),
    };
    // A report path that cannot be written is known before the campaign, not after it.
    for path in [&args.json, &args.junit, &args.html].into_iter().flatten() {
        if let Err(e) = writable(path) {
            return fail(MISUSE, &format!("cannot write {}: {e}", path.display()));
        }
    }
    let mut events = match args.events.as_deref().map(report::Events::create) {
        None => None,
        Some(Ok(events)) => Some(events),
        Some(Err(e)) => {
            let path = args.events.as_deref().unwrap_or(std::path::Path::new(""));
            return fail(MISUSE, &format!("cannot write {}: {e}", path.display()));
        }
    };
    let url = args.url.clone();
    let bar = progress_bar();
    let mut show_progress = |progress: Progress| {
        if let Some(events) = events.as_mut() {
            events.progress(&url, &progress);
        }
        show(&url, &bar, progress)
    };
    let ran = campaign::run(&target, &settings, &mut show_progress).await;
    bar.finish_and_clear();
    let mut report = match ran {
        Ok(report) => report,
        Err(campaign::Unreachable(e)) => {
            if let Some(events) = events {
                events.unreachable(&e);
            }
            let code = settings
                .stop
                .signal()
                .map_or(UNREACHABLE, |s| s.exit_code());
            return fail(code, &e);
        }
    };
    let mut problems = Vec::new();
    if !args.no_regressions {
        let spec = args.spec.as_ref().map(|p| p.display().to_string());
        let place = Place {
            dir: &args.regressions,
            url: &args.url,
            spec: spec.as_deref(),
            target: &target,
            timing: settings.timing,
        };
        // A directory that cannot be written is worth a warning, not a failed run.
        for problem in regressions::save_new(&mut report, &place) {
            eprintln!("wsfuzz: warning: {problem}");
        }
    }
    if let (Some(events), Some(path)) = (events, &args.events) {
        if let Err(e) = events.finish(&report) {
            problems.push(format!("cannot write {}: {e}", path.display()));
        }
    }
    finish(&report, &args, problems)
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

/// A progress bar on stderr while the campaign runs (none when stderr is not a terminal, so
/// logs and CI stay clean), and a status line for each finding; the report goes to stdout.
fn show(url: &str, bar: &ProgressBar, progress: Progress) {
    match progress {
        Progress::Started {
            routes,
            seed,
            cases,
            time,
        } => {
            let channels: Vec<&str> = routes.iter().map(|r| r.channel.id.as_str()).collect();
            let budget = match (cases, time) {
                (Some(cases), Some(time)) => {
                    format!("{cases} cases or {} s", time.as_secs_f64())
                }
                (Some(cases), None) => format!("{cases} cases"),
                (None, time) => format!("{} s", time.unwrap_or_default().as_secs_f64()),
            };
            say(
                bar,
                format!(
                    "wsfuzz: fuzzing {} ({}), {budget}, seed {seed}",
                    url,
                    channels.join(", ")
                ),
            );
            // A campaign the time ends shows its time on the bar, not its cases.
            match cases {
                Some(cases) => bar.set_length(cases),
                None => {
                    bar.set_prefix(TIMED);
                    if let Ok(style) = ProgressStyle::with_template(
                        "{elapsed_precise} [{bar:30}] {msg}, {eta} left",
                    ) {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    bar.set_length(time.unwrap_or_default().as_secs());
                }
            }
            bar.set_message("no findings");
        }
        Progress::Shrinking {
            check,
            channel,
            case_index,
        } => say(
            bar,
            format!("wsfuzz: case {case_index} failed {check} on `{channel}`; shrinking it"),
        ),
        Progress::Found(_) => {}
        Progress::Played { done, findings, .. } => {
            let elapsed = bar.elapsed();
            let found = report::count(findings, "finding", "findings");
            let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
            if bar.prefix() == TIMED {
                bar.set_position(elapsed.as_secs());
                bar.set_message(format!("{done} cases, {found}, {rate:.0} cases/s"));
            } else {
                bar.set_position(done);
                bar.set_message(format!("{found}, {rate:.0} cases/s"));
            }
        }
    }
}

/// A status line on stderr, above the bar where there is one.
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// The bar's prefix when the time, not the case count, ends the campaign.
const TIMED: &str = "timed";

/// The bar: cases done of all, findings, cases per second and time left.
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} cases, {msg}, {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Writes the report files asked for, prints the findings and the summary, and exits 1 on findings.
fn finish(report: &Report, args: &FuzzArgs, mut problems: Vec<String>) -> ExitCode {
    type Writer = fn(&Report, &std::path::Path) -> std::io::Result<()>;
    let files: [(&'static str, Option<&std::path::PathBuf>, Writer); 3] = [
        ("JSON", args.json.as_ref(), report::write_json),
        ("JUnit", args.junit.as_ref(), report::write_junit),
        ("HTML", args.html.as_ref(), report::write_html),
    ];
    let mut written = Vec::new();
    for (kind, path, write) in files {
        let Some(path) = path else { continue };
        match write(report, path) {
            Ok(()) => written.push(report::Written { kind, path }),
            Err(e) => problems.push(format!("cannot write {}: {e}", path.display())),
        }
    }
    print!(
        "{}{}",
        report::findings(report),
        report::summary(report, &written)
    );
    if let Some(problem) = problems.first() {
        return fail(MISUSE, problem);
    }
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
