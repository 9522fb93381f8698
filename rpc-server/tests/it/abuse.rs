//! Hostile clients against the real binary on a real Redis: each test
//! reproduces one way a client (or a stalled Redis) used to crash, poison or
//! exhaust the server, and checks the bounded outcome it gets now.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{Client, Framing, Redis, RpcServer, texts, wait_until};
use rpc_server::thrift_bytes::{Proto, framed, send_call};

/// The binary on `redis`, with these settings besides.
fn binary_on(redis: &Redis, envs: &[(&str, &str)]) -> RpcServer {
    let mut all = vec![("REDIS_URL", redis.url())];
    all.extend(envs.iter().map(|(name, value)| (*name, value.to_string())));
    RpcServer::start(&all)
}

/// A good client still gets served: one Send and one Pull in a room of its
/// own.
async fn assert_serves(addr: SocketAddr) {
    let client = Client::new(addr, Framing::Unframed);
    let room = format!("probe{}:x", fastrand::u32(..));
    let sent = client.send_text(&room, "x", "still here").await;
    assert_eq!((sent.code, sent.msg.as_str()), (0, "success"));
    let page = client.pull_page(&room, 0, 10, false).await;
    assert_eq!(texts(&page.messages.unwrap()), ["still here"]);
}

/// An unframed strict-binary Send call with raw string bytes.
fn send(chat: &[u8], sender: &[u8], text: &[u8]) -> Vec<u8> {
    send_call(Proto::Binary, 7, chat, text, sender)
}

/// Where `send(b"a:b", _, _)` has the text's length: a 16-byte message
/// header, two struct headers, the chat field (3 + 4 + 3), the text's field
/// header.
const TEXT_LENGTH_AT: usize = 16 + 6 + 10 + 3;
/// Where any `send` has the chat's length.
const CHAT_LENGTH_AT: usize = 16 + 6 + 3;

/// Sends `bytes` on a new connection and returns what comes back until the
/// server closes it or `within` passes; `None` if it was still open then.
fn exchange(addr: SocketAddr, bytes: &[u8], within: Duration) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    let _ = stream.write_all(bytes);
    let mut reply = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(reply),
            Ok(n) => reply.extend(&buffer[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return None,
            Err(err) if err.kind() == std::io::ErrorKind::TimedOut => return None,
            Err(_) => return Some(reply),
        }
    }
}

/// The `Code` and `Msg` of a Send reply: field 1 (i32) and field 2 (string)
/// of the result struct.
fn code_and_msg(reply: &[u8]) -> (i32, String) {
    let at = |pattern: &[u8]| {
        reply
            .windows(pattern.len())
            .position(|window| window == pattern)
            .map(|index| index + pattern.len())
            .unwrap_or_else(|| panic!("no {pattern:?} in reply {reply:?}"))
    };
    let code_at = at(&[8, 0, 1]);
    let code = i32::from_be_bytes(reply[code_at..code_at + 4].try_into().unwrap());
    let msg_at = at(&[11, 0, 2]);
    let len = i32::from_be_bytes(reply[msg_at..msg_at + 4].try_into().unwrap()) as usize;
    let msg = String::from_utf8_lossy(&reply[msg_at + 4..msg_at + 4 + len]).into_owned();
    (code, msg)
}

/// A request answered with a reply on a connection kept open.
fn one_reply(addr: SocketAddr, bytes: &[u8]) -> (i32, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut reply = vec![0u8; 4096];
    let mut filled = 0;
    // A reply to these calls is a few dozen bytes; read until the message
    // string is complete.
    loop {
        let n = stream.read(&mut reply[filled..]).unwrap();
        assert!(n > 0, "connection closed without a reply");
        filled += n;
        if filled > 30 && std::panic::catch_unwind(|| code_and_msg(&reply[..filled])).is_ok() {
            return code_and_msg(&reply[..filled]);
        }
    }
}

#[tokio::test]
async fn connections_past_the_limit_are_refused_and_the_server_stays_up() {
    let redis = Redis::start();
    // 256 descriptors: the server keeps 64 for itself plus one per Redis
    // connection and admits the rest.
    let mut server = RpcServer::start_with_open_files(&[("REDIS_URL", redis.url())], 256);
    // Logged before the listeners are reported bound.
    let log = server.log();
    assert!(log.contains("max_connections=191"), "{log}");

    let mut idle: Vec<TcpStream> = (0..400)
        .filter_map(|_| TcpStream::connect(server.addr()).ok())
        .collect();
    assert!(
        idle.len() > 300,
        "only {} connects went through",
        idle.len()
    );
    // Connections over the limit are closed at once, not parked.
    let last = idle.last_mut().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(last.read(&mut [0u8; 1]).unwrap_or(0), 0);
    server.assert_alive();

    idle.truncate(100);
    std::thread::sleep(Duration::from_millis(300));
    assert_serves(server.addr()).await;
    server.assert_alive();
    assert!(server.log().contains("connection limit is reached"));
}

#[tokio::test]
async fn huge_declared_lengths_are_refused_without_allocating() {
    let redis = Redis::start();
    let mut server = binary_on(&redis, &[]);
    let addr = server.addr();
    let before = server.memory().rss / 1024;

    // Four clients each start a Send whose text declares 1 GiB and stream
    // bytes at it; the server must close them as soon as the length is read.
    let senders: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut call = send(b"a:b", b"a", b"");
                call.truncate(TEXT_LENGTH_AT);
                call.extend((1i32 << 30).to_be_bytes());
                let mut stream = TcpStream::connect(addr).unwrap();
                stream.write_all(&call).unwrap();
                let chunk = vec![b'x'; 1 << 20];
                let mut sent = 0usize;
                while sent < 256 << 20 {
                    match stream.write(&chunk) {
                        Ok(n) => sent += n,
                        Err(_) => return sent,
                    }
                }
                panic!("the server took 256 MiB of a 1 GiB text");
            })
        })
        .collect();
    for sender in senders {
        let sent = sender.join().unwrap();
        assert!(sent < 64 << 20, "{sent} bytes went in before the close");
    }

    // 12 bytes that used to reserve 2 GiB, and lengths past every bound
    // in the other framings.
    let mut tt_huge = 0xffff_fff0u32.to_be_bytes().to_vec();
    tt_huge.extend([0x10, 0x00, 0, 0]);
    for bytes in [
        vec![0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff],
        [0x7fff_fff0u32.to_be_bytes().as_slice(), &[0x80, 0x01, 0, 1]].concat(),
        tt_huge,
    ] {
        assert!(exchange(addr, &bytes, Duration::from_secs(3)).is_some());
    }
    server.assert_alive();
    let peak = server.memory().peak / 1024;
    assert!(
        peak < 64 * 1024,
        "peak RSS {peak} KiB (was {before} KiB at start)"
    );
    assert_serves(addr).await;
}

#[tokio::test]
async fn invalid_utf8_is_refused_and_unreadable_history_does_not_break_pulls() {
    let redis = Redis::start();
    let mut server = binary_on(&redis, &[]);
    let addr = server.addr();
    for (call, field) in [
        (send(b"u8a:u8b", b"u8a", &[0xff, 0xfe]), "text"),
        (send(&[b'a', b':', 0x80], b"a", b"x"), "chat"),
        (send(&[0xf0], b"a", b"x"), "chat"),
        (send(b"a:b", &[0xff], b"x"), "sender"),
    ] {
        assert_eq!(
            one_reply(addr, &call),
            (400, format!("invalid {field}: not valid UTF-8"))
        );
    }
    assert_eq!(redis.cli(&["DBSIZE"]), "0");

    // A room that an older version or a hand wrote bad members into.
    let client = Client::new(addr, Framing::Unframed);
    for text in ["one", "two", "three"] {
        assert_eq!(client.send_text("p:q", "p", text).await.code, 0);
    }
    let page = client.pull_page("p:q", 0, 10, false).await;
    let times: Vec<i64> = page
        .messages
        .unwrap()
        .iter()
        .map(|m| m.send_time.unwrap())
        .collect();
    let lossy = times[0] + 1;
    let junk = times[1] + 1;
    let mut member = br#"{"chat":"p:q","text":""#.to_vec();
    member.extend([0xff, 0xfe]);
    member.extend(format!(r#"","sender":"p","send_time":{lossy}}}"#).as_bytes());
    let status = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "ZADD", "im:chat:p:q"])
        .arg(lossy.to_string())
        .arg(std::ffi::OsStr::from_bytes(&member))
        .arg(junk.to_string())
        .arg("not a message")
        .output()
        .unwrap();
    assert!(status.status.success());

    for (limit, reverse) in [(1, false), (1, true), (2, false), (10, true)] {
        let all = client.pull_all("p:q", 0, limit, reverse).await;
        let mut got = texts(&all);
        if reverse {
            got.reverse();
        }
        assert_eq!(
            got,
            ["one", "\u{fffd}\u{fffd}", "two", "three"],
            "limit {limit}"
        );
    }
    server.assert_alive();
}

#[tokio::test]
async fn malformed_frames_close_one_connection_and_nothing_else() {
    let redis = Redis::start();
    let mut server = binary_on(&redis, &[]);
    let addr = server.addr();
    let mut ttheader_size_zero = 14u32.to_be_bytes().to_vec();
    ttheader_size_zero.extend([0x10, 0x00, 0, 0, 0, 0, 0, 1, 0, 0]);
    ttheader_size_zero.extend([0x80, 0x01, 0, 1]);
    // A framed call whose text claims more bytes than the frame holds.
    let mut past_frame = send(b"a:b", b"a", b"0123456789");
    past_frame[TEXT_LENGTH_AT..TEXT_LENGTH_AT + 4].copy_from_slice(&1000i32.to_be_bytes());
    let past_frame = framed(&past_frame);
    let mut negative = send(b"a:b", b"a", b"x");
    negative[CHAT_LENGTH_AT..CHAT_LENGTH_AT + 4].copy_from_slice(&(-1i32).to_be_bytes());
    let mut exception = send(b"a:b", b"a", b"x");
    exception[3] = 3;

    for (name, bytes) in [
        ("TTHeader with header size 0", ttheader_size_zero),
        ("string longer than its frame", past_frame),
        ("string length -1", negative),
        ("exception sent as a request", exception),
    ] {
        let reply = exchange(addr, &bytes, Duration::from_secs(5));
        assert!(reply.is_some(), "{name}: connection left open");
        server.assert_alive();
    }
    assert_serves(addr).await;
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    // One short line per kind, not the codec's dump of the whole context.
    for line in log
        .lines()
        .filter(|line| line.contains("closed a connection"))
    {
        assert!(line.len() < 400, "{line}");
    }
}

#[tokio::test]
async fn requests_that_never_finish_and_idle_connections_are_closed() {
    let redis = Redis::start();
    let mut server = binary_on(
        &redis,
        &[
            ("RPC_READ_TIMEOUT_MS", "800"),
            ("RPC_IDLE_TIMEOUT_MS", "1500"),
        ],
    );
    let addr = server.addr();
    let started = Instant::now();
    // A framed header and nothing more; a partial TTHeader.
    for bytes in [
        vec![0, 0, 0, 100, 0x80, 0x01, 0, 1],
        vec![0, 0, 0, 40, 0x10, 0x00, 0, 0, 0, 0],
    ] {
        assert!(exchange(addr, &bytes, Duration::from_secs(5)).is_some());
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    // One byte every 300 ms: never whole within 800 ms.
    let call = send(b"slow:loris", b"slow", b"x");
    let mut stream = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    let mut closed = false;
    for byte in &call {
        if stream.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert!(closed || stream.read(&mut [0u8; 1]).unwrap_or(0) == 0);
    assert_eq!(redis.cli(&["EXISTS", "im:chat:loris:slow"]), "0");

    // Idle: kept past the read timeout, closed after the idle timeout.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    assert_eq!(idle.read(&mut [0u8; 1]).unwrap_or(0), 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    server.assert_alive();
    assert_serves(addr).await;
}

const STALL_SCRIPT: &str =
    "local s = redis.call('TIME')[1] while redis.call('TIME')[1] - s < 2 do end";

/// Whether Redis answers a PING within `timeout`.
fn answers_within(port: u16, timeout: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(b"PING\r\n").unwrap();
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

#[tokio::test]
async fn a_send_that_may_be_stored_never_says_retry() {
    let redis = Redis::start();
    let server = binary_on(&redis, &[("STORAGE_TIMEOUT_MS", "300")]);
    let client = std::sync::Arc::new(Client::new(server.addr(), Framing::Unframed));
    assert_eq!(client.send_text("st:all", "st", "warm-up").await.code, 0);

    let port = redis.port.to_string();
    let stall = std::thread::spawn(move || {
        Command::new("redis-cli")
            // A script that spins for 2 s stalls Redis as DEBUG SLEEP would
            // (which Redis 7 disables by default).
            .args(["-p", &port, "EVAL", STALL_SCRIPT, "0"])
            .output()
            .unwrap()
    });
    // Until Redis answers no more (redis-cli has to start first).
    wait_until("Redis to stall", Duration::from_secs(5), || {
        !answers_within(redis.port, Duration::from_millis(200))
    });
    let sends: Vec<_> = (0..30)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                let text = format!("m{n}");
                let response = client.send_text("st:all", "st", &text).await;
                (text, response)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for send in sends {
        outcomes.push(send.await.unwrap());
    }
    stall.join().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let stored = texts(&client.pull_all("st:all", 0, 100, false).await);
    let mut timeouts = 0;
    for (text, response) in &outcomes {
        match response.code {
            0 => assert!(stored.contains(text), "acknowledged {text} is missing"),
            _ if response.msg.starts_with("storage unavailable") => {
                assert!(
                    !stored.contains(text),
                    "{text} was stored after: {}",
                    response.msg
                )
            }
            _ => {
                assert!(
                    response
                        .msg
                        .starts_with("storage timeout: the message may have been stored"),
                    "{}",
                    response.msg
                );
                timeouts += 1;
            }
        }
    }
    assert!(
        timeouts > 0,
        "Redis stalled but nothing timed out: {outcomes:?}"
    );
}

#[tokio::test]
async fn outages_and_garbage_do_not_flood_the_log() {
    let mut redis = Redis::start();
    let server = binary_on(&redis, &[]);
    let addr = server.addr();
    redis.stop();
    let client = Client::new(addr, Framing::Unframed);
    for _ in 0..2000 {
        assert_eq!(client.send_text("down:x", "x", "t").await.code, 500);
    }
    for _ in 0..200 {
        exchange(addr, b"GET / HTTP/1.1\r\n\r\n", Duration::from_secs(2));
    }
    let log = server.log();
    let storage_lines = log
        .lines()
        .filter(|l| l.contains("failed in storage"))
        .count();
    let garbage_lines = log
        .lines()
        .filter(|l| l.contains("closed a connection"))
        .count();
    assert!(storage_lines <= 3, "{storage_lines} storage lines:\n{log}");
    assert!(
        garbage_lines <= 3,
        "{garbage_lines} lines about garbage:\n{log}"
    );
    assert!(!log.contains("\"t\""), "a text reached the log");
}

#[tokio::test]
async fn nothing_is_accepted_after_sigterm() {
    let redis = Redis::start();
    let mut server = binary_on(&redis, &[]);
    let addr = server.addr();
    // An open connection makes Volo wait 2 s before it drains.
    let client = Client::new(addr, Framing::Unframed);
    assert_eq!(client.send_text("late:x", "x", "before").await.code, 0);

    server.send_sigterm();
    std::thread::sleep(Duration::from_millis(300));
    let late = send(b"late:x", b"x", b"after");
    if let Ok(mut stream) = TcpStream::connect(addr) {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.write_all(&late);
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        assert!(
            reply.is_empty(),
            "a connection made after SIGTERM was served"
        );
    }
    assert!(server.wait_exit(Duration::from_secs(40)));
    let members = redis.cli(&["ZRANGE", "im:chat:late:x", "0", "-1"]);
    assert!(
        members.contains("before") && !members.contains("after"),
        "{members}"
    );
}

#[tokio::test]
async fn half_sent_requests_on_many_connections_are_bounded_together() {
    let redis = Redis::start();
    let mut server = binary_on(&redis, &[("MAX_PENDING_REQUEST_BYTES", "8388608")]);
    let addr = server.addr();
    // 40 connections each start a Send of a 900 KB text and stop at 400 KB:
    // 16 MB of requests in progress against a bound of 8 MiB.
    let mut call = send(b"a:b", b"a", b"");
    call.truncate(TEXT_LENGTH_AT);
    call.extend(900_000i32.to_be_bytes());
    call.extend(vec![b'x'; 400_000]);
    let mut open = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.write_all(&call);
        open.push(stream);
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut closed = 0;
    for stream in &mut open {
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        match stream.read(&mut [0u8; 1]) {
            Ok(0) => closed += 1,
            Err(err)
                if !matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                closed += 1
            }
            _ => {}
        }
    }
    assert!(closed >= 15, "only {closed} of 40 connections were closed");
    server.assert_alive();
    let rss = server.memory().rss / 1024;
    assert!(
        rss < 48 * 1024,
        "RSS {rss} KiB with {closed} connections closed"
    );
    assert!(
        server
            .log()
            .contains("requests in progress over all connections")
    );
    // Connections still waiting for the rest do not stop others from being
    // served: a small request fits in what is left.
    assert_serves(addr).await;
}
