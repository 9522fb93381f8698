//! Thrift requests built by hand, byte for byte, so that a test shows
//! exactly what is on the wire: the scanner's unit tests (`net::scan`) and
//! the integration tests (`tests/`) share these builders.
//!
//! A hidden public module rather than a `test-support` feature: a feature
//! turned on through a dev-dependency on this crate would build the crate
//! with different features under `cargo build` and `cargo test`, compiling
//! the server twice in every CI run, for a few builders that the binary
//! never calls (the linker drops them). Not part of the server's API.

pub use crate::net::scan::{MESSAGE_CALL, ctype, ttype};

/// The two Thrift protocols a client may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// Strict binary (`80 01`).
    Binary,
    /// Apache compact (`82`).
    Compact,
}

/// The transport around a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    /// The bare message (Kitex's default, "PurePayload").
    Unframed,
    /// A 4-byte length before the message.
    Framed,
    /// TTHeader, with or without info key/values ([`info_blocks`]), its
    /// payload framed again or not.
    TTHeader { info: bool, framed: bool },
}

/// Every transport shape [`wrap`] builds.
pub const WRAPS: [Wrap; 6] = [
    Wrap::Unframed,
    Wrap::Framed,
    Wrap::TTHeader {
        info: false,
        framed: false,
    },
    Wrap::TTHeader {
        info: true,
        framed: false,
    },
    Wrap::TTHeader {
        info: false,
        framed: true,
    },
    Wrap::TTHeader {
        info: true,
        framed: true,
    },
];

/// An unsigned LEB128 varint, as the compact protocol writes them.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The compact protocol's zigzag encoding of a signed integer.
pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// A message header of message type `ty` ([`MESSAGE_CALL`] for a request).
pub fn header(proto: Proto, ty: u8, name: &[u8], seqid: i32) -> Vec<u8> {
    let mut out = Vec::new();
    match proto {
        Proto::Binary => {
            out.extend([0x80, 0x01, 0x00, ty]);
            out.extend((name.len() as i32).to_be_bytes());
            out.extend(name);
            out.extend(seqid.to_be_bytes());
        }
        Proto::Compact => {
            out.extend([0x82, (ty << 5) | 1]);
            put_varint(&mut out, u64::from(seqid as u32));
            put_varint(&mut out, name.len() as u64);
            out.extend(name);
        }
    }
    out
}

/// A binary field header: type, then the 2-byte id.
pub fn bfield(out: &mut Vec<u8>, ty: u8, id: i16) {
    out.push(ty);
    out.extend(id.to_be_bytes());
}

/// A binary string field.
pub fn bstring(out: &mut Vec<u8>, id: i16, value: &[u8]) {
    bfield(out, ttype::STRING, id);
    out.extend((value.len() as i32).to_be_bytes());
    out.extend(value);
}

/// A compact field header with a small id delta (1 to 15; 0 means a full
/// zigzag id follows).
pub fn cfield(out: &mut Vec<u8>, delta: u8, ty: u8) {
    out.push((delta << 4) | ty);
}

/// A compact string field.
pub fn cstring(out: &mut Vec<u8>, delta: u8, value: &[u8]) {
    cfield(out, delta, ctype::BINARY);
    put_varint(out, value.len() as u64);
    out.extend(value);
}

/// A `Send` call: args { 1: SendRequest { 1: Message { 1: chat, 2: text,
/// 3: sender } } }, strings of any bytes.
pub fn send_call(proto: Proto, seqid: i32, chat: &[u8], text: &[u8], sender: &[u8]) -> Vec<u8> {
    let mut out = header(proto, MESSAGE_CALL, b"Send", seqid);
    match proto {
        Proto::Binary => {
            bfield(&mut out, ttype::STRUCT, 1);
            bfield(&mut out, ttype::STRUCT, 1);
            bstring(&mut out, 1, chat);
            bstring(&mut out, 2, text);
            bstring(&mut out, 3, sender);
        }
        Proto::Compact => {
            cfield(&mut out, 1, ctype::STRUCT);
            cfield(&mut out, 1, ctype::STRUCT);
            cstring(&mut out, 1, chat);
            cstring(&mut out, 1, text);
            cstring(&mut out, 1, sender);
        }
    }
    out.extend([0, 0, 0]); // end of Message, of SendRequest, of args
    out
}

/// A `Pull` call: args { 2: PullRequest { 1: chat, 2: cursor, 3: limit,
/// 4: reverse } }; `reverse: None` leaves the optional field out.
pub fn pull_call(
    proto: Proto,
    seqid: i32,
    chat: &[u8],
    cursor: i64,
    limit: i32,
    reverse: Option<bool>,
) -> Vec<u8> {
    let mut out = header(proto, MESSAGE_CALL, b"Pull", seqid);
    match proto {
        Proto::Binary => {
            bfield(&mut out, ttype::STRUCT, 2);
            bstring(&mut out, 1, chat);
            bfield(&mut out, ttype::I64, 2);
            out.extend(cursor.to_be_bytes());
            bfield(&mut out, ttype::I32, 3);
            out.extend(limit.to_be_bytes());
            if let Some(reverse) = reverse {
                bfield(&mut out, ttype::BOOL, 4);
                out.push(u8::from(reverse));
            }
        }
        Proto::Compact => {
            cfield(&mut out, 2, ctype::STRUCT);
            cstring(&mut out, 1, chat);
            cfield(&mut out, 1, ctype::I64);
            put_varint(&mut out, zigzag(cursor));
            cfield(&mut out, 1, ctype::I32);
            put_varint(&mut out, zigzag(i64::from(limit)));
            if let Some(reverse) = reverse {
                let bool_type = if reverse {
                    ctype::BOOL_TRUE
                } else {
                    ctype::BOOL_FALSE
                };
                cfield(&mut out, 1, bool_type);
            }
        }
    }
    out.extend([0, 0]); // end of PullRequest, end of args
    out
}

/// `payload` after its 4-byte length.
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend(payload);
    out
}

/// TTHeader info blocks as Kitex and Volo clients write them: string
/// key/values, int key/values, an ACL token, padding.
pub fn info_blocks() -> Vec<u8> {
    let mut out = vec![0x01];
    out.extend(2u16.to_be_bytes());
    for (key, value) in [("k", "v"), ("tenant", "zürich")] {
        out.extend((key.len() as u16).to_be_bytes());
        out.extend(key.as_bytes());
        out.extend((value.len() as u16).to_be_bytes());
        out.extend(value.as_bytes());
    }
    out.push(0x10);
    out.extend(2u16.to_be_bytes());
    for (key, value) in [(16u16, "3"), (9, "Pull")] {
        out.extend(key.to_be_bytes());
        out.extend((value.len() as u16).to_be_bytes());
        out.extend(value.as_bytes());
    }
    out.push(0x11);
    out.extend(5u16.to_be_bytes());
    out.extend(b"token");
    out.push(0x00);
    out
}

/// A TTHeader around `payload`: length, magic `10 00`, flags, `seqid`,
/// header size in 4-byte words, then `header` (everything after the fixed
/// part: protocol id, transforms, info), padded here to whole words.
pub fn ttheader(seqid: i32, header: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut header = header.to_vec();
    while header.len() % 4 != 0 {
        header.push(0);
    }
    let mut rest = vec![0x10, 0x00, 0x00, 0x00];
    rest.extend(seqid.to_be_bytes());
    rest.extend(((header.len() / 4) as u16).to_be_bytes());
    rest.extend(header);
    rest.extend(payload);
    framed(&rest)
}

/// `message` (of protocol `proto`) in the transport `wrap`; a TTHeader
/// carries seqid 7 and no transforms.
pub fn wrap(wrap: Wrap, proto: Proto, message: &[u8]) -> Vec<u8> {
    match wrap {
        Wrap::Unframed => message.to_vec(),
        Wrap::Framed => framed(message),
        Wrap::TTHeader {
            info,
            framed: inner,
        } => {
            let protocol_id = match proto {
                Proto::Binary => 0,
                Proto::Compact => 2,
            };
            let mut header = vec![protocol_id, 0];
            if info {
                header.extend(info_blocks());
            }
            let payload = if inner {
                framed(message)
            } else {
                message.to_vec()
            };
            ttheader(7, &header, &payload)
        }
    }
}
