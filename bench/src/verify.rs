//! Counts the messages stored in Redis for the bench rooms (`ZCARD` of each
//! room key, pipelined), to compare with the sends the server acknowledged.
//!
//! A minimal RESP client: `redis://[[user]:password@]host:port[/db]` only.
use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Keys per pipelined batch.
const BATCH: usize = 500;

#[derive(Debug, PartialEq, Eq)]
pub struct RedisUrl {
    pub addr: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: Option<u32>,
}

pub fn parse_url(url: &str) -> Result<RedisUrl> {
    let rest = url
        .strip_prefix("redis://")
        .with_context(|| format!("{url:?} is not a redis:// URL"))?;
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => (Some(auth), rest),
        None => (None, rest),
    };
    let (addr, db) = match rest.split_once('/') {
        Some((addr, "")) => (addr, None),
        Some((addr, db)) => (
            addr,
            Some(db.parse().with_context(|| format!("bad database {db:?}"))?),
        ),
        None => (rest, None),
    };
    if addr.is_empty() {
        bail!("{url:?} has no host");
    }
    let addr = if addr.contains(':') {
        addr.to_owned()
    } else {
        format!("{addr}:6379")
    };
    let (user, password) = match auth {
        None => (None, None),
        Some(auth) => match auth.split_once(':') {
            Some(("", pw)) => (None, Some(pw.to_owned())),
            Some((user, pw)) => (Some(user.to_owned()), Some(pw.to_owned())),
            None => (Some(auth.to_owned()), None),
        },
    };
    Ok(RedisUrl {
        addr,
        user,
        password,
        db,
    })
}

/// Appends a RESP command.
pub fn command(out: &mut Vec<u8>, args: &[&str]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses a simple RESP reply line: `:N` gives `Some(N)`, `+...` gives
/// `None`, `-ERR ...` is an error.
pub fn parse_reply(line: &str) -> Result<Option<u64>> {
    let line = line.trim_end_matches(['\r', '\n']);
    match line.as_bytes().first() {
        Some(b':') => Ok(Some(
            line[1..]
                .parse()
                .with_context(|| format!("bad integer reply {line:?}"))?,
        )),
        Some(b'+') => Ok(None),
        Some(b'-') => bail!("Redis error: {}", &line[1..]),
        _ => bail!("unexpected Redis reply {line:?}"),
    }
}

/// The sum of `ZCARD key` over `keys`.
pub async fn count_members(url: &str, keys: &[String]) -> Result<u64> {
    let url = parse_url(url)?;
    let stream = TcpStream::connect(&url.addr)
        .await
        .with_context(|| format!("connecting to Redis at {}", url.addr))?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();

    let mut setup = Vec::new();
    let mut replies = 0;
    if let Some(pw) = &url.password {
        match &url.user {
            Some(user) => command(&mut setup, &["AUTH", user, pw]),
            None => command(&mut setup, &["AUTH", pw]),
        }
        replies += 1;
    }
    if let Some(db) = url.db {
        command(&mut setup, &["SELECT", &db.to_string()]);
        replies += 1;
    }
    if replies > 0 {
        write.write_all(&setup).await?;
        for _ in 0..replies {
            line.clear();
            read.read_line(&mut line).await?;
            parse_reply(&line)?;
        }
    }

    let mut total = 0;
    for batch in keys.chunks(BATCH) {
        let mut out = Vec::new();
        for key in batch {
            command(&mut out, &["ZCARD", key]);
        }
        write.write_all(&out).await?;
        for key in batch {
            line.clear();
            if read.read_line(&mut line).await? == 0 {
                bail!("Redis closed the connection");
            }
            total += parse_reply(&line)
                .with_context(|| format!("ZCARD {key}"))?
                .with_context(|| format!("ZCARD {key}: not an integer reply"))?;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("redis://127.0.0.1:16379").unwrap(),
            RedisUrl {
                addr: "127.0.0.1:16379".into(),
                user: None,
                password: None,
                db: None
            }
        );
        let u = parse_url("redis://:secret@localhost/2").unwrap();
        assert_eq!(u.addr, "localhost:6379");
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.db, Some(2));
        let u = parse_url("redis://me:pw@h:1/").unwrap();
        assert_eq!((u.user.as_deref(), u.db), (Some("me"), None));
        assert!(parse_url("http://x").is_err());
    }

    #[test]
    fn resp() {
        let mut out = Vec::new();
        command(&mut out, &["ZCARD", "im:chat:a:b"]);
        assert_eq!(out, b"*2\r\n$5\r\nZCARD\r\n$11\r\nim:chat:a:b\r\n");
        assert_eq!(parse_reply(":42\r\n").unwrap(), Some(42));
        assert_eq!(parse_reply("+OK\r\n").unwrap(), None);
        assert!(parse_reply("-WRONGTYPE x\r\n").is_err());
        assert!(parse_reply("$3\r\n").is_err());
    }
}
