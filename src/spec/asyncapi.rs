//! Reads AsyncAPI 3.0 (and 2.x, recast as 3.0 first) with `x-wsfuzz-*` extensions into a `Spec`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use super::{
    pointer_segment, Broadcast, Channel, ContentType, Message, Operation, Param, Refusal, Spec,
    SpecError, TokenPlace,
};

/// The document with the file name, so every error can say where it comes from.
struct Doc<'a> {
    file: &'a str,
    root: Value,
}

impl Doc<'_> {
    fn error(&self, place: &str, what: impl Into<String>) -> SpecError {
        SpecError {
            file: self.file.to_string(),
            place: place.to_string(),
            what: what.into(),
        }
    }

    /// Follows a local `$ref` (`#/a/b`) to its target, returning the target and its place.
    fn follow<'v>(
        &'v self,
        value: &'v Value,
        place: &str,
    ) -> Result<(&'v Value, String), SpecError> {
        let mut current = (value, place.to_string());
        let mut seen = HashSet::new();
        while let Some(reference) = current.0.get("$ref") {
            let reference = reference
                .as_str()
                .ok_or_else(|| self.error(&current.1, "`$ref` must be a string"))?;
            let pointer = reference.strip_prefix('#').ok_or_else(|| {
                self.error(&current.1, format!("`$ref: {reference}` points into another file; wsfuzz reads local references (#/...) only"))
            })?;
            if !seen.insert(pointer.to_string()) {
                return Err(self.error(&current.1, format!("`$ref: {reference}` refers to itself")));
            }
            let target = self.root.pointer(pointer).ok_or_else(|| {
                self.error(&current.1, format!("`$ref: {reference}` points to nothing"))
            })?;
            current = (target, pointer.to_string());
        }
        Ok(current)
    }

    /// A copy of `value` with every `$ref` replaced by its target, so a schema stands alone.
    fn inline(&self, value: &Value, place: &str, depth: usize) -> Result<Value, SpecError> {
        if depth > 64 {
            return Err(self.error(place, "references nest more than 64 deep (a recursive schema?); wsfuzz needs schemas it can inline"));
        }
        let (value, place) = self.follow(value, place)?;
        Ok(match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, child) in map {
                    let inner = if matches!(
                        key.as_str(),
                        "examples" | "example" | "const" | "enum" | "default"
                    ) {
                        child.clone()
                    } else {
                        self.inline(
                            child,
                            &format!("{place}/{}", pointer_segment(key)),
                            depth + 1,
                        )?
                    };
                    out.insert(key.clone(), inner);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.inline(item, &format!("{place}/{i}"), depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }
}

pub(super) fn parse(text: &str, file: &str) -> Result<Spec, SpecError> {
    let root: Value = serde_yaml_ng::from_str(text).map_err(|e| SpecError {
        file: file.to_string(),
        place: e
            .location()
            .map(|l| format!("line {}, column {}", l.line(), l.column()))
            .unwrap_or_default(),
        what: format!("not valid YAML or JSON: {e}"),
    })?;
    let version = root
        .get("asyncapi")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| SpecError {
            file: file.to_string(),
            place: "/asyncapi".into(),
            what: "missing `asyncapi: 3.0.0` (or 2.6.0); is this an AsyncAPI document?".into(),
        })?;
    // A 2.x document is recast first, while its references still name its messages.
    let root = match version.split('.').next() {
        Some("3") => root,
        Some("2") => super::v2::upgrade(root, file)?,
        _ => {
            return Err(SpecError {
                file: file.to_string(),
                place: "/asyncapi".into(),
                what: format!("AsyncAPI {version} is not supported; wsfuzz reads 2.x and 3.x"),
            })
        }
    };
    let root = super::bundle::bundle(root, file)?;
    let doc = Doc { file, root };
    let (token, origin) = read_servers(&doc)?;
    let title = doc
        .root
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("untitled")
        .to_string();
    let default_type = doc
        .root
        .get("defaultContentType")
        .and_then(Value::as_str)
        .unwrap_or("application/json");
    let channels = object(&doc, doc.root.get("channels"), "/channels")?;
    if channels.is_empty() {
        return Err(doc.error("/channels", "the document has no channels"));
    }

    let mut built = Vec::new();
    for (id, raw) in channels {
        let place = format!("/channels/{}", pointer_segment(id));
        built.push(read_channel(&doc, id, raw, &place, default_type)?);
    }
    read_operations(&doc, &mut built, default_type)?;
    Ok(Spec {
        title,
        channels: built.into_iter().map(Arc::new).collect(),
        token,
        origin,
    })
}

/// Checks the servers (each `{variable}` of a host, pathname or URL is declared with a value)
/// and reads where their security scheme puts a token, and their `x-wsfuzz-origin`.
fn read_servers(doc: &Doc) -> Result<(Option<TokenPlace>, Option<String>), SpecError> {
    let (mut token, mut origin) = (None, None);
    for (name, server) in object(doc, doc.root.get("servers"), "/servers")? {
        let place = format!("/servers/{}", pointer_segment(name));
        let (server, place) = doc.follow(server, &place)?;
        let variables = object(doc, server.get("variables"), &format!("{place}/variables"))?;
        for key in ["host", "pathname", "url"] {
            let Some(text) = server.get(key).and_then(Value::as_str) else {
                continue;
            };
            for variable in placeholders(text) {
                let declared = variables.get(&variable).map(|v| doc.follow(v, &place));
                let has_value = match declared {
                    Some(Ok((v, _))) => v.get("default").is_some() || v.get("enum").is_some(),
                    _ => false,
                };
                if !has_value {
                    return Err(doc.error(
                        &format!("{place}/{key}"),
                        format!("`{{{variable}}}` needs an entry under `variables` with a `default` or an `enum`"),
                    ));
                }
            }
        }
        if let Some(Value::String(site)) = server.get("x-wsfuzz-origin") {
            origin.get_or_insert_with(|| site.clone());
        }
        let Some(Value::Array(requirements)) = server.get("security") else {
            continue;
        };
        for (i, requirement) in requirements.iter().enumerate() {
            let here = format!("{place}/security/{i}");
            // 3.0 refers to the scheme; 2.x names it, as a key, in components.securitySchemes.
            let scheme = match requirement.get("$ref").or(requirement.get("type")) {
                Some(_) => doc.follow(requirement, &here)?,
                None => {
                    match requirement.as_object().and_then(|m| m.keys().next()) {
                        Some(key) => {
                            let pointer =
                                format!("/components/securitySchemes/{}", pointer_segment(key));
                            let scheme = doc.root.pointer(&pointer).ok_or_else(|| {
                            doc.error(&here, format!("no security scheme `{key}` under components.securitySchemes"))
                        })?;
                            doc.follow(scheme, &pointer)?
                        }
                        None => continue,
                    }
                }
            };
            if let Some(place) = token_place(doc, scheme.0, &scheme.1)? {
                token.get_or_insert(place);
            }
        }
    }
    Ok((token, origin))
}

/// Where a security scheme puts a token, if it is one wsfuzz can send.
fn token_place(doc: &Doc, scheme: &Value, place: &str) -> Result<Option<TokenPlace>, SpecError> {
    let field = |key: &str| scheme.get(key).and_then(Value::as_str).unwrap_or("");
    Ok(match (field("type"), field("in"), field("scheme")) {
        ("http", _, scheme) if scheme.eq_ignore_ascii_case("bearer") => Some(TokenPlace::Bearer),
        ("httpApiKey", "header", _) => Some(TokenPlace::Header(field("name").to_string())),
        ("httpApiKey", "query", _) => Some(TokenPlace::Query(field("name").to_string())),
        ("httpApiKey", "cookie", _) => Some(TokenPlace::Cookie(field("name").to_string())),
        ("httpApiKey", other, _) => {
            return Err(doc.error(
                place,
                format!("`in: {other}` is not header, query or cookie"),
            ))
        }
        // Other schemes (user and password, OAuth, ...) take credentials given as headers.
        _ => None,
    })
}

fn object<'v>(
    doc: &Doc,
    value: Option<&'v Value>,
    place: &str,
) -> Result<&'v Map<String, Value>, SpecError> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match value {
        None | Some(Value::Null) => Ok(EMPTY.get_or_init(Map::new)),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(doc.error(place, "must be a mapping")),
    }
}

fn strings(doc: &Doc, value: Option<&Value>, place: &str) -> Result<Vec<String>, SpecError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(doc.error(place, "must list strings")),
            })
            .collect(),
        Some(_) => Err(doc.error(place, "must be a list")),
    }
}

fn read_channel(
    doc: &Doc,
    id: &str,
    raw: &Value,
    place: &str,
    default_type: &str,
) -> Result<Channel, SpecError> {
    let (raw, place) = doc.follow(raw, place)?;
    let address = raw
        .get("address")
        .and_then(Value::as_str)
        .ok_or_else(|| doc.error(&place, "a channel needs an `address` (the endpoint's path)"))?;
    let address = if address.starts_with('/') {
        address.to_string()
    } else {
        format!("/{address}")
    };

    let mut params = Vec::new();
    for (name, param) in object(doc, raw.get("parameters"), &format!("{place}/parameters"))? {
        let here = format!("{place}/parameters/{}", pointer_segment(name));
        let (param, here) = doc.follow(param, &here)?;
        // 3.0 puts the values on the parameter; 2.x on its `schema`.
        let (values, at) = match param.get("schema") {
            Some(schema) => (schema, format!("{here}/schema")),
            None => (param, here.clone()),
        };
        let mut known = strings(doc, param.get("examples"), &format!("{here}/examples"))?;
        known.extend(strings(
            doc,
            values.get("examples"),
            &format!("{at}/examples"),
        )?);
        known.extend(strings(doc, values.get("enum"), &format!("{at}/enum"))?);
        known.extend(strings(
            doc,
            values
                .get("default")
                .map(|d| Value::Array(vec![d.clone()]))
                .as_ref(),
            &at,
        )?);
        known.dedup();
        if known.is_empty() {
            return Err(doc.error(
                &here,
                "a parameter needs `examples` or `enum`: values the server accepts",
            ));
        }
        let refused = strings(
            doc,
            param.get("x-wsfuzz-refused"),
            &format!("{here}/x-wsfuzz-refused"),
        )?;
        params.push(Param {
            name: name.clone(),
            known,
            refused,
        });
    }
    for name in placeholders(&address) {
        if !params.iter().any(|p| p.name == name) {
            return Err(doc.error(
                &format!("{place}/address"),
                format!("`{{{name}}}` has no entry under `parameters`"),
            ));
        }
    }

    let refusal = match raw.get("x-wsfuzz-refusal") {
        None => None,
        Some(r) => {
            let here = format!("{place}/x-wsfuzz-refusal");
            let close_code = match r.get("closeCode") {
                None => None,
                Some(c) => Some(c.as_u64().and_then(|c| u16::try_from(c).ok()).ok_or_else(
                    || doc.error(&here, "`closeCode` must be a close code (a number)"),
                )?),
            };
            let reason = match r.get("reasonPattern").and_then(Value::as_str) {
                None => None,
                Some(p) => Some(
                    Regex::new(p)
                        .map_err(|e| doc.error(&here, format!("bad `reasonPattern`: {e}")))?,
                ),
            };
            Some(Refusal { close_code, reason })
        }
    };
    let max_message_bytes = match raw.get("x-wsfuzz-max-message-bytes") {
        None => None,
        Some(v) => Some(v.as_u64().map(|v| v as usize).ok_or_else(|| {
            doc.error(
                &place,
                "`x-wsfuzz-max-message-bytes` must be a whole number",
            )
        })?),
    };
    // Messages are read when operations name them; reading them all here catches broken ones early.
    for (name, message) in object(doc, raw.get("messages"), &format!("{place}/messages"))? {
        read_message(
            doc,
            name,
            message,
            &format!("{place}/messages/{}", pointer_segment(name)),
            default_type,
        )?;
    }
    Ok(Channel {
        id: id.to_string(),
        address,
        params,
        refusal,
        max_message_bytes,
        greeting: Vec::new(),
        pushed: Vec::new(),
        operations: Vec::new(),
        errors: Vec::new(),
        broadcasts: Vec::new(),
    })
}

/// The `{name}` placeholders of an address, in order.
pub(crate) fn placeholders(address: &str) -> Vec<String> {
    address
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

fn read_message(
    doc: &Doc,
    name: &str,
    raw: &Value,
    place: &str,
    default_type: &str,
) -> Result<Message, SpecError> {
    let (raw, place) = doc.follow(raw, place)?;
    let content_type = match raw
        .get("contentType")
        .and_then(Value::as_str)
        .unwrap_or(default_type)
    {
        t if t.contains("json") => ContentType::Json,
        t if t.starts_with("text/") => ContentType::Text,
        "application/octet-stream" => ContentType::Binary,
        other => {
            return Err(doc.error(
                &place,
                format!(
                "content type `{other}` is not supported (JSON, text/*, application/octet-stream)"
            ),
            ))
        }
    };
    let schema = match raw.get("payload") {
        Some(payload) => doc.inline(payload, &format!("{place}/payload"), 0)?,
        None => Value::Bool(true),
    };
    // AsyncAPI 3 lets a payload be a Multi Format Schema object wrapping the schema.
    let schema = match schema.get("schemaFormat") {
        Some(_) => schema.get("schema").cloned().unwrap_or(Value::Bool(true)),
        None => schema,
    };
    let message = Message::new(name.to_string(), content_type, schema)
        .map_err(|what| doc.error(&place, what))?;
    // Headers ride on transports that have them; a WebSocket message has none, but a broken
    // headers schema is still a broken spec.
    if let Some(headers) = raw.get("headers") {
        let here = format!("{place}/headers");
        let headers = doc.inline(headers, &here, 0)?;
        super::validator(&headers)
            .map_err(|e| doc.error(&here, format!("invalid JSON Schema for the headers: {e}")))?;
    }
    // The spec's examples seed generation; one its own schema refuses is a mistake in the spec.
    let mut examples = Vec::new();
    if let Some(Value::Array(items)) = raw.get("examples") {
        for (i, example) in items.iter().enumerate() {
            let Some(payload) = example.get("payload") else {
                continue;
            };
            if !message.accepts(payload) {
                return Err(doc.error(
                    &format!("{place}/examples/{i}/payload"),
                    format!(
                        "the example does not match its own payload schema: {}",
                        message.mismatch(&payload.to_string(), Some(payload))
                    ),
                ));
            }
            examples.push(payload.clone());
        }
    }
    Ok(Message {
        examples,
        ..message
    })
}

fn read_operations(
    doc: &Doc,
    channels: &mut [Channel],
    default_type: &str,
) -> Result<(), SpecError> {
    let operations = object(doc, doc.root.get("operations"), "/operations")?;
    let mut broadcasts: BTreeMap<usize, Vec<Broadcast>> = BTreeMap::new();
    for (id, raw) in operations {
        let place = format!("/operations/{}", pointer_segment(id));
        let (raw, place) = doc.follow(raw, &place)?;
        let channel_ref = raw
            .pointer("/channel/$ref")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                doc.error(
                    &place,
                    "an operation needs `channel: {$ref: '#/channels/...'}`",
                )
            })?;
        let channel_id = channel_ref
            .strip_prefix("#/channels/")
            .map(|c| c.replace("~1", "/").replace("~0", "~"))
            .ok_or_else(|| {
                doc.error(
                    &format!("{place}/channel"),
                    format!("`{channel_ref}` is not a channel reference"),
                )
            })?;
        let index = channels
            .iter()
            .position(|c| c.id == channel_id)
            .ok_or_else(|| {
                doc.error(
                    &format!("{place}/channel"),
                    format!("no channel `{channel_id}`"),
                )
            })?;
        let messages = message_list(
            doc,
            raw.get("messages"),
            &format!("{place}/messages"),
            default_type,
        )?;
        let action = raw.get("action").and_then(Value::as_str).unwrap_or("");
        match action {
            "send" => {
                let replies = message_list(
                    doc,
                    raw.pointer("/reply/messages"),
                    &format!("{place}/reply/messages"),
                    default_type,
                )?;
                channels[index].operations.push(Operation {
                    id: id.clone(),
                    messages,
                    replies,
                });
            }
            "receive" => match raw.get("x-wsfuzz-on").and_then(Value::as_str) {
                Some("connect") => channels[index].greeting.extend(messages),
                Some("error") => channels[index].errors.extend(messages),
                Some("broadcast") => {
                    let after = raw
                        .get("x-wsfuzz-after")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let when = match raw.get("x-wsfuzz-when-reply") {
                        None => None,
                        Some(schema) => Some(
                            Message::new(
                                format!("{id} condition"),
                                ContentType::Json,
                                schema.clone(),
                            )
                            .map_err(|what| {
                                doc.error(&format!("{place}/x-wsfuzz-when-reply"), what)
                            })?,
                        ),
                    };
                    let to_sender = match raw.get("x-wsfuzz-to").and_then(Value::as_str) {
                        None | Some("others") => false,
                        Some("all") => true,
                        Some(other) => {
                            return Err(doc.error(
                                &format!("{place}/x-wsfuzz-to"),
                                format!("`{other}` is not `others` or `all`"),
                            ))
                        }
                    };
                    broadcasts.entry(index).or_default().push(Broadcast {
                        after,
                        messages,
                        when,
                        to_sender,
                    });
                }
                None => channels[index].pushed.extend(messages),
                Some(other) => {
                    return Err(doc.error(
                        &format!("{place}/x-wsfuzz-on"),
                        format!("`{other}` is not one of connect, error, broadcast"),
                    ))
                }
            },
            other => {
                return Err(doc.error(
                    &format!("{place}/action"),
                    format!("`{other}` is not `send` or `receive`"),
                ))
            }
        }
    }
    for (index, list) in broadcasts {
        for broadcast in &list {
            if !broadcast.after.is_empty()
                && !channels[index]
                    .operations
                    .iter()
                    .any(|o| o.id == broadcast.after)
            {
                return Err(doc.error(
                    "/operations",
                    format!(
                        "`x-wsfuzz-after: {}` names no send operation of channel `{}`",
                        broadcast.after, channels[index].id
                    ),
                ));
            }
        }
        channels[index].broadcasts = list;
    }
    Ok(())
}

fn message_list(
    doc: &Doc,
    value: Option<&Value>,
    place: &str,
    default_type: &str,
) -> Result<Vec<Message>, SpecError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| doc.error(place, "must be a list of message references"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let here = format!("{place}/{i}");
            let name = item
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
                .unwrap_or("message")
                .to_string();
            read_message(doc, &name, item, &here, default_type)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        parse(text, "t.yaml").unwrap_err().to_string()
    }

    #[test]
    fn broken_documents_say_where_and_what() {
        assert!(
            error_of("asyncapi: [").starts_with("t.yaml: at line"),
            "{}",
            error_of("asyncapi: [")
        );
        assert_eq!(
            error_of("asyncapi: 1.2.0\nchannels: {}"),
            "t.yaml: at /asyncapi: AsyncAPI 1.2.0 is not supported; wsfuzz reads 2.x and 3.x"
        );
        assert_eq!(
            error_of("asyncapi: 2.6.0\nchannels:\n  /x:\n    publish: {operationId: p}"),
            "t.yaml: at /channels/~1x/publish: an operation needs a `message` (or `message: {oneOf: [...]}`)"
        );
        assert_eq!(
            error_of("asyncapi: 3.0.0\nservers:\n  s: {host: 'localhost:{port}', protocol: ws}\nchannels:\n  a: {address: /x}"),
            "t.yaml: at /servers/s/host: `{port}` needs an entry under `variables` with a `default` or an `enum`"
        );
        assert_eq!(
            error_of("asyncapi: 3.0.0\nchannels: {}"),
            "t.yaml: at /channels: the document has no channels"
        );
        assert_eq!(
            error_of("asyncapi: 3.0.0\nchannels:\n  a: {address: '/x/{id}'}"),
            "t.yaml: at /channels/a/address: `{id}` has no entry under `parameters`"
        );
        assert_eq!(
            error_of("asyncapi: 3.0.0\nchannels:\n  a: {address: /x, messages: {m: {$ref: '#/nowhere'}}}"),
            "t.yaml: at /channels/a/messages/m: `$ref: #/nowhere` points to nothing"
        );
        assert!(error_of(
            "asyncapi: 3.0.0\nchannels:\n  a: {address: /x, messages: {m: {$ref: 'other.yaml#/m'}}}"
        )
        .starts_with(
            "t.yaml: at /channels/a/messages/m: `$ref: other.yaml#/m`: cannot read other.yaml:"
        ));
        let bad_schema =
            "asyncapi: 3.0.0\nchannels:\n  a: {address: /x, messages: {m: {payload: {type: 12}}}}";
        assert!(
            error_of(bad_schema)
                .starts_with("t.yaml: at /channels/a/messages/m: invalid JSON Schema"),
            "{}",
            error_of(bad_schema)
        );
    }

    #[test]
    fn placeholders_are_found_in_order() {
        assert_eq!(placeholders("/a/{x}/b/{y}"), vec!["x", "y"]);
        assert!(placeholders("/plain").is_empty());
    }
}
