//! References to other files (`$ref: common.yaml#/components/schemas/Id`) resolved into one document before it is read.
//!
//! A reference into another file is replaced by what it points to, read relative to the file
//! that holds the reference. References inside another file are resolved in that file, so
//! they mean what its author meant; references inside the document itself stay as they are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::SpecError;

/// Deepest chain of references followed from one place: past it, a cycle is assumed.
const MAX_DEPTH: usize = 32;
/// Most values the resolved document may hold: references that fan out cannot blow it up.
const MAX_NODES: usize = 1_000_000;

/// Replaces every reference to another file in `root` (read from `file`) by its target.
pub(super) fn bundle(root: Value, file: &str) -> Result<Value, SpecError> {
    let mut bundler = Bundler {
        main: file.to_string(),
        loaded: HashMap::new(),
        nodes: 0,
    };
    let base = Path::new(file);
    bundler.resolve(root, base, None, "", 0)
}

struct Bundler {
    main: String,
    /// Other files read so far, by path.
    loaded: HashMap<PathBuf, Value>,
    /// Values produced so far.
    nodes: usize,
}

impl Bundler {
    fn error(&self, place: &str, what: String) -> SpecError {
        SpecError {
            file: self.main.clone(),
            place: place.to_string(),
            what,
        }
    }

    /// `value` with its references resolved. `file` is the file it comes from; `root` is that
    /// file's document when it is another file (whose local references are resolved here too).
    fn resolve(
        &mut self,
        value: Value,
        file: &Path,
        root: Option<&Value>,
        place: &str,
        depth: usize,
    ) -> Result<Value, SpecError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.error(
                place,
                format!("references expand to more than {MAX_NODES} values"),
            ));
        }
        if depth > MAX_DEPTH {
            return Err(self.error(
                place,
                format!("references nest more than {MAX_DEPTH} deep (a cycle between files?)"),
            ));
        }
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    let reference = reference.clone();
                    if reference.starts_with('#') && root.is_none() {
                        return Ok(Value::Object(map));
                    }
                    let (target, target_file, target_root) =
                        self.target(&reference, file, root, place)?;
                    return self.resolve(
                        target,
                        &target_file,
                        Some(&target_root),
                        place,
                        depth + 1,
                    );
                }
                let mut out = serde_json::Map::new();
                for (key, child) in map {
                    let here = format!("{place}/{}", super::pointer_segment(&key));
                    // Literal values are data, not schemas: a `$ref` key in an example stays.
                    let child = if matches!(
                        key.as_str(),
                        "examples" | "example" | "const" | "enum" | "default"
                    ) {
                        child
                    } else {
                        self.resolve(child, file, root, &here, depth)?
                    };
                    out.insert(key, child);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| self.resolve(item, file, root, &format!("{place}/{i}"), depth))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other),
        }
    }

    /// What `reference`, found in `file`, points to: the value, its file and that file's document.
    fn target(
        &mut self,
        reference: &str,
        file: &Path,
        root: Option<&Value>,
        place: &str,
    ) -> Result<(Value, PathBuf, Value), SpecError> {
        let (path, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        let (target_file, document) = if path.is_empty() {
            let Some(root) = root else {
                return Err(self.error(place, format!("`$ref: {reference}` points nowhere")));
            };
            (file.to_path_buf(), root.clone())
        } else {
            let target_file = file.parent().unwrap_or(Path::new("")).join(path);
            let document = self.load(&target_file, reference, place)?;
            (target_file, document)
        };
        let pointer = percent_decode(pointer);
        let target = document.pointer(&pointer).cloned().ok_or_else(|| {
            self.error(
                place,
                format!(
                    "`$ref: {reference}`: {} has nothing at `{pointer}`",
                    target_file.display()
                ),
            )
        })?;
        Ok((target, target_file, document))
    }

    fn load(&mut self, path: &Path, reference: &str, place: &str) -> Result<Value, SpecError> {
        if let Some(document) = self.loaded.get(path) {
            return Ok(document.clone());
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            self.error(
                place,
                format!("`$ref: {reference}`: cannot read {}: {e}", path.display()),
            )
        })?;
        let document: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            self.error(
                place,
                format!(
                    "`$ref: {reference}`: {} is not valid YAML or JSON: {e}",
                    path.display()
                ),
            )
        })?;
        self.loaded.insert(path.to_path_buf(), document.clone());
        Ok(document)
    }
}

/// A reference's fragment with `%xx` escapes decoded (JSON pointers in URIs are percent-encoded).
fn percent_decode(pointer: &str) -> String {
    percent_encoding::percent_decode_str(pointer)
        .decode_utf8_lossy()
        .into_owned()
}
