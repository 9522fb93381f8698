//! HTTP/1.1 client codec for the gateway's API, over keep-alive connections.
//!
//! `POST /api/send` with `{"chat","text","sender"}` is fine on 200;
//! `GET /api/pull` with `{"chat","cursor","limit","reverse"}` in the body is
//! fine on 200 with a JSON object, whose `messages` are counted. Responses are
//! framed by `Content-Length` or chunked encoding.
use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use crate::runner::{Codec, Decoded, Expect, Outcome};
use crate::workload::{Op, Request};

/// Largest response head accepted.
const MAX_HEAD: usize = 64 << 10;
/// Largest response body accepted.
const MAX_BODY: usize = 64 << 20;

#[derive(Debug, Clone)]
pub struct HttpCodec {
    /// The `Host` header.
    host: String,
}

impl HttpCodec {
    pub fn new(host: &str) -> HttpCodec {
        HttpCodec {
            host: host.to_owned(),
        }
    }
}

#[derive(Serialize)]
struct SendBody<'a> {
    chat: &'a str,
    text: &'a str,
    sender: &'a str,
}

#[derive(Serialize)]
struct PullBody<'a> {
    chat: &'a str,
    cursor: i64,
    limit: i32,
    reverse: bool,
}

#[derive(Deserialize)]
struct PullReply {
    #[serde(default)]
    messages: Option<Vec<serde::de::IgnoredAny>>,
}

impl Codec for HttpCodec {
    fn encode(&self, req: &Request, _seq: i32, out: &mut BytesMut) -> anyhow::Result<()> {
        let (line, body) = match req {
            Request::Send { chat, sender, text } => (
                "POST /api/send",
                serde_json::to_vec(&SendBody { chat, text, sender })?,
            ),
            Request::Pull {
                chat,
                cursor,
                limit,
                reverse,
            } => (
                "GET /api/pull",
                serde_json::to_vec(&PullBody {
                    chat,
                    cursor: *cursor,
                    limit: *limit,
                    reverse: *reverse,
                })?,
            ),
        };
        out.put_slice(line.as_bytes());
        out.put_slice(b" HTTP/1.1\r\nHost: ");
        out.put_slice(self.host.as_bytes());
        out.put_slice(b"\r\nContent-Type: application/json\r\nContent-Length: ");
        out.put_slice(body.len().to_string().as_bytes());
        out.put_slice(b"\r\n\r\n");
        out.put_slice(&body);
        Ok(())
    }

    fn decode(&self, buf: &mut BytesMut, expect: &Expect) -> Result<Option<Decoded>, String> {
        let Some(resp) = parse_response(buf)? else {
            return Ok(None);
        };
        let outcome = match (resp.status, expect.op) {
            (200, Op::Send) => Outcome::Ok { messages: 0 },
            (200, Op::Pull) => match serde_json::from_slice::<PullReply>(&resp.body) {
                Ok(reply) => Outcome::Ok {
                    messages: reply.messages.map_or(0, |m| m.len() as u32),
                },
                Err(err) => Outcome::Failed(format!("pull: 200 with a bad JSON body: {err}")),
            },
            (status, op) => {
                Outcome::Failed(format!("{op}: HTTP {status}: {}", snippet(&resp.body)))
            }
        };
        Ok(Some(Decoded {
            outcome,
            close: resp.close,
        }))
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.trim().to_owned()
}

/// One parsed response.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server asked to close the connection.
    pub close: bool,
}

/// Takes one complete response off the front of `buf`, or returns `None`
/// (consuming nothing) if more bytes are needed. `Err` means the bytes are
/// not HTTP/1.x.
pub fn parse_response(buf: &mut BytesMut) -> Result<Option<Response>, String> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err("response head too large".into());
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "non-UTF-8 response head")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x response: {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut content_length = None;
    let mut chunked = false;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| format!("bad Content-Length {value:?}"))?;
            if n > MAX_BODY {
                return Err(format!("body of {n} bytes is too large"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let body_start = head_end + 4;
    let no_body = status / 100 == 1 || status == 204 || status == 304;
    let (body, total) = if no_body {
        (Vec::new(), body_start)
    } else if chunked {
        match dechunk(&buf[body_start..])? {
            Some((body, used)) => (body, body_start + used),
            None => return Ok(None),
        }
    } else {
        // A keep-alive response without a length cannot be framed; the
        // gateway always sends one, so treat its absence as an empty body.
        let n = content_length.unwrap_or(0);
        if buf.len() < body_start + n {
            return Ok(None);
        }
        (buf[body_start..body_start + n].to_vec(), body_start + n)
    };
    let _ = buf.split_to(total);
    Ok(Some(Response {
        status,
        body,
        close,
    }))
}

/// Decodes a chunked body at the start of `b`: the body and the bytes used,
/// or `None` if incomplete.
fn dechunk(b: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_end) = find(&b[pos..], b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&b[pos..pos + line_end]).map_err(|_| "bad chunk size")?;
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        if body.len() + size > MAX_BODY {
            return Err("chunked body too large".into());
        }
        pos += line_end + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let Some(end) = find(&b[pos..], b"\r\n") else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if b.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&b[pos..pos + size]);
        if &b[pos + size..pos + size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        pos += size + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(op: Op) -> Expect {
        Expect { op, seq: 0 }
    }

    #[test]
    fn requests_carry_json_bodies_with_a_length() {
        let codec = HttpCodec::new("127.0.0.1:8080");
        let mut out = BytesMut::new();
        let req = Request::Send {
            chat: "u1:v1".into(),
            sender: "u1".into(),
            text: "say \"hi\"".into(),
        };
        codec.encode(&req, 0, &mut out).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        let body = r#"{"chat":"u1:v1","text":"say \"hi\"","sender":"u1"}"#;
        assert_eq!(
            text,
            format!(
                "POST /api/send HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        );

        out.clear();
        let req = Request::Pull {
            chat: "u1:v1".into(),
            cursor: 5,
            limit: 10,
            reverse: true,
        };
        codec.encode(&req, 0, &mut out).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with("GET /api/pull HTTP/1.1\r\n"));
        assert!(text.ends_with(r#"{"chat":"u1:v1","cursor":5,"limit":10,"reverse":true}"#));
    }

    #[test]
    fn content_length_responses_pipeline() {
        let codec = HttpCodec::new("h");
        let one = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let body = r#"{"messages":[{"chat":"a:b"},{"chat":"a:b"}],"has_more":true}"#;
        let two = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut buf = BytesMut::from(format!("{one}{two}").as_bytes());
        let d = codec.decode(&mut buf, &expect(Op::Send)).unwrap().unwrap();
        assert_eq!(d.outcome, Outcome::Ok { messages: 0 });
        let d = codec.decode(&mut buf, &expect(Op::Pull)).unwrap().unwrap();
        assert_eq!(d.outcome, Outcome::Ok { messages: 2 });
        assert!(!d.close);
        assert!(buf.is_empty());
    }

    #[test]
    fn incomplete_responses_consume_nothing() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(parse_response(&mut buf), Ok(None), "cut {cut}");
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn chunked_bodies_are_joined() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"mes\r\nc;x=1\r\nsages\":[{}]}\r\n0\r\n\r\nrest";
        for cut in 0..raw.len() - 4 {
            let mut buf = BytesMut::from(&raw[..cut]);
            assert_eq!(parse_response(&mut buf), Ok(None), "cut {cut}");
        }
        let mut buf = BytesMut::from(&raw[..]);
        let resp = parse_response(&mut buf).unwrap().unwrap();
        assert_eq!(resp.body, br#"{"messages":[{}]}"#);
        assert_eq!(&buf[..], b"rest");
    }

    #[test]
    fn errors_and_close_are_reported() {
        let codec = HttpCodec::new("h");
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 13\r\n\r\n{\"msg\":\"bad\"}"[..],
        );
        let d = codec.decode(&mut buf, &expect(Op::Send)).unwrap().unwrap();
        assert_eq!(
            d.outcome,
            Outcome::Failed(r#"send: HTTP 500: {"msg":"bad"}"#.into())
        );
        assert!(d.close);
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnot"[..]);
        let d = codec.decode(&mut buf, &expect(Op::Pull)).unwrap().unwrap();
        assert!(matches!(d.outcome, Outcome::Failed(_)));
        let mut buf = BytesMut::from(&b"\x80\x01\x00\x02garbage\r\n\r\n"[..]);
        assert!(codec.decode(&mut buf, &expect(Op::Pull)).is_err());
    }
}
