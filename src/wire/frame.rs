//! WebSocket frames as data: any header bits, masking and length encoding, written byte for byte.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One frame exactly as the client puts it on the wire, valid or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub fin: bool,
    /// The three RSV bits, RSV1 highest.
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub length: Length,
    #[serde(with = "hex_bytes")]
    pub payload: Vec<u8>,
    /// Written one byte at a time, each after a pause.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drip: bool,
}

/// How the payload length is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Length {
    /// The shortest form, as RFC 6455 §5.2 requires.
    Minimal,
    /// 126 and a 16-bit length, even where 7 bits would do.
    Bits16,
    /// 127 and a 64-bit length, even where fewer would do.
    Bits64,
    /// A declared length that is not the payload's: the header promises this many bytes.
    Declared(u64),
}

pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// The mask key wsfuzz uses: fixed, so a case's bytes are the same on every run.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

impl Frame {
    /// A well-formed, masked, final frame.
    pub fn new(opcode: u8, payload: Vec<u8>) -> Frame {
        Frame {
            fin: true,
            rsv: 0,
            opcode,
            masked: true,
            length: Length::Minimal,
            payload,
            drip: false,
        }
    }

    /// A close frame with this code and reason, as bytes (the reason need not be UTF-8).
    pub fn close(code: Option<u16>, reason: &[u8]) -> Frame {
        let mut payload = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
        payload.extend_from_slice(reason);
        Frame::new(CLOSE, payload)
    }

    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }

    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let len = self.payload.len() as u64;
        let mut out = Vec::with_capacity(self.payload.len() + 14);
        out.push(u8::from(self.fin) << 7 | (self.rsv & 0x7) << 4 | (self.opcode & 0xF));
        let mask_bit = u8::from(self.masked) << 7;
        let declared = match self.length {
            Length::Declared(n) => n,
            _ => len,
        };
        match self.length {
            Length::Bits16 if len <= u64::from(u16::MAX) => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            Length::Bits16 | Length::Bits64 => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
            Length::Minimal | Length::Declared(_) => match declared {
                0..=125 => out.push(mask_bit | declared as u8),
                126..=0xFFFF => {
                    out.push(mask_bit | 126);
                    out.extend_from_slice(&(declared as u16).to_be_bytes());
                }
                _ => {
                    out.push(mask_bit | 127);
                    out.extend_from_slice(&declared.to_be_bytes());
                }
            },
        }
        if self.masked {
            out.extend_from_slice(&MASK);
            out.extend(
                self.payload
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ MASK[i % 4]),
            );
        } else {
            out.extend_from_slice(&self.payload);
        }
        out
    }

    /// The frame's shape: header bits and length encoding, without the payload.
    pub fn shape(&self) -> String {
        let length = match self.length {
            Length::Minimal if self.payload.len() < 126 => "len7".to_string(),
            Length::Minimal if self.payload.len() <= 0xFFFF => "len16".to_string(),
            Length::Minimal => "len64".to_string(),
            Length::Bits16 => "len16-nonminimal".to_string(),
            Length::Bits64 => "len64-nonminimal".to_string(),
            Length::Declared(n) => format!("declared-2^{}", 64 - n.leading_zeros()),
        };
        format!(
            "fin={} rsv={} op={:x} mask={} {length}",
            u8::from(self.fin),
            self.rsv,
            self.opcode,
            u8::from(self.masked)
        )
    }
}

/// Whether RFC 6455 defines the opcode (§5.2): continuation, text, binary, close, ping, pong.
pub fn known_opcode(opcode: u8) -> bool {
    matches!(opcode, 0..=2 | 8..=10)
}

pub fn opcode_name(opcode: u8) -> String {
    match opcode {
        CONTINUATION => "continuation".into(),
        TEXT => "text".into(),
        BINARY => "binary".into(),
        CLOSE => "close".into(),
        PING => "ping".into(),
        PONG => "pong".into(),
        other => format!("reserved opcode 0x{other:x}"),
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frame {}", opcode_name(self.opcode))?;
        if !self.fin {
            write!(f, " (not final)")?;
        }
        if self.rsv != 0 {
            write!(f, " rsv={:03b}", self.rsv)?;
        }
        if !self.masked {
            write!(f, " unmasked")?;
        }
        match self.length {
            Length::Minimal => {}
            Length::Bits16 => write!(f, " 16-bit length")?,
            Length::Bits64 => write!(f, " 64-bit length")?,
            Length::Declared(n) => write!(f, " declaring {n} bytes")?,
        }
        if self.drip {
            write!(f, " dripped")?;
        }
        let shown = hex(&self.payload[..self.payload.len().min(32)]);
        let more = if self.payload.len() > 32 { "…" } else { "" };
        write!(f, ", {} bytes 0x{shown}{more}", self.payload.len())?;
        if self.opcode == TEXT || self.opcode == CONTINUATION {
            if let Ok(text) = std::str::from_utf8(&self.payload) {
                write!(f, " {:?}", crate::case::abbreviate(text))?;
            }
        }
        Ok(())
    }
}

/// Bytes as lowercase hex, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Payload bytes as a hex string in saved cases, so they stay readable and compact.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_header_bits_lengths_and_mask() {
        let frame = Frame {
            fin: true,
            rsv: 0b100,
            opcode: TEXT,
            masked: false,
            length: Length::Minimal,
            payload: b"hi".to_vec(),
            drip: false,
        };
        assert_eq!(frame.encode(), vec![0xC1, 0x02, b'h', b'i']);
        let masked = Frame::new(TEXT, b"hi".to_vec()).encode();
        assert_eq!(&masked[..6], &[0x81, 0x82, 0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(&masked[6..], &[b'h' ^ 0x37, b'i' ^ 0xfa]);
        let long16 = Frame {
            length: Length::Bits16,
            masked: false,
            ..Frame::new(BINARY, vec![7; 3])
        }
        .encode();
        assert_eq!(&long16[..4], &[0x82, 126, 0, 3]);
        let long64 = Frame {
            length: Length::Bits64,
            masked: false,
            ..Frame::new(BINARY, vec![])
        }
        .encode();
        assert_eq!(long64, vec![0x82, 127, 0, 0, 0, 0, 0, 0, 0, 0]);
        let absurd = Frame {
            length: Length::Declared(u64::MAX >> 1),
            masked: false,
            ..Frame::new(BINARY, vec![1])
        }
        .encode();
        assert_eq!(
            absurd,
            vec![0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1]
        );
        let big = Frame::new(BINARY, vec![0; 70_000]).encode();
        assert_eq!(big[1], 0x80 | 127);
    }

    #[test]
    fn frames_round_trip_through_json_with_hex_payloads() {
        let frame = Frame::close(Some(1000), b"\xff");
        let text = serde_json::to_string(&frame).unwrap();
        assert!(text.contains("\"03e8ff\""), "{text}");
        assert_eq!(serde_json::from_str::<Frame>(&text).unwrap(), frame);
    }
}
