//! One long-lived connection and one request at a time on it, the way the
//! gateway's pooled Kitex client and a keep-alive HTTP client use theirs.
use anyhow::{Context, Result};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    stream: TcpStream,
    pub write_buf: BytesMut,
    read_buf: BytesMut,
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
            stream,
            write_buf: BytesMut::with_capacity(4 << 10),
            read_buf: BytesMut::with_capacity(64 << 10),
            seq: 0,
        })
    }

    /// The socket alone, without the buffers.
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// Writes `write_buf`, then reads until `take` has taken a whole reply
    /// off the bytes read; more bytes than that one reply are an error.
    pub async fn exchange<T>(
        &mut self,
        take: impl Fn(&mut BytesMut) -> Result<Option<T>, String>,
    ) -> Result<T, String> {
        let written = self.stream.write_all(&self.write_buf).await;
        written.map_err(|e| format!("write failed: {e}"))?;
        loop {
            if let Some(reply) = take(&mut self.read_buf)? {
                if !self.read_buf.is_empty() {
                    return Err(format!("{} bytes after the reply", self.read_buf.len()));
                }
                return Ok(reply);
            }
            match self.stream.read_buf(&mut self.read_buf).await {
                Ok(0) => return Err("connection closed by the server".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
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
