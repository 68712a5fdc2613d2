//! The wire below messages: raw frames, raw handshakes and ways to drop a connection, with RFC 6455 as the oracle.

pub mod frame;
pub mod handshake;
pub mod rfc;

pub use frame::{Frame, Length};
pub use handshake::Handshake;
