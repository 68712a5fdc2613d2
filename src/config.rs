//! `wsfuzz.toml`: the `fuzz` flags a team runs every time, read before the command line, which overrides them.
//!
//! ```toml
//! [fuzz]
//! url = "ws://127.0.0.1:{port}"
//! spec = "specs/prompt-manager.asyncapi.yaml"
//! spawn = "python3 server.py {port}"
//! cases = 2000
//! layers = ["messages", "frames"]
//! junit = "reports/wsfuzz.xml"
//! ```
//!
//! Each key is a long flag of `wsfuzz fuzz` (`max-case-cpu` or `max_case_cpu`), `url` is the
//! URL, `true` turns a switch on, and a list is a comma-separated value. The file is turned
//! into flags placed before the command line's, so clap checks every value as it checks flags.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::{Cli, Misuse};

/// The file read from the working directory unless `--config` names another.
pub const DEFAULT_FILE: &str = "wsfuzz.toml";

/// The command line with the config file's flags put in, for a `fuzz` command; any other
/// command line as it is.
pub fn apply(words: Vec<OsString>) -> Result<Vec<OsString>, Misuse> {
    let Some(at) = words.iter().position(|w| w == "fuzz") else {
        return Ok(words);
    };
    // Only the subcommand itself: `fuzz` as a flag's value further on is not it.
    if words[1..at]
        .iter()
        .any(|w| !w.to_string_lossy().starts_with('-'))
    {
        return Ok(words);
    }
    let (path, named) = match config_flag(&words[at + 1..]) {
        Some(path) => (path, true),
        None => (PathBuf::from(DEFAULT_FILE), false),
    };
    if !named && !path.exists() {
        return Ok(words);
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Misuse(format!("cannot read {}: {e}", path.display())))?;
    let (flags, url) = flags(&text, &path)?;
    // Each value is checked as clap checks a flag's, and blamed on the file.
    let mut alone: Vec<OsString> = vec!["wsfuzz".into(), "fuzz".into()];
    alone.extend(flags.iter().map(|(_, flag)| OsString::from(flag)));
    alone.push(
        url.clone()
            .unwrap_or_else(|| "ws://127.0.0.1:1".into())
            .into(),
    );
    if let Err(e) = Cli::command().try_get_matches_from(alone) {
        let why = e.to_string();
        let first = why.lines().next().unwrap_or_default();
        return Err(Misuse(format!(
            "{}: {}",
            path.display(),
            first.trim_start_matches("error: ")
        )));
    }
    // A flag on the command line replaces the file's.
    let given: Vec<String> = words[at + 1..]
        .iter()
        .filter_map(|w| w.to_str()?.strip_prefix("--"))
        .map(|w| w.split('=').next().unwrap_or(w).to_string())
        .collect();
    let mut merged: Vec<OsString> = words[..=at].to_vec();
    merged.extend(
        flags
            .into_iter()
            .filter(|(name, _)| !given.contains(name))
            .map(|(_, flag)| OsString::from(flag)),
    );
    merged.extend_from_slice(&words[at + 1..]);
    // The file's URL is used only where the command line names none.
    if let Some(url) = url {
        let missing = Cli::command()
            .try_get_matches_from(&merged)
            .is_err_and(|e| e.kind() == clap::error::ErrorKind::MissingRequiredArgument);
        if missing {
            merged.push(url.into());
        }
    }
    Ok(merged)
}

/// The value of `--config FILE` (or `--config=FILE`) among a command's words.
fn config_flag(words: &[OsString]) -> Option<PathBuf> {
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let word = word.to_string_lossy();
        if word == "--config" {
            return words.next().map(PathBuf::from);
        }
        if let Some(path) = word.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    None
}

/// The flags of the file's `[fuzz]` table (each with its name), and its URL.
type Flags = Vec<(String, String)>;

fn flags(text: &str, path: &Path) -> Result<(Flags, Option<String>), Misuse> {
    let file = path.display();
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let place = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" line {line}, column {column}:")
            })
            .unwrap_or_default();
        Misuse(format!("{file}:{place} {}", e.message().trim()))
    })?;
    if let Some(other) = table.keys().find(|k| *k != "fuzz") {
        return Err(Misuse(format!(
            "{file}: unknown table or key `{other}` (flags of `wsfuzz fuzz` go under [fuzz])"
        )));
    }
    let Some(fuzz) = table.get("fuzz") else {
        return Ok((Vec::new(), None));
    };
    let fuzz = fuzz
        .as_table()
        .ok_or_else(|| Misuse(format!("{file}: `fuzz` must be a table: [fuzz]")))?;
    let command = Cli::command();
    let known: Vec<String> = command
        .find_subcommand("fuzz")
        .map(|fuzz| {
            fuzz.get_arguments()
                .filter_map(|a| a.get_long())
                .filter(|long| !matches!(*long, "help" | "config"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut flags = Vec::new();
    let mut url = None;
    for (key, value) in fuzz {
        let name = key.replace('_', "-");
        let scalar = |value: &toml::Value| -> Option<String> {
            match value {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Integer(n) => Some(n.to_string()),
                toml::Value::Float(x) => Some(x.to_string()),
                _ => None,
            }
        };
        if name == "url" {
            url = Some(scalar(value).ok_or_else(|| {
                Misuse(format!(
                    "{file}: `url` must be a string, such as \"ws://127.0.0.1:8080\""
                ))
            })?);
            continue;
        }
        if !known.contains(&name) {
            return Err(Misuse(format!(
                "{file}: unknown key `{key}` in [fuzz]; keys are `url` and the long flags of `wsfuzz fuzz`: {}",
                known.join(", ")
            )));
        }
        let text = match value {
            toml::Value::Boolean(true) => {
                flags.push((name.clone(), format!("--{name}")));
                continue;
            }
            toml::Value::Boolean(false) => continue,
            toml::Value::Array(items) => items
                .iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()
                .map(|v| v.join(",")),
            other => scalar(other),
        };
        let text = text.ok_or_else(|| {
            Misuse(format!(
                "{file}: `{key}` must be a string, a number, true or false, or a list of them"
            ))
        })?;
        flags.push((name.clone(), format!("--{name}={text}")));
    }
    Ok((flags, url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    /// The command line `line` with the config file `text`.
    fn with_file(text: &str, line: &str) -> Result<Vec<String>, String> {
        static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let number = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wsfuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{number}.toml"));
        std::fs::write(&path, text).unwrap();
        let line = format!("{line} --config {}", path.display());
        apply(words(&line))
            .map(|w| w.iter().map(|w| w.to_string_lossy().into_owned()).collect())
            .map_err(|Misuse(e)| e)
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let text = "[fuzz]\nurl = \"ws://a:1\"\ncases = 50\nlayers = [\"messages\", \"frames\"]\n\
                    no_regressions = true\nmax-case-cpu = 0.25\nseed = 4\n";
        let merged = with_file(text, "wsfuzz fuzz --cases 9 --layers=clients").unwrap();
        let mut from_file = merged[2..5].to_vec();
        from_file.sort();
        assert_eq!(
            from_file,
            ["--max-case-cpu=0.25", "--no-regressions", "--seed=4"],
            "the file's flags but those given again: {merged:?}"
        );
        assert_eq!(merged[5..8], ["--cases", "9", "--layers=clients"]);
        assert_eq!(
            merged.last().unwrap(),
            "ws://a:1",
            "the file's URL, none given"
        );
        let given = with_file(text, "wsfuzz fuzz ws://b:2").unwrap();
        assert!(!given.contains(&"ws://a:1".to_string()), "{given:?}");
    }

    #[test]
    fn a_broken_file_is_one_line_naming_the_place() {
        for (text, says) in [
            ("[fuzz]\ncases = \n", "line 2, column"),
            ("[fuzz]\ncasez = 3\n", "unknown key `casez`"),
            ("cases = 3\n", "go under [fuzz]"),
            ("[fuzz]\nseed = { a = 1 }\n", "`seed` must be"),
            (
                "[fuzz]\ncases = \"many\"\n",
                ".toml: invalid value 'many' for '--cases",
            ),
        ] {
            let error = with_file(text, "wsfuzz fuzz").unwrap_err();
            assert!(error.contains(says), "{text:?}: {error}");
            assert!(!error.contains('\n'), "{text:?}: {error}");
        }
    }

    #[test]
    fn other_commands_are_left_alone() {
        for line in ["wsfuzz serve --port 1", "wsfuzz replay fuzz"] {
            assert_eq!(apply(words(line)).unwrap(), words(line));
        }
    }
}
