//! A streaming validator of Thrift requests, run over every byte a client
//! sends before Volo's codec sees it.
//!
//! Volo trusts what a request declares: it allocates a string from its
//! declared length before the bytes arrive (`80 01 00 01 7f ff ff ff`
//! reserves 2 GiB), has no size bound on unframed and TTHeader requests, and
//! panics on some inconsistent inputs (a TTHeader whose header size is 0, a
//! string longer than its frame, a negative length, a reply sent as a
//! request). The scanner walks each request's structure as it streams in and
//! rejects it as soon as a declared length, count, nesting depth or message
//! type is impossible within `max_request_bytes`, so nothing large is ever
//! allocated and nothing malformed reaches the codec. It also knows where
//! each request starts and ends, which is what the read and idle timeouts
//! in [`super::guard`] are measured against.
//!
//! It detects the transport exactly as Volo's default codec does: TTHeader
//! when bytes 4..6 are `10 00`, Framed when they are `80 01` (or byte 4 is
//! `82`, compact), otherwise a bare message: strict binary (`80 01`) or
//! Apache compact (`82`). Inside a TTHeader the payload may be framed again.
//! Only calls (`CALL`) of the methods in [`METHODS`] are accepted.
//!
//! The scanner keeps no copy of the request: string bodies are counted, not
//! stored; only tokens that straddle two reads (a length split in half, a
//! TTHeader's header) are kept until complete, bounded by
//! [`MAX_TTHEADER_HEADER_BYTES`].
use std::fmt;

/// Methods of `IMService`; a call to any other name is rejected.
pub const METHODS: [&[u8]; 2] = [b"Send", b"Pull"];
/// Deepest nesting of structs and containers accepted (ours is 3).
pub const MAX_DEPTH: usize = 32;
/// Largest TTHeader header (the key/value part before the payload).
pub const MAX_TTHEADER_HEADER_BYTES: usize = 16 * 1024;
const MAX_METHOD_NAME_BYTES: usize = 64;

/// Why a request was refused; the text names the problem for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(String);

impl Rejection {
    fn new(reason: impl Into<String>) -> Self {
        Rejection(reason.into())
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejection {}

type Scan<T> = Result<T, Rejection>;

/// Binary-protocol type ids (Thrift's `TType`).
mod ttype {
    pub const STOP: u8 = 0;
    pub const BOOL: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const DOUBLE: u8 = 4;
    pub const I16: u8 = 6;
    pub const I32: u8 = 8;
    pub const I64: u8 = 10;
    pub const STRING: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const MAP: u8 = 13;
    pub const SET: u8 = 14;
    pub const LIST: u8 = 15;
    pub const UUID: u8 = 16;
}

/// Compact-protocol type ids.
mod ctype {
    pub const BOOL_TRUE: u8 = 1;
    pub const BOOL_FALSE: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const I16: u8 = 4;
    pub const I32: u8 = 5;
    pub const I64: u8 = 6;
    pub const DOUBLE: u8 = 7;
    pub const BINARY: u8 = 8;
    pub const LIST: u8 = 9;
    pub const SET: u8 = 10;
    pub const MAP: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const UUID: u8 = 13;
}

const MESSAGE_CALL: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Binary,
    Compact,
}

/// An open struct or container, innermost last.
#[derive(Debug, Clone, Copy)]
enum Level {
    Struct,
    /// Elements of a list or set still to read.
    List {
        element: u8,
        remaining: u64,
    },
    /// Keys and values still to read, alternating, key first.
    Map {
        key: u8,
        value: u8,
        remaining: u64,
    },
}

/// What the next bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Peek: the first 6 bytes of a request tell its transport.
    Transport,
    /// TTHeader: the length of everything after it.
    TTHeaderLength,
    /// TTHeader: magic, flags, seqid, header size in 4-byte words.
    TTHeaderFixed,
    /// TTHeader: the header of this many bytes.
    TTHeaderInfo(usize),
    /// Peek: a TTHeader payload may be framed again.
    MaybeFramed,
    /// A frame length; the message follows.
    FrameLength,
    /// Peek: a message's first byte tells binary from compact.
    Message,
    BinaryVersion,
    BinaryNameLength,
    MethodName(usize),
    BinarySeqId,
    CompactHeader,
    CompactSeqId,
    CompactNameLength,
    /// The next field of the innermost struct.
    Field,
    /// A binary field's 2-byte id, then a value of this type.
    BinaryFieldId(u8),
    /// A compact field's zigzag varint id, then a value of this type.
    CompactFieldId(u8),
    BinaryLength,
    CompactLength,
    BinaryContainer(u8),
    CompactListHeader,
    CompactListSize(u8),
    CompactMapSize,
    CompactMapTypes(u64),
    CompactVarint,
    /// String bodies and fixed-size values: counted and passed on.
    Skip(u64),
}

impl Expect {
    /// Peeked tokens are looked at but stay in the stream: they are the
    /// start of the tokens that follow.
    fn is_peek(self) -> bool {
        matches!(
            self,
            Expect::Transport | Expect::MaybeFramed | Expect::Message
        )
    }
}

/// Where a scan stands after the bytes given so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Requests completed by these bytes.
    pub completed: usize,
    /// Whether a request has started but not ended.
    pub mid_request: bool,
}

/// Validates a stream of requests, one chunk at a time.
#[derive(Debug)]
pub struct RequestScanner {
    max_request_bytes: u64,
    expect: Expect,
    protocol: Protocol,
    stack: Vec<Level>,
    /// Bytes received but not yet consumed: a token split over reads, or
    /// bytes only peeked at.
    pending: Vec<u8>,
    /// Bytes of the current request consumed so far.
    consumed: u64,
    /// `consumed` at which the enclosing frame ends, when framed.
    frame_end: Option<u64>,
    completed: usize,
}

impl RequestScanner {
    pub fn new(max_request_bytes: usize) -> Self {
        RequestScanner {
            max_request_bytes: max_request_bytes as u64,
            expect: Expect::Transport,
            protocol: Protocol::Binary,
            stack: Vec::new(),
            pending: Vec::new(),
            consumed: 0,
            frame_end: None,
            completed: 0,
        }
    }

    /// Whether a request has started (some of its bytes were seen) and not
    /// yet ended.
    pub fn mid_request(&self) -> bool {
        self.expect != Expect::Transport || !self.pending.is_empty()
    }

    /// Scans the next bytes of the stream. After a rejection the scanner
    /// must not be fed again: the connection is to be closed.
    pub fn feed(&mut self, mut input: &[u8]) -> Scan<Progress> {
        self.completed = 0;
        loop {
            if let Expect::Skip(remaining) = self.expect {
                if self.pending.is_empty() && input.is_empty() {
                    break;
                }
                self.skip(remaining, &mut input)?;
                continue;
            }
            let Some(size) = self.token_size(input)? else {
                break;
            };
            let missing = size.saturating_sub(self.pending.len());
            if missing > input.len() {
                self.pending.extend_from_slice(input);
                break;
            }
            self.pending.extend_from_slice(&input[..missing]);
            input = &input[missing..];

            let peeked = self.expect.is_peek();
            let pending = std::mem::take(&mut self.pending);
            let token = &pending[..size];
            let result = if peeked {
                self.peek(token)
            } else {
                self.count(size as u64).and_then(|()| self.step(token))
            };
            self.pending = pending;
            self.expect = result?;
            if !peeked {
                self.pending.drain(..size);
            }
        }
        Ok(Progress {
            completed: self.completed,
            mid_request: self.mid_request(),
        })
    }

    /// Passes over up to `remaining` bytes of a string body or fixed value.
    fn skip(&mut self, remaining: u64, input: &mut &[u8]) -> Scan<()> {
        let from_pending = remaining.min(self.pending.len() as u64) as usize;
        self.pending.drain(..from_pending);
        let from_input = (remaining - from_pending as u64).min(input.len() as u64) as usize;
        *input = &input[from_input..];
        let taken = (from_pending + from_input) as u64;
        self.count(taken)?;
        self.expect = if taken == remaining {
            self.after_value()?
        } else {
            Expect::Skip(remaining - taken)
        };
        Ok(())
    }

    /// Counts consumed bytes against the request and frame bounds.
    fn count(&mut self, n: u64) -> Scan<()> {
        self.consumed += n;
        if self.consumed > self.max_request_bytes {
            return Err(Rejection::new(format!(
                "request larger than {} bytes",
                self.max_request_bytes
            )));
        }
        if let Some(end) = self.frame_end
            && self.consumed > end
        {
            return Err(Rejection::new("message runs past the end of its frame"));
        }
        Ok(())
    }

    /// Bytes the request may still hold: up to its frame's end if framed.
    fn budget(&self) -> u64 {
        self.frame_end
            .unwrap_or(self.max_request_bytes)
            .min(self.max_request_bytes)
            .saturating_sub(self.consumed)
    }

    fn check_declared(&self, what: &str, bytes: u64) -> Scan<()> {
        let budget = self.budget();
        if bytes > budget {
            Err(Rejection::new(format!(
                "{what} of {bytes} bytes does not fit in the {budget} bytes left of the request"
            )))
        } else {
            Ok(())
        }
    }

    /// Size of the next token, or `None` until enough bytes are there to
    /// know it (a varint's length shows only at its last byte).
    fn token_size(&self, input: &[u8]) -> Scan<Option<usize>> {
        let size = match self.expect {
            Expect::Transport => 6,
            Expect::MaybeFramed => {
                // Fewer than 6 bytes left in the frame cannot hold a frame.
                if self.budget() < 6 { 0 } else { 6 }
            }
            Expect::Message | Expect::Field | Expect::CompactListHeader => 1,
            Expect::CompactMapTypes(_) => 1,
            Expect::CompactHeader | Expect::BinaryFieldId(_) => 2,
            Expect::TTHeaderLength
            | Expect::FrameLength
            | Expect::BinaryVersion
            | Expect::BinaryNameLength
            | Expect::BinarySeqId
            | Expect::BinaryLength => 4,
            Expect::BinaryContainer(ty) => {
                if ty == ttype::MAP {
                    6
                } else {
                    5
                }
            }
            Expect::TTHeaderFixed => 10,
            Expect::TTHeaderInfo(size) | Expect::MethodName(size) => size,
            Expect::CompactSeqId
            | Expect::CompactNameLength
            | Expect::CompactFieldId(_)
            | Expect::CompactLength
            | Expect::CompactListSize(_)
            | Expect::CompactMapSize
            | Expect::CompactVarint => return self.varint_size(input),
            Expect::Skip(_) => 0,
        };
        Ok(Some(size))
    }

    /// Length of the varint that starts in `pending` and goes on in `input`.
    fn varint_size(&self, input: &[u8]) -> Scan<Option<usize>> {
        const MAX_VARINT_BYTES: usize = 10;
        let bytes = self.pending.iter().chain(input.iter());
        for (index, byte) in bytes.take(MAX_VARINT_BYTES).enumerate() {
            if byte & 0x80 == 0 {
                return Ok(Some(index + 1));
            }
        }
        if self.pending.len() + input.len() >= MAX_VARINT_BYTES {
            return Err(Rejection::new("varint longer than 10 bytes"));
        }
        Ok(None)
    }

    /// Decides what a peeked token starts, without consuming it.
    fn peek(&mut self, head: &[u8]) -> Scan<Expect> {
        match self.expect {
            Expect::Transport => Ok(if head[4..6] == [0x10, 0x00] {
                Expect::TTHeaderLength
            } else if is_framed(head) {
                Expect::FrameLength
            } else {
                Expect::Message
            }),
            Expect::MaybeFramed => Ok(if head.len() == 6 && is_framed(head) {
                Expect::FrameLength
            } else {
                Expect::Message
            }),
            Expect::Message => match head[0] {
                0x80 => {
                    self.protocol = Protocol::Binary;
                    Ok(Expect::BinaryVersion)
                }
                0x82 => {
                    self.protocol = Protocol::Compact;
                    Ok(Expect::CompactHeader)
                }
                other => Err(Rejection::new(format!(
                    "not a strict binary or compact Thrift message (first byte {other:#04x})"
                ))),
            },
            _ => internal_error(),
        }
    }

    /// Consumes one complete token and says what comes next.
    fn step(&mut self, token: &[u8]) -> Scan<Expect> {
        match self.expect {
            Expect::TTHeaderLength => {
                let size = u32::from_be_bytes(word(token));
                self.open_frame(u64::from(size))?;
                Ok(Expect::TTHeaderFixed)
            }
            Expect::TTHeaderFixed => self.ttheader_fixed(token),
            Expect::TTHeaderInfo(_) => {
                check_ttheader_info(token)?;
                if self.budget() == 0 {
                    return Err(Rejection::new("TTHeader without a payload"));
                }
                Ok(Expect::MaybeFramed)
            }
            Expect::FrameLength => {
                let size = i32::from_be_bytes(word(token));
                if size <= 0 {
                    return Err(Rejection::new(format!("frame length {size}")));
                }
                self.open_frame(size as u64)?;
                Ok(Expect::Message)
            }
            Expect::BinaryVersion => {
                if token[0..2] != [0x80, 0x01] {
                    return Err(Rejection::new("bad binary protocol version"));
                }
                check_message_type(token[3])?;
                Ok(Expect::BinaryNameLength)
            }
            Expect::BinaryNameLength => {
                method_name_length(i64::from(i32::from_be_bytes(word(token))))
            }
            Expect::MethodName(_) => {
                if !METHODS.contains(&token) {
                    return Err(Rejection::new(format!(
                        "unknown method {:?}",
                        String::from_utf8_lossy(token)
                    )));
                }
                match self.protocol {
                    Protocol::Binary => Ok(Expect::BinarySeqId),
                    Protocol::Compact => self.open(Level::Struct),
                }
            }
            Expect::BinarySeqId => self.open(Level::Struct),
            Expect::CompactHeader => {
                if token[1] & 0x1f != 1 {
                    return Err(Rejection::new("bad compact protocol version"));
                }
                check_message_type(token[1] >> 5)?;
                Ok(Expect::CompactSeqId)
            }
            Expect::CompactSeqId => {
                varint(token)?;
                Ok(Expect::CompactNameLength)
            }
            Expect::CompactNameLength => {
                method_name_length(i64::try_from(varint(token)?).unwrap_or(i64::MAX))
            }
            Expect::Field => self.field(token[0]),
            Expect::BinaryFieldId(ty) => self.value(ty),
            Expect::CompactFieldId(ty) => {
                varint(token)?;
                self.compact_field_value(ty)
            }
            Expect::BinaryLength => self.skip_declared(i64::from(i32::from_be_bytes(word(token)))),
            Expect::CompactLength => {
                self.skip_declared(i64::try_from(varint(token)?).unwrap_or(i64::MAX))
            }
            Expect::BinaryContainer(ty) => self.binary_container(ty, token),
            Expect::CompactListHeader => {
                let element = token[0] & 0x0f;
                match token[0] >> 4 {
                    15 => Ok(Expect::CompactListSize(element)),
                    size => self.open_list(element, u64::from(size)),
                }
            }
            Expect::CompactListSize(element) => self.open_list(element, varint(token)?),
            Expect::CompactMapSize => match varint(token)? {
                0 => self.after_value(),
                size => Ok(Expect::CompactMapTypes(size)),
            },
            Expect::CompactMapTypes(size) => self.open_map(token[0] >> 4, token[0] & 0x0f, size),
            Expect::CompactVarint => {
                varint(token)?;
                self.after_value()
            }
            Expect::Transport | Expect::MaybeFramed | Expect::Message | Expect::Skip(_) => {
                internal_error()
            }
        }
    }

    fn open_frame(&mut self, size: u64) -> Scan<()> {
        self.check_declared("frame", size)?;
        self.frame_end = Some(self.consumed + size);
        Ok(())
    }

    fn ttheader_fixed(&mut self, token: &[u8]) -> Scan<Expect> {
        // magic (2), flags (2), seqid (4), header size in 4-byte words (2)
        let size = usize::from(u16::from_be_bytes([token[8], token[9]])) * 4;
        if size == 0 {
            return Err(Rejection::new("TTHeader header size 0"));
        }
        if size > MAX_TTHEADER_HEADER_BYTES {
            return Err(Rejection::new(format!(
                "TTHeader header of {size} bytes exceeds {MAX_TTHEADER_HEADER_BYTES}"
            )));
        }
        self.check_declared("TTHeader header", size as u64)?;
        Ok(Expect::TTHeaderInfo(size))
    }

    /// A struct's next field header: its type (and, in compact, its id).
    fn field(&mut self, header: u8) -> Scan<Expect> {
        if header == ttype::STOP {
            self.stack.pop();
            return self.after_value();
        }
        match self.protocol {
            Protocol::Binary => {
                check_binary_type(header)?;
                Ok(Expect::BinaryFieldId(header))
            }
            Protocol::Compact => {
                let ty = header & 0x0f;
                if header >> 4 == 0 {
                    Ok(Expect::CompactFieldId(ty))
                } else {
                    self.compact_field_value(ty)
                }
            }
        }
    }

    fn compact_field_value(&mut self, ty: u8) -> Scan<Expect> {
        match ty {
            // A field's bool lives in its type nibble.
            ctype::BOOL_TRUE | ctype::BOOL_FALSE => self.after_value(),
            _ => self.value(ty),
        }
    }

    /// What a value of type `ty` begins with. A compact bool inside a
    /// container is a whole byte.
    fn value(&mut self, ty: u8) -> Scan<Expect> {
        match self.protocol {
            Protocol::Binary => match ty {
                ttype::BOOL | ttype::BYTE => Ok(Expect::Skip(1)),
                ttype::I16 => Ok(Expect::Skip(2)),
                ttype::I32 => Ok(Expect::Skip(4)),
                ttype::I64 | ttype::DOUBLE => Ok(Expect::Skip(8)),
                ttype::UUID => Ok(Expect::Skip(16)),
                ttype::STRING => Ok(Expect::BinaryLength),
                ttype::STRUCT => self.open(Level::Struct),
                ttype::MAP | ttype::SET | ttype::LIST => Ok(Expect::BinaryContainer(ty)),
                other => Err(Rejection::new(format!("unknown binary type {other}"))),
            },
            Protocol::Compact => match ty {
                ctype::BOOL_TRUE | ctype::BOOL_FALSE | ctype::BYTE => Ok(Expect::Skip(1)),
                ctype::I16 | ctype::I32 | ctype::I64 => Ok(Expect::CompactVarint),
                ctype::DOUBLE => Ok(Expect::Skip(8)),
                ctype::UUID => Ok(Expect::Skip(16)),
                ctype::BINARY => Ok(Expect::CompactLength),
                ctype::STRUCT => self.open(Level::Struct),
                ctype::LIST | ctype::SET => Ok(Expect::CompactListHeader),
                ctype::MAP => Ok(Expect::CompactMapSize),
                other => Err(Rejection::new(format!("unknown compact type {other}"))),
            },
        }
    }

    fn skip_declared(&mut self, len: i64) -> Scan<Expect> {
        let len =
            u64::try_from(len).map_err(|_| Rejection::new(format!("negative length {len}")))?;
        self.check_declared("string", len)?;
        if len == 0 {
            self.after_value()
        } else {
            Ok(Expect::Skip(len))
        }
    }

    fn binary_container(&mut self, ty: u8, token: &[u8]) -> Scan<Expect> {
        if ty == ttype::MAP {
            let size = non_negative(i32::from_be_bytes(word(&token[2..])))?;
            self.open_map(token[0], token[1], size)
        } else {
            let size = non_negative(i32::from_be_bytes(word(&token[1..])))?;
            self.open_list(token[0], size)
        }
    }

    fn open_list(&mut self, element: u8, size: u64) -> Scan<Expect> {
        self.check_element_type(element)?;
        self.check_declared("list", size.saturating_mul(self.min_size(element)))?;
        if size == 0 {
            return self.after_value();
        }
        self.open(Level::List {
            element,
            remaining: size,
        })
    }

    fn open_map(&mut self, key: u8, value: u8, size: u64) -> Scan<Expect> {
        self.check_element_type(key)?;
        self.check_element_type(value)?;
        let pair = self.min_size(key) + self.min_size(value);
        self.check_declared("map", size.saturating_mul(pair))?;
        if size == 0 {
            return self.after_value();
        }
        self.open(Level::Map {
            key,
            value,
            remaining: size * 2,
        })
    }

    fn open(&mut self, level: Level) -> Scan<Expect> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Rejection::new(format!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        self.stack.push(level);
        self.after_value()
    }

    /// Where to go once a value is complete: the next field or element of
    /// the innermost open level, or the end of the message.
    fn after_value(&mut self) -> Scan<Expect> {
        loop {
            match self.stack.last_mut() {
                None => return self.end_message(),
                Some(Level::Struct) => return Ok(Expect::Field),
                Some(Level::List { element, remaining }) => {
                    if *remaining == 0 {
                        self.stack.pop();
                        continue;
                    }
                    *remaining -= 1;
                    let element = *element;
                    return self.value(element);
                }
                Some(Level::Map {
                    key,
                    value,
                    remaining,
                }) => {
                    if *remaining == 0 {
                        self.stack.pop();
                        continue;
                    }
                    let ty = if *remaining % 2 == 0 { *key } else { *value };
                    *remaining -= 1;
                    return self.value(ty);
                }
            }
        }
    }

    fn end_message(&mut self) -> Scan<Expect> {
        if let Some(end) = self.frame_end
            && self.consumed != end
        {
            return Err(Rejection::new(format!(
                "{} bytes after the message inside its frame",
                end - self.consumed
            )));
        }
        self.consumed = 0;
        self.frame_end = None;
        self.completed += 1;
        Ok(Expect::Transport)
    }

    fn check_element_type(&self, ty: u8) -> Scan<()> {
        match self.protocol {
            Protocol::Binary => check_binary_type(ty),
            Protocol::Compact if (ctype::BOOL_TRUE..=ctype::UUID).contains(&ty) => Ok(()),
            Protocol::Compact => Err(Rejection::new(format!("unknown compact type {ty}"))),
        }
    }

    /// The fewest bytes a value of type `ty` takes, so that a declared
    /// element count can be checked against the bytes left.
    fn min_size(&self, ty: u8) -> u64 {
        match (self.protocol, ty) {
            (Protocol::Binary, ttype::I16) => 2,
            (Protocol::Binary, ttype::I32 | ttype::STRING) => 4,
            (Protocol::Binary, ttype::I64 | ttype::DOUBLE) => 8,
            (Protocol::Binary, ttype::MAP) => 6,
            (Protocol::Binary, ttype::SET | ttype::LIST) => 5,
            (Protocol::Binary, ttype::UUID) => 16,
            (Protocol::Compact, ctype::DOUBLE) => 8,
            (Protocol::Compact, ctype::UUID) => 16,
            _ => 1,
        }
    }
}

fn internal_error<T>() -> Scan<T> {
    Err(Rejection::new("internal scanner state error"))
}

fn word(token: &[u8]) -> [u8; 4] {
    [token[0], token[1], token[2], token[3]]
}

fn non_negative(size: i32) -> Scan<u64> {
    u64::try_from(size).map_err(|_| Rejection::new(format!("negative container size {size}")))
}

fn check_message_type(ty: u8) -> Scan<()> {
    if ty == MESSAGE_CALL {
        Ok(())
    } else {
        Err(Rejection::new(format!("message type {ty} is not a call")))
    }
}

fn method_name_length(len: i64) -> Scan<Expect> {
    if len <= 0 || len > MAX_METHOD_NAME_BYTES as i64 {
        return Err(Rejection::new(format!("method name length {len}")));
    }
    Ok(Expect::MethodName(len as usize))
}

fn check_binary_type(ty: u8) -> Scan<()> {
    match ty {
        ttype::BOOL
        | ttype::BYTE
        | ttype::DOUBLE
        | ttype::I16
        | ttype::I32
        | ttype::I64
        | ttype::STRING
        | ttype::STRUCT
        | ttype::MAP
        | ttype::SET
        | ttype::LIST
        | ttype::UUID => Ok(()),
        other => Err(Rejection::new(format!("unknown binary type {other}"))),
    }
}

/// An unsigned LEB128 varint, as the compact protocol writes lengths.
fn varint(token: &[u8]) -> Scan<u64> {
    let mut value: u64 = 0;
    for (index, byte) in token.iter().enumerate() {
        let bits = u64::from(byte & 0x7f);
        let shift = 7 * index as u32;
        if shift >= 64 || (shift == 63 && bits > 1) {
            return Err(Rejection::new("varint overflows 64 bits"));
        }
        value |= bits << shift;
    }
    Ok(value)
}

fn is_framed(head: &[u8]) -> bool {
    head[4..6] == [0x80, 0x01] || head[4] == 0x82
}

/// Checks a TTHeader's header: protocol id, transforms, then info blocks
/// that must each fit exactly in what is left of the header (Volo parses it
/// with unchecked arithmetic).
fn check_ttheader_info(header: &[u8]) -> Scan<()> {
    let mut reader = HeaderReader { rest: header };
    let protocol = reader.u8()?;
    if !matches!(protocol, 0 | 2) {
        return Err(Rejection::new(format!("TTHeader protocol id {protocol}")));
    }
    let transforms = reader.u8()?;
    reader.bytes(usize::from(transforms))?;
    while let Some(&info) = reader.rest.first() {
        reader.rest = &reader.rest[1..];
        match info {
            0x00 => {}
            0x01 => {
                for _ in 0..reader.u16()? {
                    reader.utf8_string()?;
                    reader.utf8_string()?;
                }
            }
            0x10 => {
                for _ in 0..reader.u16()? {
                    reader.u16()?;
                    reader.utf8_string()?;
                }
            }
            0x11 => {
                reader.utf8_string()?;
            }
            other => return Err(Rejection::new(format!("TTHeader info id {other:#04x}"))),
        }
    }
    Ok(())
}

struct HeaderReader<'a> {
    rest: &'a [u8],
}

impl HeaderReader<'_> {
    fn bytes(&mut self, n: usize) -> Scan<&[u8]> {
        if n > self.rest.len() {
            return Err(Rejection::new("TTHeader header field runs past the header"));
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn u8(&mut self) -> Scan<u8> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Scan<u16> {
        let bytes = self.bytes(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// Volo takes header strings as UTF-8 without checking.
    fn utf8_string(&mut self) -> Scan<()> {
        let len = usize::from(self.u16()?);
        std::str::from_utf8(self.bytes(len)?)
            .map_err(|_| Rejection::new("TTHeader string is not valid UTF-8"))?;
        Ok(())
    }
}
