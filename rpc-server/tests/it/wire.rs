//! Raw protocol bytes against the server, run in-process: each reply is
//! framed like its request, and garbage on one connection leaves the others
//! unaffected.
use std::time::Duration;

use harness::{Client, Framing, InProcessServer};
use rpc_server::thrift_bytes::{Proto, framed, pull_call, ttheader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const REPLY: u32 = 0x8001_0002;

/// A strict-binary `Pull` of 5 messages from the start, as a Kitex client
/// encodes it.
fn pull(seqid: i32, chat: &str) -> Vec<u8> {
    pull_call(Proto::Binary, seqid, chat.as_bytes(), 0, 5, Some(false))
}

async fn read_some(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut buffer = vec![0; want];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut buffer))
        .await
        .expect("reply within 5 s")
        .expect("reply bytes");
    buffer
}

/// Checks a bare reply message: header, method, seqid, and `Code == 0`.
fn assert_success_reply(message: &[u8], seqid: i32) {
    assert_eq!(&message[0..4], &REPLY.to_be_bytes(), "reply header");
    assert_eq!(&message[4..8], &4i32.to_be_bytes());
    assert_eq!(&message[8..12], b"Pull");
    assert_eq!(&message[12..16], &seqid.to_be_bytes(), "seqid echoed");
    // result field 0 (success) is a struct whose field 1 is the i32 Code = 0
    assert_eq!(&message[16..19], &[12, 0, 0]);
    assert_eq!(&message[19..22], &[8, 0, 1]);
    assert_eq!(&message[22..26], &0i32.to_be_bytes());
}

#[tokio::test]
async fn each_reply_is_framed_like_its_request() {
    let server = InProcessServer::start(&[]);
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();

    // Unframed (Kitex's default), twice on one long-lived connection.
    for seqid in [1, 2] {
        stream.write_all(&pull(seqid, "raw:bytes")).await.unwrap();
        assert_success_reply(&read_some(&mut stream, 26).await, seqid);
        drain(&mut stream).await;
    }

    // Framed on a new connection.
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(&framed(&pull(7, "raw:bytes")))
        .await
        .unwrap();
    let reply = read_some(&mut stream, 4 + 26).await;
    let length = u32::from_be_bytes(reply[0..4].try_into().unwrap());
    assert!(length > 26 && length < 1000, "frame length {length}");
    assert_success_reply(&reply[4..], 7);

    // TTHeader on a new connection.
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        // Binary protocol (id 0), no transforms.
        .write_all(&ttheader(9, &[0, 0], &pull(9, "raw:bytes")))
        .await
        .unwrap();
    let reply = read_some(&mut stream, 14).await;
    assert_eq!(&reply[4..6], &0x1000u16.to_be_bytes(), "TTHeader magic");
    assert_eq!(&reply[8..12], &9i32.to_be_bytes(), "TTHeader seqid");
}

/// Reads whatever else of the reply is still on the way.
async fn drain(stream: &mut TcpStream) {
    let mut rest = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut rest)).await;
}

#[tokio::test]
async fn garbage_on_one_connection_leaves_the_others_unaffected() {
    let server = InProcessServer::start(&[]);
    let client = Client::new(server.addr(), Framing::Unframed);
    assert_eq!(client.send_text("g:h", "g", "before").await.code, 0);

    // A connection left half-way through a message must not block anyone.
    let mut stalled = TcpStream::connect(server.addr()).await.unwrap();
    stalled.write_all(&pull(1, "g:h")[..10]).await.unwrap();

    let garbage: [&[u8]; 4] = [
        b"GET /api/pull HTTP/1.1\r\nHost: x\r\n\r\n",
        &[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 0xff, 0xff],
        // A frame that claims to be 2 GiB long.
        &[0x7f, 0xff, 0xff, 0xff, 0x80, 0x01, 0x00, 0x01],
        // A well-formed header calling a method that does not exist.
        &[
            0x80, 0x01, 0x00, 0x01, 0, 0, 0, 4, b'N', b'o', b'p', b'e', 0, 0, 0, 1, 0,
        ],
    ];
    for bytes in garbage {
        let mut bad = TcpStream::connect(server.addr()).await.unwrap();
        bad.write_all(bytes).await.unwrap();
        // Either an error reply or a closed connection, never a hang that
        // keeps the peer waiting forever, and never a crash.
        let mut buffer = [0u8; 256];
        let _ = tokio::time::timeout(Duration::from_secs(2), bad.read(&mut buffer)).await;
        assert_eq!(client.send_text("g:h", "h", "still serving").await.code, 0);
    }

    let all = client.pull_all("g:h", 0, 10, false).await;
    assert_eq!(all.len(), 5);
    drop(stalled);
}
