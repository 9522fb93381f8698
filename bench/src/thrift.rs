//! Direct Thrift, as a Kitex client with no transport option speaks it:
//! unframed strict binary (`0x80010001`, method name, seqid, then the args
//! struct).
//!
//! Requests and replies go through the types volo-build generated from the
//! IDL (`im_idl::rpc`). Unframed Thrift carries no length, so replies are
//! decoded straight off the socket with pilota's async protocol, as Volo's
//! own server reads unframed requests.
use bytes::BytesMut;
use im_idl::rpc::{
    ImServicePullArgsSend, ImServicePullResultRecv, ImServiceSendArgsSend, ImServiceSendResultRecv,
    Message, PullRequest, SendRequest,
};
use pilota::thrift::binary::TBinaryProtocol;
use pilota::thrift::{
    ApplicationException, Message as _, TAsyncBinaryProtocol, TAsyncInputProtocol,
    TMessageIdentifier, TMessageType, TOutputProtocol, ThriftException,
};
use tokio::io::{AsyncRead, AsyncWriteExt};

use crate::client::{Conn, Outcome};
use crate::workload::{Op, Request};

pub async fn call(conn: &mut Conn, req: &Request) -> Result<Outcome, String> {
    conn.seq = conn.seq.wrapping_add(1);
    encode(req, conn.seq, &mut conn.write_buf).map_err(|e| format!("encoding: {e}"))?;
    conn.stream
        .write_all(&conn.write_buf)
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    read_reply(&mut conn.stream, req.op(), conn.seq).await
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

/// Reads the reply to request `seq` of `op`. `Err` means the stream can no
/// longer be trusted (I/O error, wrong seqid or method, bad bytes); a Thrift
/// exception or a non-zero `Code` is an `Ok(Outcome::Failed)`.
async fn read_reply<R>(reader: R, op: Op, seq: i32) -> Result<Outcome, String>
where
    R: AsyncRead + Unpin + Send,
{
    let method = method(op);
    let bad = |e: ThriftException| format!("undecodable {method} reply: {e}");
    let mut p = TAsyncBinaryProtocol::new(reader);
    let ident = p.read_message_begin().await.map_err(bad)?;
    if ident.name != method || ident.sequence_number != seq {
        return Err(format!(
            "reply {:?} #{}, expected {method:?} #{seq}",
            ident.name, ident.sequence_number
        ));
    }
    let (code, msg, messages) = match (ident.message_type, op) {
        (TMessageType::Exception, _) => {
            let exc = ApplicationException::decode_async(&mut p)
                .await
                .map_err(bad)?;
            let kind = exc.kind().as_i32();
            let text = format!(
                "{method}: Thrift exception (type {kind}): {}",
                exc.message()
            );
            return Ok(Outcome::Failed(text));
        }
        (TMessageType::Reply, Op::Send) => {
            let ImServiceSendResultRecv::Ok(resp) = ImServiceSendResultRecv::decode_async(&mut p)
                .await
                .map_err(bad)?;
            (resp.code, resp.msg, 0)
        }
        (TMessageType::Reply, Op::Pull) => {
            let ImServicePullResultRecv::Ok(resp) = ImServicePullResultRecv::decode_async(&mut p)
                .await
                .map_err(bad)?;
            (resp.code, resp.msg, resp.messages.map_or(0, |m| m.len()))
        }
        (other, _) => return Err(format!("unexpected message type {other:?} in reply")),
    };
    p.read_message_end().await.map_err(bad)?;
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
    use pilota::thrift::{ApplicationExceptionKind, TInputProtocol};

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

    #[tokio::test]
    async fn replies_are_read_exactly_and_messages_counted() {
        let mut wire = pull_reply(5, 3);
        wire.extend(pull_reply(6, 0));
        let mut reader = &wire[..];
        let first = read_reply(&mut reader, Op::Pull, 5).await;
        assert_eq!(first, Ok(Outcome::Ok { messages: 3 }));
        let second = read_reply(&mut reader, Op::Pull, 6).await;
        assert_eq!(second, Ok(Outcome::Ok { messages: 0 }));
        assert!(reader.is_empty());
    }

    #[tokio::test]
    async fn non_zero_code_and_exceptions_are_failures() {
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
        let outcome = read_reply(&wire[..], Op::Send, 9).await;
        assert_eq!(
            outcome,
            Ok(Outcome::Failed("Send: Code 400: bad chat".into()))
        );

        let exc = ApplicationException::new(ApplicationExceptionKind::INTERNAL_ERROR, "boom");
        let wire = message("Send", TMessageType::Exception, 10, &exc);
        let Ok(Outcome::Failed(text)) = read_reply(&wire[..], Op::Send, 10).await else {
            panic!("an exception is a failed request")
        };
        assert!(
            text.contains("exception") && text.contains("boom"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn wrong_seqid_method_truncation_or_garbage_break_the_connection() {
        let wire = pull_reply(1, 2);
        assert!(read_reply(&wire[..], Op::Pull, 2).await.is_err());
        assert!(read_reply(&wire[..], Op::Send, 1).await.is_err());
        assert!(
            read_reply(&wire[..wire.len() - 1], Op::Pull, 1)
                .await
                .is_err()
        );
        let garbage = b"HTTP/1.1 400 Bad Request\r\n\r\n";
        assert!(read_reply(&garbage[..], Op::Send, 1).await.is_err());
    }
}
