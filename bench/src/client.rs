//! One long-lived connection and one request at a time on it, the way the
//! gateway's pooled Kitex client and a keep-alive HTTP client use theirs.
use anyhow::{Context, Result};
use bytes::BytesMut;
use tokio::io::BufReader;
use tokio::net::TcpStream;

use crate::workload::Request;
use crate::{http, thrift};

/// The protocol spoken to the server.
#[derive(Debug, Clone)]
pub enum Client {
    /// Unframed strict-binary Thrift straight to the rpc-server.
    Thrift,
    /// HTTP/1.1 to the gateway; `host` goes into the `Host` header.
    Http { host: String },
}

/// How a request ended, when the connection survived it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `messages`: how many a pull returned.
    Ok { messages: u32 },
    /// An error reply (HTTP status, Thrift `Code` or exception).
    Failed(String),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub outcome: Outcome,
    /// False when the server closes the connection after this reply.
    pub keep_alive: bool,
}

/// A connection with its buffers.
pub struct Conn {
    pub stream: BufReader<TcpStream>,
    pub write_buf: BytesMut,
    /// Bytes read but not yet parsed (HTTP).
    pub read_buf: BytesMut,
    /// Last Thrift sequence id used.
    pub seq: i32,
}

impl Conn {
    pub async fn open(addr: &str) -> Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: BufReader::with_capacity(64 << 10, stream),
            write_buf: BytesMut::with_capacity(4 << 10),
            read_buf: BytesMut::new(),
            seq: 0,
        })
    }
}

impl Client {
    /// Sends `req` and reads its reply. `Err` means the connection can no
    /// longer be trusted (I/O error, bytes that are not a reply to `req`).
    pub async fn call(&self, conn: &mut Conn, req: &Request) -> Result<Reply, String> {
        conn.write_buf.clear();
        match self {
            Client::Thrift => thrift::call(conn, req).await.map(|outcome| Reply {
                outcome,
                keep_alive: true,
            }),
            Client::Http { host } => http::call(conn, host, req).await,
        }
    }
}
