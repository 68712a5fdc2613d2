//! RFC 6455 as an oracle: what a client's frames oblige a server to do, and what is wrong with a server's frames.

use super::frame::{known_opcode, Frame, Length, CLOSE, CONTINUATION, PING, PONG, TEXT};

/// What a server owes a client for the frames it sent, in order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Obligation {
    /// Nothing wrong: the connection stays open and a ping gets its pong.
    KeepOpen,
    /// Frame `at` (from 1) breaks the protocol: the server must fail the connection with a
    /// close frame carrying one of `codes`, then close TCP. When whole messages came first
    /// (`after_messages`), the application may have closed for them, with a code of its own.
    Fail {
        at: usize,
        what: String,
        codes: Vec<u16>,
        after_messages: bool,
    },
    /// Frame `at` is one a server may take or fail the connection for, with one of `codes`.
    Either {
        at: usize,
        what: String,
        codes: Vec<u16>,
    },
    /// Frame `at` is a valid close: the server answers with a close frame and closes TCP.
    Close { at: usize },
}

/// Declared lengths from here on are past any server's limit (2^31 bytes).
pub const ABSURD: u64 = 1 << 31;

/// What is wrong with a frame's declared length, if it is one no server can take: past
/// [`ABSURD`], or with the top bit set that RFC 6455 §5.2 keeps 0. Said of a continuation
/// too, since a server adds it to the message so far (where a size check can wrap).
pub fn boundary(frame: &Frame, continues: bool) -> Option<String> {
    let Length::Declared(n) = frame.length else {
        return None;
    };
    if n < ABSURD {
        return None;
    }
    let frame = if continues && frame.opcode == CONTINUATION {
        "a continuation"
    } else {
        "a frame"
    };
    Some(match n >> 63 {
        1 => format!("{frame} declaring a length with the top bit set (§5.2)"),
        _ => format!("{frame} declaring a length past any limit"),
    })
}

/// Judges a client's frames from the server's side, frame by frame, as RFC 6455 reads them.
/// `max_message` is the size the server promises to accept, past which it may refuse with 1009.
pub fn obligation(frames: &[Frame], max_message: Option<usize>) -> Obligation {
    let mut fragmented: Option<(u8, Vec<u8>)> = None;
    let mut lenient: Option<Obligation> = None;
    let mut messages = 0;
    for (i, frame) in frames.iter().enumerate() {
        let fail = |at: usize, what: &str, codes: &[u16]| Obligation::Fail {
            at: at + 1,
            what: what.into(),
            codes: codes.to_vec(),
            after_messages: messages > 0,
        };
        let len = frame.payload.len() as u64;
        if !frame.masked {
            return fail(i, "an unmasked frame from a client (§5.1)", &[1002]);
        }
        if frame.rsv != 0 {
            return fail(
                i,
                "RSV bits set with no extension negotiated (§5.2)",
                &[1002],
            );
        }
        if !known_opcode(frame.opcode) {
            return fail(i, "a reserved opcode (§5.2)", &[1002]);
        }
        if let Some(what) = boundary(frame, fragmented.is_some()) {
            return fail(i, &what, &[1009, 1002]);
        }
        let non_minimal = matches!(frame.length, Length::Bits16 if len < 126)
            || matches!(frame.length, Length::Bits64 if len <= 0xFFFF);
        if non_minimal && lenient.is_none() {
            lenient = Some(Obligation::Either {
                at: i + 1,
                what: "a length in more bytes than needed (§5.2)".into(),
                codes: vec![1002],
            });
        }
        if frame.is_control() {
            if len > 125 {
                return fail(i, "a control frame over 125 bytes (§5.5)", &[1002]);
            }
            if !frame.fin {
                return fail(i, "a fragmented control frame (§5.5)", &[1002]);
            }
            if frame.opcode == CLOSE {
                match close_problem(&frame.payload) {
                    Some((what, codes)) => return fail(i, what, codes),
                    None => return lenient.unwrap_or(Obligation::Close { at: i + 1 }),
                }
            }
            continue;
        }
        let message = match (frame.opcode, fragmented.take()) {
            (CONTINUATION, None) => {
                return fail(
                    i,
                    "a continuation frame with nothing to continue (§5.4)",
                    &[1002],
                )
            }
            (CONTINUATION, Some((opcode, mut so_far))) => {
                so_far.extend_from_slice(&frame.payload);
                (opcode, so_far)
            }
            (_, Some(_)) => {
                return fail(
                    i,
                    "a new data frame inside a fragmented message (§5.4)",
                    &[1002],
                )
            }
            (opcode, None) => (opcode, frame.payload.clone()),
        };
        if max_message.is_some_and(|max| message.1.len() > max) {
            lenient.get_or_insert(Obligation::Either {
                at: i + 1,
                what: "a message over the size the server promises".into(),
                codes: vec![1009],
            });
        }
        if message.0 == TEXT && invalid_utf8(&message.1, frame.fin) {
            // 1007 is the code for it; 1002, the general protocol error, is taken too.
            if frame.fin {
                return fail(i, "text that is not UTF-8 (§8.1)", &[1007, 1002]);
            }
            // Mid-message a server may fail at once or wait for the end (Autobahn 6.4 calls both fine).
            lenient.get_or_insert(Obligation::Either {
                at: i + 1,
                what: "a text fragment that cannot become UTF-8 (§8.1)".into(),
                codes: vec![1007, 1002],
            });
        }
        if frame.fin {
            messages += 1;
        } else {
            fragmented = Some(message);
        }
    }
    lenient.unwrap_or(Obligation::KeepOpen)
}

/// Whether `bytes` cannot be (the start of) UTF-8 text: a complete message must be valid,
/// an incomplete one may only end in the middle of a character.
fn invalid_utf8(bytes: &[u8], complete: bool) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => false,
        Err(e) => complete || e.error_len().is_some(),
    }
}

/// What is wrong with a close frame's payload, and the codes that say so (either, when both
/// its code and its reason are wrong).
pub fn close_problem(payload: &[u8]) -> Option<(&'static str, &'static [u16])> {
    match payload {
        [] => None,
        [_] => Some(("a close frame with a 1-byte payload (§5.5.1)", &[1002])),
        [hi, lo, reason @ ..] => match (
            close_code_allowed(u16::from_be_bytes([*hi, *lo])),
            std::str::from_utf8(reason).is_ok(),
        ) {
            (true, true) => None,
            (false, true) => Some(("a close code that may not be sent (§7.4)", &[1002])),
            (true, false) => Some(("a close reason that is not UTF-8 (§5.5.1)", &[1007, 1002])),
            (false, false) => Some((
                "a close code that may not be sent (§7.4), with a reason that is not UTF-8",
                &[1002, 1007],
            )),
        },
    }
}

/// Close codes an endpoint may put on the wire (§7.4.1, §7.4.2, and the IANA registry).
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A frame as read from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Reads a server's frames from its bytes, noting every way they break RFC 6455.
pub struct Reader {
    buffer: Vec<u8>,
    /// Where the unread bytes of `buffer` start: frames are read without moving the rest.
    start: usize,
    /// The message being assembled from fragments: only checked as it comes, never kept.
    fragmented: Option<Assembly>,
    /// RSV1 is allowed once the server accepted an extension.
    extension: bool,
    limit: usize,
    /// What a client must fail the connection for: the server's users lose it.
    pub violations: Vec<String>,
    /// What breaks the RFC's letter but clients in use take (a length in more bytes than
    /// needed, a close code or reason that may not be sent): it harms nobody.
    pub nits: Vec<String>,
}

/// Why reading stopped for good.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    TooLarge(u64),
}

impl Reader {
    pub fn new(extension: bool, limit: usize) -> Reader {
        Reader {
            buffer: Vec::new(),
            start: 0,
            fragmented: None,
            extension,
            limit,
            violations: Vec::new(),
            nits: Vec::new(),
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        // What was read is dropped once it is half the buffer, so a flood of small frames
        // costs a copy of each byte once, not once per frame.
        if self.start > 0 && self.start >= self.buffer.len() / 2 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame, if the bytes so far hold one.
    pub fn next_frame(&mut self) -> Result<Option<Received>, Unreadable> {
        let b = &self.buffer[self.start..];
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, rsv, opcode, masked) = (
            b[0] & 0x80 != 0,
            (b[0] >> 4) & 0x7,
            b[0] & 0xF,
            b[1] & 0x80 != 0,
        );
        let (len, mut at, minimal) = match b[1] & 0x7F {
            126 if b.len() >= 4 => {
                let n = u64::from(u16::from_be_bytes([b[2], b[3]]));
                (n, 4, n >= 126)
            }
            127 if b.len() >= 10 => {
                let n = u64::from_be_bytes(b[2..10].try_into().expect("eight bytes"));
                (n, 10, n > 0xFFFF)
            }
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2, true),
        };
        if len > self.limit as u64 {
            return Err(Unreadable::TooLarge(len));
        }
        let mask = if masked {
            if b.len() < at + 4 {
                return Ok(None);
            }
            at += 4;
            Some([b[at - 4], b[at - 3], b[at - 2], b[at - 1]])
        } else {
            None
        };
        let end = at + len as usize;
        if b.len() < end {
            return Ok(None);
        }
        let mut payload = b[at..end].to_vec();
        if let Some(key) = mask {
            payload
                .iter_mut()
                .enumerate()
                .for_each(|(i, byte)| *byte ^= key[i % 4]);
        }
        self.start += end;
        let frame = Received {
            fin,
            rsv,
            opcode,
            payload,
        };
        self.judge(&frame, masked, minimal);
        Ok(Some(frame))
    }

    fn judge(&mut self, f: &Received, masked: bool, minimal: bool) {
        let name = super::frame::opcode_name(f.opcode);
        if !minimal {
            self.nits.push(format!(
                "a {name} frame whose length takes more bytes than needed (§5.2)"
            ));
        }
        if f.opcode == CLOSE {
            if let Some((what, _)) = close_problem(&f.payload) {
                self.nits.push(what.replace("a close", "a server close"));
            }
        }
        let mut note = |what: String| self.violations.push(what);
        if masked {
            note(format!("a masked {name} frame from the server (§5.1)"));
        }
        if f.rsv != 0 && !(self.extension && f.rsv == 0b100) {
            note(format!(
                "a {name} frame with RSV bits {:03b} and no extension to explain them (§5.2)",
                f.rsv
            ));
        }
        if !known_opcode(f.opcode) {
            note(format!("{name} (§5.2)"));
            return;
        }
        if f.opcode >= CLOSE {
            if f.payload.len() > 125 {
                note(format!(
                    "a {name} frame of {} bytes, over 125 (§5.5)",
                    f.payload.len()
                ));
            }
            if !f.fin {
                note(format!("a fragmented {name} frame (§5.5)"));
            }
            return;
        }
        let mut message = match (f.opcode, self.fragmented.take()) {
            (CONTINUATION, None) => {
                note("a continuation frame with nothing to continue (§5.4)".into());
                return;
            }
            (CONTINUATION, Some(so_far)) => so_far,
            (_, Some(_)) => {
                note("a new data frame inside a fragmented message (§5.4)".into());
                Assembly::new(f.opcode)
            }
            (opcode, None) => Assembly::new(opcode),
        };
        message.add(&f.payload);
        if !f.fin {
            self.fragmented = Some(message);
        } else if !message.is_valid() {
            note("a text message that is not UTF-8 (§8.1)".into());
        }
    }
}

/// A message as its fragments come: its opcode, and for text whether it is UTF-8 so far,
/// with the bytes of a character a fragment cut in two (at most three) carried to the next.
struct Assembly {
    opcode: u8,
    utf8: bool,
    carry: Vec<u8>,
}

impl Assembly {
    fn new(opcode: u8) -> Assembly {
        Assembly {
            opcode,
            utf8: true,
            carry: Vec::new(),
        }
    }

    fn add(&mut self, payload: &[u8]) {
        if self.opcode != TEXT || !self.utf8 {
            return;
        }
        let joined;
        let bytes = if self.carry.is_empty() {
            payload
        } else {
            joined = [std::mem::take(&mut self.carry).as_slice(), payload].concat();
            &joined
        };
        if let Err(e) = std::str::from_utf8(bytes) {
            match e.error_len() {
                // The fragment ends inside a character: the next one may finish it.
                None => self.carry = bytes[e.valid_up_to()..].to_vec(),
                Some(_) => self.utf8 = false,
            }
        }
    }

    /// Whether the message, taken as ended, is valid: text must be UTF-8 to its last byte.
    fn is_valid(&self) -> bool {
        self.opcode != TEXT || (self.utf8 && self.carry.is_empty())
    }
}

/// Whether a received frame is a pong answering `payload`.
pub fn is_pong_for(frame: &Received, payload: &[u8]) -> bool {
    frame.opcode == PONG && frame.payload == payload
}

/// Whether a received frame is a ping (which a client must answer).
pub fn is_ping(frame: &Received) -> bool {
    frame.opcode == PING
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::BINARY;

    fn text(payload: &[u8], fin: bool) -> Frame {
        Frame {
            fin,
            ..Frame::new(TEXT, payload.to_vec())
        }
    }

    fn codes(o: &Obligation) -> Vec<u16> {
        match o {
            Obligation::Fail { codes, .. } => codes.clone(),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn client_violations_map_to_their_close_codes() {
        assert_eq!(obligation(&[text(b"ok", true)], None), Obligation::KeepOpen);
        assert_eq!(
            codes(&obligation(
                &[Frame {
                    masked: false,
                    ..text(b"x", true)
                }],
                None
            )),
            [1002]
        );
        assert_eq!(
            codes(&obligation(
                &[Frame {
                    rsv: 1,
                    ..text(b"x", true)
                }],
                None
            )),
            [1002]
        );
        assert_eq!(codes(&obligation(&[Frame::new(0x3, vec![])], None)), [1002]);
        assert_eq!(
            codes(&obligation(&[Frame::new(PING, vec![0; 126])], None)),
            [1002]
        );
        assert_eq!(
            codes(&obligation(
                &[Frame {
                    fin: false,
                    ..Frame::new(PING, vec![])
                }],
                None
            )),
            [1002]
        );
        assert_eq!(
            codes(&obligation(
                &[Frame::new(CONTINUATION, b"x".to_vec())],
                None
            )),
            [1002]
        );
        assert_eq!(
            codes(&obligation(&[text(b"a", false), text(b"b", true)], None)),
            [1002]
        );
        assert_eq!(
            codes(&obligation(&[text(b"\xff", true)], None)),
            [1007, 1002]
        );
        // Invalid UTF-8 split across fragments, and a character split across them (fine).
        assert_eq!(
            codes(&obligation(
                &[
                    text(b"\xce", false),
                    Frame::new(CONTINUATION, b"\xff".to_vec())
                ],
                None
            )),
            [1007, 1002]
        );
        assert_eq!(
            obligation(
                &[
                    text(b"\xce", false),
                    Frame::new(CONTINUATION, b"\xbc".to_vec())
                ],
                None
            ),
            Obligation::KeepOpen
        );
        // A fragment that can never become UTF-8 may be failed at once or at the message's end.
        let early = obligation(&[text(b"\xa0", false)], None);
        assert!(
            matches!(early, Obligation::Either { ref codes, .. } if codes == &[1007, 1002]),
            "{early:?}"
        );
        // Control frames may come between fragments.
        let between = [
            text(b"a", false),
            Frame::new(PING, vec![]),
            Frame::new(CONTINUATION, b"b".to_vec()),
        ];
        assert_eq!(obligation(&between, None), Obligation::KeepOpen);
        assert_eq!(
            codes(&obligation(
                &[Frame {
                    length: Length::Declared(u64::MAX >> 1),
                    ..Frame::new(BINARY, vec![])
                }],
                None
            )),
            [1009, 1002]
        );
    }

    #[test]
    fn close_frames_are_judged_by_code_and_reason() {
        assert_eq!(
            obligation(&[Frame::close(Some(1000), b"bye")], None),
            Obligation::Close { at: 1 }
        );
        assert_eq!(
            obligation(&[Frame::close(None, b"")], None),
            Obligation::Close { at: 1 }
        );
        assert_eq!(
            codes(&obligation(&[Frame::new(CLOSE, vec![3])], None)),
            [1002]
        );
        for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            assert_eq!(
                codes(&obligation(&[Frame::close(Some(code), b"")], None)),
                [1002],
                "{code}"
            );
        }
        assert_eq!(
            codes(&obligation(&[Frame::close(Some(1000), b"\xff")], None)),
            [1007, 1002]
        );
        assert_eq!(
            obligation(&[Frame::close(Some(1000), &[b'a'; 123])], None),
            Obligation::Close { at: 1 }
        );
        assert_eq!(
            codes(&obligation(&[Frame::close(Some(1000), &[b'a'; 124])], None)),
            [1002]
        );
    }

    #[test]
    fn non_minimal_lengths_may_be_taken_or_refused() {
        let frame = Frame {
            length: Length::Bits64,
            ..text(b"x", true)
        };
        assert!(
            matches!(obligation(&[frame], None), Obligation::Either { codes, .. } if codes == [1002])
        );
        let over = obligation(&[Frame::new(BINARY, vec![0; 11])], Some(10));
        assert!(matches!(over, Obligation::Either { codes, .. } if codes == [1009]));
    }

    #[test]
    fn the_reader_flags_what_a_server_must_not_send() {
        let mut reader = Reader::new(false, 1 << 20);
        reader.push(&[0x81, 0x02, b'h', b'i']);
        assert_eq!(reader.next_frame().unwrap().unwrap().payload, b"hi");
        assert!(reader.violations.is_empty());
        for bytes in [
            vec![0x81, 0x81, 1, 2, 3, 4, b'x' ^ 1],
            vec![0xC1, 0x00],
            vec![0x83, 0x00],
            vec![0x81, 0x01, 0xff],
            vec![0x09, 0x00],
        ] {
            let mut reader = Reader::new(false, 1 << 20);
            reader.push(&bytes);
            reader.next_frame().unwrap().unwrap();
            assert_eq!(
                reader.violations.len(),
                1,
                "{bytes:02x?}: {:?}",
                reader.violations
            );
            assert!(reader.nits.is_empty(), "{:?}", reader.nits);
        }
        // The letter of the RFC, which clients forgive: a close code that may not be sent, a
        // length in more bytes than it needs.
        for bytes in [vec![0x88, 0x02, 0x03, 0xed], vec![0x81, 126, 0, 1, b'x']] {
            let mut reader = Reader::new(false, 1 << 20);
            reader.push(&bytes);
            reader.next_frame().unwrap().unwrap();
            assert!(reader.violations.is_empty(), "{:?}", reader.violations);
            assert_eq!(reader.nits.len(), 1, "{bytes:02x?}: {:?}", reader.nits);
        }
        let mut partial = Reader::new(false, 1 << 20);
        partial.push(&[0x81, 0x05, b'a']);
        assert_eq!(partial.next_frame(), Ok(None));
        let mut huge = Reader::new(false, 1 << 20);
        huge.push(&[0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert!(huge.next_frame().is_err());
    }

    #[test]
    fn a_fragmented_message_is_checked_as_it_comes() {
        let fragments = |parts: &[&[u8]]| {
            let mut reader = Reader::new(false, 1 << 20);
            for (i, part) in parts.iter().enumerate() {
                let first = if i == 0 { 0x1 } else { 0x0 };
                let fin = if i + 1 == parts.len() { 0x80 } else { 0 };
                reader.push(&[[fin | first, part.len() as u8].as_slice(), part].concat());
                reader.next_frame().unwrap().unwrap();
            }
            reader.violations
        };
        // "é" cut in two between fragments is one valid character.
        assert!(fragments(&[b"caf", &[0xC3], &[0xA9, b'!']]).is_empty());
        assert_eq!(
            fragments(&[b"caf", &[0xC3]]).len(),
            1,
            "ends inside a character"
        );
        assert_eq!(fragments(&[b"a", &[0xFF], b"b"]).len(), 1, "not UTF-8");
        // A million fragments are read with nothing kept of them.
        let mut reader = Reader::new(false, 1 << 20);
        reader.push(&[0x01, 1, b'a']);
        for _ in 0..1_000_000 {
            reader.push(&[0x00, 1, b'a']);
            reader.next_frame().unwrap().unwrap();
        }
        assert!(reader.buffer.len() < 1 << 10);
        assert!(reader.violations.is_empty());
    }
}
