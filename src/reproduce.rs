//! Standalone reproductions: a finding's minimal case as a Python script that writes the same bytes, needing no wsfuzz.
//!
//! The script is the runtime in `reproduce.py` (sockets, frames, the closing handshake, with
//! Python's standard library alone) followed by one function per connection that plays the
//! case step by step: the handshake and frames as the exact bytes wsfuzz wrote, messages as
//! their text, and the same waits, drops and resets. It prints what the server sends back.

use std::fmt::Write as _;

use crate::campaign::Finding;
use crate::case::{Case, Disconnect, Layer, Leaving, Payload, Step};
use crate::runner::{address_and_path, as_frame, Timing};
use crate::spec::Channel;
use crate::target::{Route, Target};
use crate::wire::frame::{hex, Frame};
use crate::wire::handshake::Handshake;
use crate::wire::rfc::{self, Obligation};

const RUNTIME: &str = include_str!("reproduce.py");

/// The script for `finding`, found on `target`'s channel `route`, to be saved as `file`.
pub fn python(
    finding: &Finding,
    target: &Target,
    route: &Route,
    timing: Timing,
    file: &str,
) -> String {
    let case = &finding.case;
    let cases: Vec<&Case> = std::iter::once(case).chain(&case.alongside).collect();
    let mut out = String::new();
    let _ = writeln!(out, "#!/usr/bin/env python3");
    let _ = writeln!(
        out,
        "# A wsfuzz finding: {} on channel `{}`.\n#",
        finding.check,
        comment(&finding.channel)
    );
    let _ = writeln!(out, "# expected: {}", comment(&finding.expected));
    let _ = writeln!(out, "# got:      {}\n#", comment(&finding.actual));
    let _ = writeln!(
        out,
        "# Plays the minimal case with Python 3's standard library alone and prints what the\n\
         # server sends back. Run it as\n#\n#     python3 {} [URL]\n#\n\
         # where URL defaults to the server the finding was made on.",
        comment(file)
    );
    let runtime = RUNTIME
        .replacen("\"@FOUND_ON@\"", &literal(&target.base), 1)
        .replacen("@TIMEOUT@", &timing.timeout.as_secs_f64().to_string(), 1)
        .replacen(
            "\"@ORIGIN@\"",
            &literal(target.credentials.origin.as_deref().unwrap_or("")),
            1,
        );
    out.push_str(&runtime);
    // Each connection is a function, on its own channel with that channel's rules: the cases
    // played first, one after the other, leave the state the finding needs; then the case and
    // those alongside it play at once.
    let mut function = |name: String, case: &Case, label: String, several: bool| {
        let _ = writeln!(out, "\n\ndef {name}():");
        let channel = target
            .routes
            .iter()
            .find(|r| r.channel.id == case.endpoint.channel)
            .unwrap_or(route);
        let script = Script {
            target,
            channel: &channel.channel,
            timing,
            several,
        };
        out.push_str(&script.body(case, &label));
        name
    };
    let names: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(n, c)| {
            function(
                format!("connection_{}", n + 1),
                c,
                (n + 1).to_string(),
                cases.len() > 1,
            )
        })
        .collect();
    let earlier: Vec<String> = case
        .before
        .iter()
        .enumerate()
        .map(|(n, c)| {
            function(
                format!("before_{}", n + 1),
                c,
                format!("before {}", n + 1),
                true,
            )
        })
        .collect();
    let (authority, path) = address_and_path(&target.url(&route.probe_endpoint()));
    let probe = Handshake::standard().encode(&authority, &path);
    let _ = writeln!(out, "\n\nif __name__ == \"__main__\":");
    for name in &earlier {
        let _ = writeln!(out, "    {name}()");
    }
    let _ = writeln!(out, "    together({})", names.join(", "));
    let _ = writeln!(out, "    probe({})", literal(&hex(&probe)));
    let _ = writeln!(
        out,
        "    print(\"wsfuzz expected:\", {})",
        literal(&finding.expected)
    );
    let _ = writeln!(
        out,
        "    print(\"wsfuzz got:     \", {})",
        literal(&finding.actual)
    );
    out
}

/// Writes the lines of one connection's function.
struct Script<'a> {
    target: &'a Target,
    channel: &'a Channel,
    timing: Timing,
    several: bool,
}

impl Script<'_> {
    fn body(&self, case: &Case, number: &str) -> String {
        let mut out = Lines::default();
        let name = if self.several { number } else { "" };
        match case.layer() {
            Layer::Messages => self.messages(case, name, &mut out),
            Layer::Clients => self.scenario(case, &mut out),
            _ => self.raw(case, name, &mut out),
        }
        if out.0.is_empty() {
            out.line("pass");
        }
        out.0
    }

    /// The request path of `case`'s endpoint with the URL's query.
    fn request(&self, handshake: &Handshake, case: &Case) -> Vec<u8> {
        let (authority, path) = address_and_path(&self.target.url(&case.endpoint));
        handshake.encode(&authority, &path)
    }

    /// Messages through a conforming client: each answered (or not) within its time.
    fn messages(&self, case: &Case, name: &str, out: &mut Lines) {
        let request = self.request(&Handshake::standard(), case);
        out.line(format!(
            "c = connect({}, {})",
            literal(name),
            literal(&hex(&request))
        ));
        if self
            .channel
            .speaks_first(self.channel.admits(&case.endpoint.params))
        {
            out.line(format!("answer(c, {})", self.timing.timeout.as_millis()));
        }
        for step in &case.steps {
            if let Step::Send(payload) = step {
                self.say("c", payload, out);
            }
        }
        out.line("close(c)");
    }

    /// Sends `payload` on connection `conn` and reads its answer.
    fn say(&self, conn: &str, payload: &Payload, out: &mut Lines) {
        self.send(conn, payload, out);
        self.answer(conn, payload, out);
    }

    fn send(&self, conn: &str, payload: &Payload, out: &mut Lines) {
        let line = match payload {
            Payload::Binary(bytes) => format!("message({conn}, 2, bytes.fromhex({}))", {
                literal(&hex(bytes))
            }),
            _ => format!(
                "message({conn}, 1, {}.encode())",
                literal(&payload.text().unwrap_or_default())
            ),
        };
        out.line(line);
    }

    fn answer(&self, conn: &str, payload: &Payload, out: &mut Lines) {
        let wire = payload.text();
        let expectation = self.channel.classify_wire(payload, wire.as_deref());
        let wait = self
            .timing
            .for_answer(self.channel, &expectation, payload.len());
        out.line(format!("answer({conn}, {})", wait.as_millis()));
    }

    /// Frames, handshakes and disconnects, byte for byte on a raw socket.
    fn raw(&self, case: &Case, name: &str, out: &mut Lines) {
        let handshake = case.handshake.clone().unwrap_or_else(Handshake::standard);
        let request = self.request(&handshake, case);
        let mut call = format!("c = connect({}, {}", literal(name), literal(&hex(&request)));
        if let Some(chunk) = handshake.chunk {
            let _ = write!(call, ", chunk={chunk}");
        }
        if let Some(change) = case.credentials {
            let change = serde_json::to_value(change).unwrap_or_default();
            let _ = write!(call, ", change={}", literal(change.as_str().unwrap_or("")));
        }
        if let Some(cut) = handshake.drop_after {
            let _ = write!(call, ", cut={}", cut.min(request.len()));
            out.line(call + ")");
            return;
        }
        out.line(call + ")");
        if handshake.must_refuse().is_some() {
            out.line("ended(c)");
            return;
        }
        // As wsfuzz does: nothing past the first frame the server must fail the connection for.
        let frames: Vec<Frame> = case.steps.iter().filter_map(as_frame).collect();
        let obligation = rfc::obligation(&frames, self.channel.max_message_bytes);
        let last = match obligation {
            Obligation::Fail { at, .. } | Obligation::Either { at, .. } => at,
            _ => frames.len(),
        };
        let mut sent = 0;
        for step in &case.steps {
            if let Some(frame) = as_frame(step) {
                if sent == last {
                    break;
                }
                sent += 1;
                let drip = if frame.drip { ", drip=True" } else { "" };
                out.line(format!(
                    "send(c, {}, {}{drip})",
                    literal(&hex(&frame.encode())),
                    literal(&frame.to_string())
                ));
                continue;
            }
            match step {
                Step::Wait { ms } => out.line(format!("wait({})", (*ms).min(2_000))),
                Step::Burst { connections } => {
                    let standard = self.request(&Handshake::standard(), case);
                    out.line(format!(
                        "burst({}, {}, {})",
                        literal(name),
                        literal(&hex(&standard)),
                        connections.min(&100)
                    ));
                }
                Step::Disconnect(how) => {
                    match how {
                        Disconnect::Drop => out.line("drop(c)"),
                        Disconnect::Reset => out.line("reset(c)"),
                        Disconnect::HalfClose => out.line("half_close(c)"),
                        Disconnect::MidFrame(frame) => {
                            let bytes = frame.encode();
                            out.line(format!(
                                "send(c, {}, {})",
                                literal(&hex(&bytes[..bytes.len() / 2])),
                                literal(&format!("the first half of {frame}"))
                            ));
                            out.line("drop(c)");
                        }
                    }
                    return;
                }
                _ => {}
            }
        }
        match obligation {
            // The server must close: wait for its close frame and the end of TCP.
            Obligation::Fail { .. } | Obligation::Close { .. } => out.line("ended(c)"),
            // It must keep the connection in order: ask with a ping, then close cleanly.
            _ => {
                out.line("ping(c)");
                out.line("close(c)");
            }
        }
    }

    /// Several clients joining, speaking and leaving, one after the other as wsfuzz played them.
    fn scenario(&self, case: &Case, out: &mut Lines) {
        let conn = |client: &u8| format!("c{client}");
        let mut present: Vec<u8> = Vec::new();
        let mut done = vec![false; case.steps.len()];
        for (index, step) in case.steps.iter().enumerate() {
            if std::mem::replace(&mut done[index], true) {
                continue;
            }
            match step {
                Step::Join { client, params } => {
                    if present.contains(client) {
                        continue;
                    }
                    let mut endpoint = case.endpoint.clone();
                    endpoint.params = params.clone();
                    let joined = Case::scenario(&endpoint);
                    let request = self.request(&Handshake::standard(), &joined);
                    out.line(format!(
                        "{} = connect({}, {})",
                        conn(client),
                        literal(&format!("client {client}")),
                        literal(&hex(&request))
                    ));
                    if !self.channel.greeting.is_empty() {
                        out.line(format!(
                            "answer({}, {})",
                            conn(client),
                            self.timing.timeout.as_millis()
                        ));
                    }
                    present.push(*client);
                }
                Step::Say { client, payload } if present.contains(client) => {
                    self.send(&conn(client), payload, out);
                    // Abrupt leaves right after a message happen at once: in the middle of its broadcast.
                    for (later, next) in case.steps.iter().enumerate().skip(index + 1) {
                        match next {
                            Step::Leave { client: c, how }
                                if *how != Leaving::Close && c != client =>
                            {
                                done[later] = true;
                                if present.contains(c) {
                                    present.retain(|p| p != c);
                                    out.line(leave(&conn(c), *how));
                                }
                            }
                            _ => break,
                        }
                    }
                    self.answer(&conn(client), payload, out);
                }
                Step::Leave { client, how } if present.contains(client) => {
                    present.retain(|p| p != client);
                    out.line(leave(&conn(client), *how));
                }
                _ => {}
            }
        }
        // What the clients still there heard meanwhile (broadcasts), then a clean goodbye.
        for client in &present {
            out.line(format!(
                "answer({}, {}, until=())",
                conn(client),
                self.timing.quiet.as_millis()
            ));
        }
        for client in &present {
            out.line(format!("close({})", conn(client)));
        }
    }
}

fn leave(conn: &str, how: Leaving) -> String {
    match how {
        Leaving::Close => format!("close({conn})"),
        Leaving::Drop => format!("drop({conn})"),
        Leaving::Reset => format!("reset({conn})"),
    }
}

/// Indented lines of a function body.
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn line(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.0, "    {}", line.as_ref());
    }
}

/// Text for a comment line: control characters (line breaks among them) escaped.
fn comment(text: &str) -> String {
    text.escape_debug().to_string()
}

/// A Python string literal: JSON's string escapes are Python's too.
fn literal(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}
