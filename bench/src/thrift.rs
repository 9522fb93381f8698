//! Direct Thrift, as a Kitex client with no transport option speaks it:
//! unframed strict binary (`0x80010001`, method name, seqid, then the args
//! struct).
//!
//! Requests and replies go through the types volo-build generated from the
//! IDL (`im_idl::rpc`). Unframed Thrift carries no length: a reply is
//! complete once pilota's own `skip` can walk all of it.
use bytes::{Bytes, BytesMut};
use im_idl::rpc::{
    ImServicePullArgsSend, ImServicePullResultRecv, ImServiceSendArgsSend, ImServiceSendResultRecv,
    Message, PullRequest, SendRequest,
};
use pilota::thrift::binary::TBinaryProtocol;
use pilota::thrift::{
    ApplicationException, Message as _, TInputProtocol, TMessageIdentifier, TMessageType,
    TOutputProtocol, TType, ThriftException,
};

use crate::client::{Conn, Outcome};
use crate::workload::{Op, Request};

pub async fn call(conn: &mut Conn, req: &Request) -> Result<Outcome, String> {
    conn.seq = conn.seq.wrapping_add(1);
    encode(req, conn.seq, &mut conn.write_buf).map_err(|e| format!("encoding: {e}"))?;
    let reply = conn.exchange(take_message).await?;
    decode_reply(reply, req.op(), conn.seq)
}

/// Takes the message at the front of `buf` once all of it is there. Its
/// header must be a strict-binary one; after that, a walk that runs out of
/// bytes means more are coming (bytes that never complete a message end in
/// the request's timeout).
fn take_message(buf: &mut BytesMut) -> Result<Option<Bytes>, String> {
    let Some(head) = buf.get(..8) else {
        return Ok(None);
    };
    if head[..2] != [0x80, 0x01] {
        return Err(format!(
            "not a strict-binary Thrift reply: {:02x?}",
            &head[..4]
        ));
    }
    // read_message_begin splits the method name off without a bounds check.
    let name_len = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let name_len = usize::try_from(name_len).map_err(|_| "negative method name length")?;
    if buf.len() < 12 + name_len {
        return Ok(None);
    }
    let mut rest = Bytes::copy_from_slice(buf);
    let mut p = TBinaryProtocol::new(&mut rest, false);
    p.read_message_begin()
        .map_err(|e| format!("not a Thrift reply: {e}"))?;
    if p.skip(TType::Struct).is_err() {
        return Ok(None);
    }
    let len = buf.len() - rest.len();
    Ok(Some(buf.split_to(len).freeze()))
}

/// The Thrift method name on the wire.
fn method(op: Op) -> &'static str {
    match op {
        Op::Send => "Send",
        Op::Pull => "Pull",
    }
}

fn encode(req: &Request, seq: i32, out: &mut BytesMut) -> Result<(), ThriftException> {
    let mut p = TBinaryProtocol::new(out, false);
    let ident = TMessageIdentifier::new(method(req.op()).into(), TMessageType::Call, seq);
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
    p.write_message_end()
}

/// Decodes the reply to request `seq` of `op`. `Err` means the stream can
/// no longer be trusted (wrong seqid or method, bad bytes); a Thrift
/// exception or a non-zero `Code` is an `Ok(Outcome::Failed)`.
fn decode_reply(mut reply: Bytes, op: Op, seq: i32) -> Result<Outcome, String> {
    let method = method(op);
    let bad = |e: ThriftException| format!("undecodable {method} reply: {e}");
    let mut p = TBinaryProtocol::new(&mut reply, false);
    let ident = p.read_message_begin().map_err(bad)?;
    if ident.name != method || ident.sequence_number != seq {
        return Err(format!(
            "reply {:?} #{}, expected {method:?} #{seq}",
            ident.name, ident.sequence_number
        ));
    }
    let (code, msg, messages) = match (ident.message_type, op) {
        (TMessageType::Exception, _) => {
            let exc = ApplicationException::decode(&mut p).map_err(bad)?;
            let kind = exc.kind().as_i32();
            let text = format!(
                "{method}: Thrift exception (type {kind}): {}",
                exc.message()
            );
            return Ok(Outcome::Failed(text));
        }
        (TMessageType::Reply, Op::Send) => {
            let ImServiceSendResultRecv::Ok(resp) =
                ImServiceSendResultRecv::decode(&mut p).map_err(bad)?;
            (resp.code, resp.msg, 0)
        }
        (TMessageType::Reply, Op::Pull) => {
            let ImServicePullResultRecv::Ok(resp) =
                ImServicePullResultRecv::decode(&mut p).map_err(bad)?;
            (resp.code, resp.msg, resp.messages.map_or(0, |m| m.len()))
        }
        (other, _) => return Err(format!("unexpected message type {other:?} in reply")),
    };
    Ok(if code == 0 {
        Outcome::Ok {
            messages: messages as u32,
        }
    } else {
        Outcome::Failed(format!("{method}: Code {code}: {msg}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use im_idl::rpc::{
        ImServicePullArgsRecv, ImServicePullResultSend, ImServiceSendResultSend, PullResponse,
        SendResponse,
    };
    use pilota::FastStr;
    use pilota::thrift::ApplicationExceptionKind;

    fn message<M: pilota::thrift::Message>(
        name: &str,
        ty: TMessageType,
        seq: i32,
        body: &M,
    ) -> Vec<u8> {
        let mut out = BytesMut::new();
        let mut p = TBinaryProtocol::new(&mut out, false);
        p.write_message_begin(&TMessageIdentifier::new(FastStr::new(name), ty, seq))
            .unwrap();
        body.encode(&mut p).unwrap();
        p.write_message_end().unwrap();
        out.to_vec()
    }

    fn pull_reply(seq: i32, messages: usize) -> Vec<u8> {
        let msg = Message {
            chat: Some("a:b".into()),
            text: Some("hello".into()),
            sender: Some("a".into()),
            send_time: Some(42),
        };
        let resp = PullResponse {
            code: 0,
            msg: "success".into(),
            messages: Some(vec![msg; messages]),
            has_more: Some(true),
            next_cursor: Some(43),
        };
        message(
            "Pull",
            TMessageType::Reply,
            seq,
            &ImServicePullResultSend::Ok(resp),
        )
    }

    #[test]
    fn requests_round_trip_through_the_generated_decoder() {
        let req = Request::Pull {
            chat: "u1:v1".into(),
            cursor: 123,
            limit: 50,
            reverse: true,
        };
        let mut buf = BytesMut::new();
        encode(&req, -3, &mut buf).unwrap();
        assert_eq!(&buf[..4], &[0x80, 0x01, 0x00, 0x01]);
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
        assert!(bytes.is_empty());
    }

    #[test]
    fn whole_replies_are_taken_one_at_a_time() {
        let mut wire = pull_reply(5, 3);
        let first_len = wire.len();
        wire.extend(pull_reply(6, 0));
        for cut in 0..first_len {
            let mut part = BytesMut::from(&wire[..cut]);
            assert_eq!(take_message(&mut part), Ok(None), "cut at {cut}");
            assert_eq!(part.len(), cut, "nothing consumed");
        }
        let mut buf = BytesMut::from(&wire[..]);
        let first = take_message(&mut buf).unwrap().unwrap();
        assert_eq!(first.len(), first_len);
        assert_eq!(
            decode_reply(first, Op::Pull, 5),
            Ok(Outcome::Ok { messages: 3 })
        );
        let second = take_message(&mut buf).unwrap().unwrap();
        assert_eq!(
            decode_reply(second, Op::Pull, 6),
            Ok(Outcome::Ok { messages: 0 })
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn non_zero_code_and_exceptions_are_failures() {
        let resp = SendResponse {
            code: 400,
            msg: "bad chat".into(),
        };
        let wire = message(
            "Send",
            TMessageType::Reply,
            9,
            &ImServiceSendResultSend::Ok(resp),
        );
        let outcome = decode_reply(wire.into(), Op::Send, 9);
        assert_eq!(
            outcome,
            Ok(Outcome::Failed("Send: Code 400: bad chat".into()))
        );

        let exc = ApplicationException::new(ApplicationExceptionKind::INTERNAL_ERROR, "boom");
        let wire = message("Send", TMessageType::Exception, 10, &exc);
        let Ok(Outcome::Failed(text)) = decode_reply(wire.into(), Op::Send, 10) else {
            panic!("an exception is a failed request")
        };
        assert!(
            text.contains("exception") && text.contains("boom"),
            "{text}"
        );
    }

    #[test]
    fn wrong_seqid_method_or_garbage_break_the_connection() {
        let wire = Bytes::from(pull_reply(1, 2));
        assert!(decode_reply(wire.clone(), Op::Pull, 2).is_err());
        assert!(decode_reply(wire, Op::Send, 1).is_err());
        let mut garbage = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]);
        assert!(take_message(&mut garbage).is_err());
        let mut negative = BytesMut::from(&[0x80, 1, 0, 2, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(take_message(&mut negative).is_err());
    }
}
