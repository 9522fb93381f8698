//! HTTP/1.1 to the gateway over a keep-alive connection.
//!
//! `POST /api/send` with `{"chat","text","sender"}` is fine on 200;
//! `GET /api/pull` with `{"chat","cursor","limit","reverse"}` in the body is
//! fine on 200 with a JSON object, whose `messages` are counted. Response
//! heads are parsed by `httparse`; bodies are framed by `Content-Length`,
//! which the gateway (Hertz) always sends.
use bytes::{Buf, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::client::{Conn, Outcome, Reply};
use crate::workload::{Op, Request};

/// Largest response accepted.
const MAX_RESPONSE: usize = 64 << 20;

#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Send {
        chat: &'a str,
        text: &'a str,
        sender: &'a str,
    },
    Pull {
        chat: &'a str,
        cursor: i64,
        limit: i32,
        reverse: bool,
    },
}

#[derive(Deserialize)]
struct PullReply {
    #[serde(default)]
    messages: Option<Vec<serde::de::IgnoredAny>>,
}

pub async fn call(conn: &mut Conn, host: &str, req: &Request) -> Result<Reply, String> {
    write_request(&mut conn.write_buf, host, req);
    let response = conn.exchange(parse_response).await?;
    Ok(Reply {
        outcome: outcome(req.op(), &response),
        keep_alive: response.keep_alive,
    })
}

fn write_request(out: &mut BytesMut, host: &str, req: &Request) {
    let (line, body) = match req {
        Request::Send { chat, sender, text } => {
            ("POST /api/send", Body::Send { chat, text, sender })
        }
        Request::Pull {
            chat,
            cursor,
            limit,
            reverse,
        } => (
            "GET /api/pull",
            Body::Pull {
                chat,
                cursor: *cursor,
                limit: *limit,
                reverse: *reverse,
            },
        ),
    };
    let body = serde_json::to_vec(&body).expect("string and number fields serialize");
    let head = format!(
        "{line} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(&body);
}

fn outcome(op: Op, response: &Response) -> Outcome {
    match (response.status, op) {
        (200, Op::Send) => Outcome::Ok { messages: 0 },
        (200, Op::Pull) => match serde_json::from_slice::<PullReply>(&response.body) {
            Ok(reply) => Outcome::Ok {
                messages: reply.messages.map_or(0, |m| m.len() as u32),
            },
            Err(err) => Outcome::Failed(format!("pull: 200 with a bad JSON body: {err}")),
        },
        (status, op) => {
            let body = String::from_utf8_lossy(&response.body[..response.body.len().min(200)]);
            Outcome::Failed(format!("{op}: HTTP {status}: {}", body.trim()))
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Response {
    status: u16,
    body: Bytes,
    keep_alive: bool,
}

/// Takes one complete response off the front of `buf`, or returns `None`
/// (consuming nothing) while more bytes are needed.
fn parse_response(buf: &mut BytesMut) -> Result<Option<Response>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut head = httparse::Response::new(&mut headers);
    let head_len = match head.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("not an HTTP response: {e}")),
    };
    let status = head.code.unwrap_or_default();
    let mut keep_alive = head.version == Some(1);
    let mut body_len = 0;
    for h in head.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or_default().trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            body_len = value
                .parse()
                .ok()
                .filter(|&n| n <= MAX_RESPONSE)
                .ok_or_else(|| format!("bad Content-Length {value:?}"))?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!("Transfer-Encoding {value:?} is not supported"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    if buf.len() < head_len + body_len {
        return Ok(None);
    }
    buf.advance(head_len);
    Ok(Some(Response {
        status,
        body: buf.split_to(body_len).freeze(),
        keep_alive,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            body: Bytes::copy_from_slice(body.as_bytes()),
            keep_alive: true,
        }
    }

    #[test]
    fn requests_carry_json_bodies_with_a_length() {
        let mut out = BytesMut::new();
        let req = Request::Send {
            chat: "u1:v1".into(),
            sender: "u1".into(),
            text: "say \"hi\"".into(),
        };
        write_request(&mut out, "127.0.0.1:8080", &req);
        let body = r#"{"chat":"u1:v1","text":"say \"hi\"","sender":"u1"}"#;
        let head = "POST /api/send HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
                    Content-Type: application/json\r\nContent-Length:";
        assert_eq!(
            out,
            format!("{head} {}\r\n\r\n{body}", body.len()).as_bytes()
        );

        out.clear();
        let req = Request::Pull {
            chat: "u1:v1".into(),
            cursor: 5,
            limit: 10,
            reverse: true,
        };
        write_request(&mut out, "h", &req);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with("GET /api/pull HTTP/1.1\r\n"));
        assert!(text.ends_with(r#"{"chat":"u1:v1","cursor":5,"limit":10,"reverse":true}"#));
    }

    #[test]
    fn responses_are_framed_by_content_length() {
        let full = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1";
        for cut in 0..full.len() - 9 {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(parse_response(&mut buf), Ok(None), "cut {cut}");
            assert_eq!(buf.len(), cut, "nothing consumed");
        }
        let mut buf = BytesMut::from(&full[..]);
        let parsed = parse_response(&mut buf).unwrap().unwrap();
        assert_eq!(parsed, response(200, "{}"));
        assert_eq!(&buf[..], b"HTTP/1.1");
    }

    #[test]
    fn close_chunked_and_garbage() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"[..],
        );
        assert!(!parse_response(&mut buf).unwrap().unwrap().keep_alive);
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..]);
        assert!(parse_response(&mut buf).is_err());
        let mut buf = BytesMut::from(&b"\x80\x01\x00\x02garbage\r\n\r\n"[..]);
        assert!(parse_response(&mut buf).is_err());
    }

    #[test]
    fn outcomes() {
        let pulled = response(200, r#"{"messages":[{"chat":"a:b"},{}],"has_more":true}"#);
        assert_eq!(outcome(Op::Pull, &pulled), Outcome::Ok { messages: 2 });
        assert_eq!(
            outcome(Op::Pull, &response(200, "{}")),
            Outcome::Ok { messages: 0 }
        );
        assert_eq!(
            outcome(Op::Send, &response(200, "")),
            Outcome::Ok { messages: 0 }
        );
        assert!(matches!(
            outcome(Op::Pull, &response(200, "not")),
            Outcome::Failed(_)
        ));
        assert_eq!(
            outcome(Op::Send, &response(500, r#"{"msg":"bad"}"#)),
            Outcome::Failed(r#"send: HTTP 500: {"msg":"bad"}"#.into())
        );
    }
}
