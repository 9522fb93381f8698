//! Direct Thrift client codec, as a Kitex client with no transport option
//! speaks it: unframed strict binary (`0x80010001`, method name, seqid, then
//! the args struct).
//!
//! Requests and replies are encoded and decoded with the types volo-build
//! generated from the IDL (`im_idl::rpc`). Unframed Thrift carries no length,
//! so [`message_len`] walks the bytes of a reply to find where it ends before
//! the generated decoder sees it.
use bytes::BytesMut;
use im_idl::rpc::{
    ImServicePullArgsSend, ImServicePullResultRecv, ImServiceSendArgsSend, ImServiceSendResultRecv,
    Message, PullRequest, SendRequest,
};
use pilota::thrift::binary::TBinaryProtocol;
use pilota::thrift::{
    ApplicationException, Message as _, TInputProtocol, TMessageIdentifier, TMessageType,
    TOutputProtocol,
};

use crate::runner::{Codec, Decoded, Expect, Outcome};
use crate::workload::{Op, Request};

/// Longest string or container accepted in a reply; larger means garbage.
const MAX_LEN: usize = 64 << 20;
/// Deepest struct nesting accepted in a reply.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Default, Clone, Copy)]
pub struct ThriftCodec;

impl Codec for ThriftCodec {
    fn encode(&self, req: &Request, seq: i32, out: &mut BytesMut) -> anyhow::Result<()> {
        let mut p = TBinaryProtocol::new(out, false);
        let ident = TMessageIdentifier::new(req.op().method().into(), TMessageType::Call, seq);
        p.write_message_begin(&ident)?;
        match req {
            Request::Send { chat, sender, text } => ImServiceSendArgsSend {
                req: SendRequest {
                    message: Message {
                        chat: Some(chat.clone()),
                        text: Some(text.clone()),
                        sender: Some(sender.clone()),
                        send_time: None,
                    },
                },
            }
            .encode(&mut p)?,
            Request::Pull {
                chat,
                cursor,
                limit,
                reverse,
            } => ImServicePullArgsSend {
                req: PullRequest {
                    chat: chat.clone(),
                    cursor: *cursor,
                    limit: *limit,
                    reverse: Some(*reverse),
                },
            }
            .encode(&mut p)?,
        }
        p.write_message_end()?;
        Ok(())
    }

    fn decode(&self, buf: &mut BytesMut, expect: &Expect) -> Result<Option<Decoded>, String> {
        let len = match message_len(buf) {
            Ok(len) => len,
            Err(Scan::Incomplete) => return Ok(None),
            Err(Scan::Invalid(why)) => return Err(format!("undecodable reply: {why}")),
        };
        let mut frame = buf.split_to(len).freeze();
        let outcome = decode_reply(&mut frame, expect)?;
        Ok(Some(Decoded {
            outcome,
            close: false,
        }))
    }
}

/// Decodes one complete reply message. `Err` means the stream can no longer
/// be trusted (wrong seqid or method, bad bytes); a Thrift exception or a
/// non-zero `Code` is an `Ok(Outcome::Failed)`.
fn decode_reply(frame: &mut bytes::Bytes, expect: &Expect) -> Result<Outcome, String> {
    let mut p = TBinaryProtocol::new(frame, false);
    let ident = p
        .read_message_begin()
        .map_err(|e| format!("bad reply header: {e}"))?;
    let method = expect.op.method();
    if ident.name != method {
        return Err(format!(
            "reply for method {:?}, expected {method:?}",
            ident.name
        ));
    }
    if ident.sequence_number != expect.seq {
        return Err(format!(
            "reply seqid {}, expected {}",
            ident.sequence_number, expect.seq
        ));
    }
    match ident.message_type {
        TMessageType::Reply => {}
        TMessageType::Exception => {
            let exc = ApplicationException::decode(&mut p)
                .map_err(|e| format!("undecodable exception reply: {e}"))?;
            return Ok(Outcome::Failed(format!(
                "{method}: Thrift exception (type {}): {}",
                exc.kind().as_i32(),
                exc.message()
            )));
        }
        other => return Err(format!("unexpected message type {other:?} in reply")),
    }
    let bad = |e: pilota::thrift::ThriftException| format!("undecodable {method} result: {e}");
    let outcome = match expect.op {
        Op::Send => {
            let ImServiceSendResultRecv::Ok(resp) =
                ImServiceSendResultRecv::decode(&mut p).map_err(bad)?;
            check_code(method, resp.code, &resp.msg, 0)
        }
        Op::Pull => {
            let ImServicePullResultRecv::Ok(resp) =
                ImServicePullResultRecv::decode(&mut p).map_err(bad)?;
            let messages = resp.messages.as_ref().map_or(0, Vec::len);
            check_code(method, resp.code, &resp.msg, messages as u32)
        }
    };
    p.read_message_end().map_err(|e| e.to_string())?;
    Ok(outcome)
}

fn check_code(method: &str, code: i32, msg: &str, messages: u32) -> Outcome {
    if code == 0 {
        Outcome::Ok { messages }
    } else {
        Outcome::Failed(format!("{method}: Code {code}: {msg}"))
    }
}

/// Why [`message_len`] found no complete message.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// More bytes are needed.
    Incomplete,
    /// The bytes are not a strict-binary Thrift message.
    Invalid(String),
}

/// The length in bytes of the strict-binary Thrift message at the start of
/// `b`, found by walking its header and struct without decoding values.
pub fn message_len(b: &[u8]) -> Result<usize, Scan> {
    let mut c = Cursor { b, pos: 0 };
    let version = c.i32()?;
    if version >= 0 || (version as u32) & 0xffff_0000 != 0x8001_0000 {
        return Err(Scan::Invalid(format!(
            "not a strict binary message header: {:#010x}",
            version as u32
        )));
    }
    let name_len = c.len()?;
    c.skip(name_len)?;
    c.skip(4)?; // seqid
    skip_value(&mut c, 12, 0)?;
    Ok(c.pos)
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Scan> {
        let end = self.pos.checked_add(n).ok_or(Scan::Incomplete)?;
        let s = self.b.get(self.pos..end).ok_or(Scan::Incomplete)?;
        self.pos = end;
        Ok(s)
    }
    fn skip(&mut self, n: usize) -> Result<(), Scan> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> Result<u8, Scan> {
        Ok(self.take(1)?[0])
    }
    fn i32(&mut self) -> Result<i32, Scan> {
        let s = self.take(4)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    /// A non-negative i32 length or count.
    fn len(&mut self) -> Result<usize, Scan> {
        let n = self.i32()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_LEN)
            .ok_or_else(|| Scan::Invalid(format!("length {n} out of range")))
    }
}

/// Skips one value of Thrift type `ttype`.
fn skip_value(c: &mut Cursor<'_>, ttype: u8, depth: usize) -> Result<(), Scan> {
    if depth > MAX_DEPTH {
        return Err(Scan::Invalid("nesting too deep".into()));
    }
    match ttype {
        2 | 3 => c.skip(1),  // bool, byte
        6 => c.skip(2),      // i16
        8 => c.skip(4),      // i32
        4 | 10 => c.skip(8), // double, i64
        16 => c.skip(16),    // uuid
        11 => {
            // string / binary
            let n = c.len()?;
            c.skip(n)
        }
        12 => loop {
            // struct: fields until STOP
            let field_type = c.u8()?;
            if field_type == 0 {
                return Ok(());
            }
            c.skip(2)?; // field id
            skip_value(c, field_type, depth + 1)?;
        },
        13 => {
            // map
            let (k, v) = (c.u8()?, c.u8()?);
            let n = c.len()?;
            for _ in 0..n {
                skip_value(c, k, depth + 1)?;
                skip_value(c, v, depth + 1)?;
            }
            Ok(())
        }
        14 | 15 => {
            // set, list
            let e = c.u8()?;
            let n = c.len()?;
            for _ in 0..n {
                skip_value(c, e, depth + 1)?;
            }
            Ok(())
        }
        other => Err(Scan::Invalid(format!("unknown field type {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use im_idl::rpc::{
        ImServicePullArgsRecv, ImServicePullResultSend, ImServiceSendArgsRecv,
        ImServiceSendResultSend, PullResponse, SendResponse,
    };
    use pilota::FastStr;

    fn encode_reply<M: pilota::thrift::Message>(
        name: &str,
        ty: TMessageType,
        seq: i32,
        body: &M,
    ) -> BytesMut {
        let mut out = BytesMut::new();
        let mut p = TBinaryProtocol::new(&mut out, false);
        p.write_message_begin(&TMessageIdentifier::new(FastStr::new(name), ty, seq))
            .unwrap();
        body.encode(&mut p).unwrap();
        p.write_message_end().unwrap();
        out
    }

    fn pull_reply(seq: i32, code: i32, n: usize) -> BytesMut {
        let msg = Message {
            chat: Some("a:b".into()),
            text: Some("hello".into()),
            sender: Some("a".into()),
            send_time: Some(42),
        };
        let resp = PullResponse {
            code,
            msg: "success".into(),
            messages: Some(vec![msg; n]),
            has_more: Some(true),
            next_cursor: Some(43),
        };
        encode_reply(
            "Pull",
            TMessageType::Reply,
            seq,
            &ImServicePullResultSend::Ok(resp),
        )
    }

    fn expect(op: Op, seq: i32) -> Expect {
        Expect { op, seq }
    }

    #[test]
    fn send_request_round_trips_through_the_generated_decoder() {
        let req = Request::Send {
            chat: "u1:v1".into(),
            sender: "u1".into(),
            text: "hi".into(),
        };
        let mut buf = BytesMut::new();
        ThriftCodec.encode(&req, 7, &mut buf).unwrap();
        assert_eq!(&buf[..4], &[0x80, 0x01, 0x00, 0x01]);
        assert_eq!(message_len(&buf), Ok(buf.len()));

        let mut bytes = buf.freeze();
        let mut p = TBinaryProtocol::new(&mut bytes, false);
        let ident = p.read_message_begin().unwrap();
        assert_eq!((ident.name.as_str(), ident.sequence_number), ("Send", 7));
        let args = ImServiceSendArgsRecv::decode(&mut p).unwrap();
        assert_eq!(args.req.message.chat.as_deref(), Some("u1:v1"));
        assert_eq!(args.req.message.sender.as_deref(), Some("u1"));
        assert_eq!(args.req.message.text.as_deref(), Some("hi"));
        assert_eq!(args.req.message.send_time, None);
    }

    #[test]
    fn pull_request_round_trips() {
        let req = Request::Pull {
            chat: "u1:v1".into(),
            cursor: 123,
            limit: 50,
            reverse: true,
        };
        let mut buf = BytesMut::new();
        ThriftCodec.encode(&req, -3, &mut buf).unwrap();
        assert_eq!(message_len(&buf), Ok(buf.len()));
        let mut bytes = buf.freeze();
        let mut p = TBinaryProtocol::new(&mut bytes, false);
        let ident = p.read_message_begin().unwrap();
        assert_eq!((ident.name.as_str(), ident.sequence_number), ("Pull", -3));
        let args = ImServicePullArgsRecv::decode(&mut p).unwrap();
        assert_eq!(
            (args.req.chat.as_str(), args.req.cursor, args.req.limit),
            ("u1:v1", 123, 50)
        );
        assert_eq!(args.req.reverse, Some(true));
    }

    #[test]
    fn replies_decode_and_count_messages() {
        let mut buf = pull_reply(5, 0, 3);
        let second = pull_reply(6, 0, 0);
        buf.extend_from_slice(&second);
        let d = ThriftCodec
            .decode(&mut buf, &expect(Op::Pull, 5))
            .unwrap()
            .unwrap();
        assert_eq!(d.outcome, Outcome::Ok { messages: 3 });
        assert_eq!(buf.len(), second.len(), "exactly the first reply consumed");
        let d = ThriftCodec
            .decode(&mut buf, &expect(Op::Pull, 6))
            .unwrap()
            .unwrap();
        assert_eq!(d.outcome, Outcome::Ok { messages: 0 });
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_replies_wait_for_more_bytes() {
        let full = pull_reply(1, 0, 2);
        for cut in 0..full.len() {
            let mut part = BytesMut::from(&full[..cut]);
            assert_eq!(
                ThriftCodec.decode(&mut part, &expect(Op::Pull, 1)),
                Ok(None),
                "cut at {cut}"
            );
            assert_eq!(part.len(), cut, "nothing consumed");
        }
    }

    #[test]
    fn non_zero_code_and_exceptions_are_failures() {
        let resp = SendResponse {
            code: 400,
            msg: "bad chat".into(),
        };
        let mut buf = encode_reply(
            "Send",
            TMessageType::Reply,
            9,
            &ImServiceSendResultSend::Ok(resp),
        );
        let d = ThriftCodec
            .decode(&mut buf, &expect(Op::Send, 9))
            .unwrap()
            .unwrap();
        assert_eq!(
            d.outcome,
            Outcome::Failed("Send: Code 400: bad chat".into())
        );

        let exc = ApplicationException::new(
            pilota::thrift::ApplicationExceptionKind::INTERNAL_ERROR,
            "boom",
        );
        let mut buf = encode_reply("Send", TMessageType::Exception, 10, &exc);
        let d = ThriftCodec
            .decode(&mut buf, &expect(Op::Send, 10))
            .unwrap()
            .unwrap();
        let Outcome::Failed(text) = d.outcome else {
            panic!("{:?}", d.outcome)
        };
        assert!(
            text.contains("exception") && text.contains("boom"),
            "{text}"
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn wrong_seqid_method_or_garbage_is_fatal() {
        let mut buf = pull_reply(1, 0, 0);
        assert!(ThriftCodec.decode(&mut buf, &expect(Op::Pull, 2)).is_err());
        let mut buf = pull_reply(1, 0, 0);
        assert!(ThriftCodec.decode(&mut buf, &expect(Op::Send, 1)).is_err());
        let mut buf = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n"[..]);
        assert!(ThriftCodec.decode(&mut buf, &expect(Op::Send, 1)).is_err());
        assert!(matches!(
            message_len(&[0x80, 1, 0, 2, 0xff, 0xff, 0xff, 0xff]),
            Err(Scan::Invalid(_))
        ));
    }
}
