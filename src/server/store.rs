//! The in-memory prompt store of the reference server and `[[inclusion]]` expansion.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Largest expanded text, in bytes; hostile content must not make the server build more.
pub const MAX_EXPANDED_BYTES: usize = 1 << 20;
/// Deepest chain of nested inclusions followed.
pub const MAX_DEPTH: usize = 32;
/// Bytes of prompt content scanned for one expansion. Inclusions of empty prompts produce
/// no output, so the output cap alone would not stop `[[a]][[a]]...` nested a few levels.
const MAX_SCANNED_BYTES: usize = 8 << 20;
/// Distinct warnings reported for one expansion.
const MAX_WARNINGS: usize = 100;
/// Longest prompt name quoted in a warning.
const MAX_NAME_IN_WARNING: usize = 64;

/// One prompt and its metadata.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// Shared so that an expansion can work on a snapshot without holding the store lock.
    pub content: Arc<str>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub is_composite: bool,
    pub updated_at: Option<String>,
}

/// Metadata fields an `update_metadata` message carries; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct MetadataChange {
    pub description: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
}

/// All prompts, by id. Updates change existing prompts only.
#[derive(Debug, Default)]
pub struct Store {
    prompts: HashMap<String, Prompt>,
}

impl Store {
    /// The prompts every reference server starts with: they include each other, one is
    /// missing a part and two form a cycle, so that expansion has something to show.
    pub fn seeded() -> Self {
        let mut store = Store::default();
        store.insert(
            "greeting",
            "Hello! [[signature]]",
            Some("A friendly opening line"),
            &["greeting", "draft"],
            Some("2026-01-01T09:00:00Z"),
        );
        store.insert(
            "signature",
            "-- The team",
            Some("Sign-off appended to messages"),
            &["footer"],
            None,
        );
        store.insert(
            "summary",
            "Summary of [[greeting]] and [[missing_part]]",
            None,
            &["composite", "review"],
            Some("2026-01-02T10:30:00.250Z"),
        );
        store.insert(
            "cycle_a",
            "A then [[cycle_b]]",
            Some("Half of a deliberate inclusion cycle"),
            &["cycle"],
            None,
        );
        store.insert(
            "cycle_b",
            "B then [[cycle_a]]",
            None,
            &[],
            Some("2026-01-03T08:15:00Z"),
        );
        store
    }

    /// Adds or replaces a prompt; `is_composite` follows from the content.
    pub fn insert(
        &mut self,
        id: &str,
        content: &str,
        description: Option<&str>,
        tags: &[&str],
        updated_at: Option<&str>,
    ) {
        let prompt = Prompt {
            content: Arc::from(content),
            description: description.map(str::to_owned),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            is_composite: is_composite(content),
            updated_at: updated_at.map(str::to_owned),
        };
        self.prompts.insert(id.to_owned(), prompt);
    }

    pub fn get(&self, id: &str) -> Option<&Prompt> {
        self.prompts.get(id)
    }

    /// Replaces the content of an existing prompt; false when there is no such prompt.
    pub fn set_content(&mut self, id: &str, content: &str, timestamp: &str) -> bool {
        let Some(prompt) = self.prompts.get_mut(id) else {
            return false;
        };
        prompt.content = Arc::from(content);
        prompt.is_composite = is_composite(content);
        prompt.updated_at = Some(timestamp.to_owned());
        true
    }

    /// Applies the present metadata fields of an existing prompt and returns it.
    pub fn set_metadata(
        &mut self,
        id: &str,
        change: MetadataChange,
        timestamp: &str,
    ) -> Option<&Prompt> {
        let prompt = self.prompts.get_mut(id)?;
        if let Some(description) = change.description {
            prompt.description = description;
        }
        if let Some(tags) = change.tags {
            prompt.tags = tags;
        }
        prompt.updated_at = Some(timestamp.to_owned());
        Some(prompt)
    }

    /// The current contents, cheap to take (reference counts only).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            contents: self
                .prompts
                .iter()
                .map(|(id, p)| (id.clone(), Arc::clone(&p.content)))
                .collect(),
        }
    }
}

/// The prompt contents at one moment, for expanding outside the store lock.
#[derive(Debug, Clone)]
pub struct Snapshot {
    contents: HashMap<String, Arc<str>>,
}

/// The result of expanding a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    pub expanded: String,
    pub dependencies: Vec<String>,
    pub warnings: Vec<String>,
}

impl Snapshot {
    /// Expands the inclusions in `content`, edited as prompt `root_id`: the root counts as
    /// being on the inclusion stack, so a prompt including itself is a cycle.
    pub fn expand(&self, root_id: &str, content: &str) -> Expansion {
        let mut expander = Expander {
            contents: &self.contents,
            out: String::new(),
            dependencies: Vec::new(),
            warnings: Warnings::default(),
            stack: vec![root_id.to_owned()],
            scanned: content.len(),
            stopped: false,
        };
        expander.expand_text(content);
        Expansion {
            expanded: expander.out,
            dependencies: expander.dependencies,
            warnings: expander.warnings.finish(),
        }
    }
}

/// True when `content` holds at least one inclusion.
pub fn is_composite(content: &str) -> bool {
    next_inclusion(content).is_some()
}

/// An inclusion found in a text: `text[start..end]` is `[[ name ]]`.
struct Inclusion<'t> {
    start: usize,
    end: usize,
    name: &'t str,
}

/// Finds the first inclusion in `text`. A `[[` whose text up to the next `]]` is blank or
/// holds `[` or a newline is literal. Linear: a failed candidate is abandoned at the first
/// `[` or newline, and the search resumes from there.
fn next_inclusion(text: &str) -> Option<Inclusion<'_>> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(offset) = text.get(from..)?.find("[[") {
        let start = from + offset;
        let inner = start + 2;
        let mut i = inner;
        let mut resume = None;
        while i < bytes.len() {
            match bytes[i] {
                b'[' | b'\n' => {
                    resume = Some(i);
                    break;
                }
                b']' if bytes.get(i + 1) == Some(&b']') => {
                    // `[`, `]` and `\n` are ASCII, so these are char boundaries.
                    let name = text[inner..i].trim();
                    if !name.is_empty() {
                        return Some(Inclusion {
                            start,
                            end: i + 2,
                            name,
                        });
                    }
                    resume = Some(inner);
                    break;
                }
                _ => i += 1,
            }
        }
        // Running off the end without `]]` means no later `[[` can close either.
        from = resume?;
    }
    None
}

/// Warnings, each reported once and at most `MAX_WARNINGS` of them.
#[derive(Default)]
struct Warnings {
    list: Vec<String>,
    seen: HashSet<String>,
    omitted: bool,
}

impl Warnings {
    fn add(&mut self, warning: String) {
        if self.seen.contains(&warning) {
            return;
        }
        if self.list.len() >= MAX_WARNINGS {
            self.omitted = true;
            return;
        }
        self.seen.insert(warning.clone());
        self.list.push(warning);
    }

    /// Limit warnings bypass the cap: a client must always learn that output was cut.
    fn add_limit(&mut self, warning: &str) {
        if self.seen.insert(warning.to_owned()) {
            self.list.push(warning.to_owned());
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.omitted {
            self.list.push("further warnings omitted".to_owned());
        }
        self.list
    }
}

struct Expander<'s> {
    contents: &'s HashMap<String, Arc<str>>,
    out: String,
    dependencies: Vec<String>,
    warnings: Warnings,
    /// Prompts being expanded, outermost first; never deeper than `MAX_DEPTH + 1`.
    stack: Vec<String>,
    scanned: usize,
    stopped: bool,
}

impl<'s> Expander<'s> {
    fn expand_text(&mut self, text: &str) {
        let mut rest = text;
        while !self.stopped {
            let Some(inclusion) = next_inclusion(rest) else {
                self.emit(rest);
                return;
            };
            self.emit(&rest[..inclusion.start]);
            self.include(inclusion.name);
            rest = &rest[inclusion.end..];
        }
    }

    fn include(&mut self, name: &str) {
        if self.stack.iter().any(|s| s == name) {
            self.emit_marker("CIRCULAR DEPENDENCY", name);
            self.warnings.add(format!(
                "Circular dependency: prompt '{}' includes itself",
                short(name)
            ));
            return;
        }
        let contents = self.contents;
        let Some(content) = contents.get(name) else {
            self.emit_marker("PROMPT NOT FOUND", name);
            self.warnings
                .add(format!("Prompt '{}' not found", short(name)));
            return;
        };
        if self.stack.len() > MAX_DEPTH {
            self.emit_marker("MAX DEPTH EXCEEDED", name);
            self.warnings
                .add_limit("inclusions nested deeper than 32 levels were not expanded");
            return;
        }
        if self.scanned.saturating_add(content.len()) > MAX_SCANNED_BYTES {
            self.stopped = true;
            self.warnings
                .add_limit("expansion stopped: too much included content to process");
            return;
        }
        self.scanned += content.len();
        if !self.dependencies.iter().any(|d| d == name) {
            self.dependencies.push(name.to_owned());
        }
        self.stack.push(name.to_owned());
        self.expand_text(content);
        self.stack.pop();
    }

    fn emit_marker(&mut self, kind: &str, name: &str) {
        self.emit("[[");
        self.emit(kind);
        self.emit(": ");
        self.emit(name);
        self.emit("]]");
    }

    fn emit(&mut self, piece: &str) {
        if self.stopped {
            return;
        }
        let room = MAX_EXPANDED_BYTES - self.out.len();
        if piece.len() <= room {
            self.out.push_str(piece);
            return;
        }
        self.out
            .push_str(&piece[..floor_char_boundary(piece, room)]);
        self.stopped = true;
        self.warnings.add_limit("expansion truncated at 1 MiB");
    }
}

/// The largest char boundary of `s` at or below `index`.
pub fn floor_char_boundary(s: &str, index: usize) -> usize {
    if index >= s.len() {
        return s.len();
    }
    (0..=index)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

/// A name as quoted in a warning: long names are cut so warnings stay small.
fn short(name: &str) -> String {
    if name.len() <= MAX_NAME_IN_WARNING {
        return name.to_owned();
    }
    format!(
        "{}…",
        &name[..floor_char_boundary(name, MAX_NAME_IN_WARNING)]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(root: &str, content: &str) -> Expansion {
        Store::seeded().snapshot().expand(root, content)
    }

    #[test]
    fn expands_dependencies_recursively_in_order_of_first_appearance() {
        let e = seeded("editor", "[[summary]] / [[signature]]");
        assert_eq!(
            e.expanded,
            "Summary of Hello! -- The team and [[PROMPT NOT FOUND: missing_part]] / -- The team"
        );
        assert_eq!(e.dependencies, ["summary", "greeting", "signature"]);
        assert_eq!(e.warnings, ["Prompt 'missing_part' not found"]);
    }

    #[test]
    fn reports_missing_prompts_once_per_name() {
        let e = seeded("greeting", "[[ nope ]] and [[nope]]");
        assert_eq!(
            e.expanded,
            "[[PROMPT NOT FOUND: nope]] and [[PROMPT NOT FOUND: nope]]"
        );
        assert!(e.dependencies.is_empty());
        assert_eq!(e.warnings, ["Prompt 'nope' not found"]);
    }

    #[test]
    fn breaks_cycles() {
        let e = seeded("greeting", "[[cycle_a]]");
        assert_eq!(e.expanded, "A then B then [[CIRCULAR DEPENDENCY: cycle_a]]");
        assert_eq!(e.dependencies, ["cycle_a", "cycle_b"]);
        assert_eq!(e.warnings.len(), 1);
        assert!(e.warnings[0].contains("cycle_a"));
    }

    #[test]
    fn a_prompt_including_itself_is_a_cycle() {
        let e = seeded("greeting", "Hi [[greeting]]");
        assert_eq!(e.expanded, "Hi [[CIRCULAR DEPENDENCY: greeting]]");
        assert!(e.dependencies.is_empty());
        assert_eq!(e.warnings.len(), 1);
        let e = seeded("cycle_a", "[[cycle_b]]");
        assert_eq!(e.expanded, "B then [[CIRCULAR DEPENDENCY: cycle_a]]");
        assert_eq!(e.dependencies, ["cycle_b"]);
    }

    #[test]
    fn malformed_brackets_stay_literal() {
        for text in [
            "[[", "[[]]", "[[  ]]", "a [[b", "[[a\nb]]", "[[a[b]]", "]] [[ [", "plain", "", "[[[",
        ] {
            let e = seeded("x", text);
            assert_eq!(e.expanded, text, "for {text:?}");
            assert!(e.dependencies.is_empty() && e.warnings.is_empty());
            assert!(!is_composite(text), "for {text:?}");
        }
        let e = seeded("x", "[[[signature]]");
        assert_eq!(e.expanded, "[[[signature]]");
        let e = seeded("x", "[[ ]][[signature]]]");
        assert_eq!(e.expanded, "[[ ]]-- The team]");
        let e = seeded("x", "é[[signature]]é");
        assert_eq!(e.expanded, "é-- The teamé");
    }

    #[test]
    fn is_composite_follows_content() {
        let mut store = Store::seeded();
        assert!(store.get("greeting").is_some_and(|p| p.is_composite));
        assert!(store.get("signature").is_some_and(|p| !p.is_composite));
        assert!(store.set_content("signature", "[[greeting]]", "2026-01-01T00:00:00Z"));
        assert!(store.get("signature").is_some_and(|p| p.is_composite));
        assert!(!store.set_content("nope", "x", "2026-01-01T00:00:00Z"));
        assert!(store.get("nope").is_none());
    }

    #[test]
    fn metadata_changes_only_present_fields() {
        let mut store = Store::seeded();
        let change = MetadataChange {
            description: Some(None),
            tags: None,
        };
        let p = store.set_metadata("greeting", change, "2026-02-02T00:00:00Z");
        let p = p.map(|p| (p.description.clone(), p.tags.clone(), p.updated_at.clone()));
        assert_eq!(
            p,
            Some((
                None,
                vec!["greeting".to_owned(), "draft".to_owned()],
                Some("2026-02-02T00:00:00Z".to_owned())
            ))
        );
    }

    #[test]
    fn depth_is_capped() {
        let mut store = Store::default();
        for i in 0..40 {
            store.insert(
                &format!("p{i}"),
                &format!("{i} [[p{}]]", i + 1),
                None,
                &[],
                None,
            );
        }
        store.insert("p40", "end", None, &[], None);
        let e = store.snapshot().expand("root", "[[p0]]");
        assert_eq!(e.dependencies.len(), MAX_DEPTH);
        assert!(e.expanded.ends_with("[[MAX DEPTH EXCEEDED: p32]]"));
        assert_eq!(e.warnings.len(), 1);
        assert!(e.warnings[0].contains("deeper"));
    }

    #[test]
    fn output_is_capped_at_one_mebibyte() {
        let mut store = Store::default();
        store.insert("big", &"é".repeat(300_000), None, &[], None);
        let e = store.snapshot().expand("root", "[[big]][[big]][[missing]]");
        assert!(e.expanded.len() <= MAX_EXPANDED_BYTES);
        assert!(e.expanded.len() > MAX_EXPANDED_BYTES - 4);
        assert_eq!(e.warnings, ["expansion truncated at 1 MiB"]);
        assert_eq!(e.dependencies, ["big"]);
    }

    #[test]
    fn work_is_bounded_when_inclusions_expand_to_nothing() {
        let mut store = Store::default();
        store.insert("empty", "", None, &[], None);
        let many = "[[empty]]".repeat(100_000);
        store.insert("l1", &many, None, &[], None);
        let many_l1 = "[[l1]]".repeat(100_000);
        let e = store.snapshot().expand("root", &many_l1);
        assert!(e.expanded.is_empty());
        assert_eq!(e.dependencies, ["l1", "empty"]);
        assert_eq!(
            e.warnings,
            ["expansion stopped: too much included content to process"]
        );
    }

    #[test]
    fn warnings_are_capped_and_names_shortened() {
        let text: String = (0..500).map(|i| format!("[[m{i}]]")).collect();
        let e = seeded("x", &text);
        assert_eq!(e.warnings.len(), MAX_WARNINGS + 1);
        assert_eq!(
            e.warnings.last().map(String::as_str),
            Some("further warnings omitted")
        );
        let long = "n".repeat(10_000);
        let e = seeded("x", &format!("[[{long}]]"));
        assert!(e.warnings[0].len() < 100);
        assert!(e.expanded.contains(&long));
    }

    #[test]
    fn hostile_bracket_runs_are_linear() {
        for text in [
            "[[".repeat(500_000),
            "[[a\n".repeat(250_000),
            "[[x]".repeat(250_000),
        ] {
            let e = seeded("x", &text);
            assert_eq!(e.expanded, text);
        }
    }

    #[test]
    fn floor_char_boundary_never_splits_chars() {
        assert_eq!(floor_char_boundary("aé", 2), 1);
        assert_eq!(floor_char_boundary("aé", 3), 3);
        assert_eq!(floor_char_boundary("aé", 10), 3);
        assert_eq!(floor_char_boundary("", 0), 0);
    }
}
