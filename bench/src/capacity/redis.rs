//! The bench's own Redis, administered: settings, emptying, memory and
//! command statistics. Every command here is one Redis documents for
//! operators (`CONFIG`, `FLUSHALL`, `MEMORY USAGE`, `INFO`); the rpc-server
//! itself never sends them.
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use fred::clients::Client;
use fred::prelude::{Builder, ClientLike, Config};
use fred::types::{ClusterHash, CustomCommand, Value};

/// A zset setting and its value, e.g. `zset-max-listpack-value` = `128`.
pub type Setting = (String, String);

/// The zset settings whose effect is measured.
pub const ZSET_SETTINGS: [&str; 2] = ["zset-max-listpack-value", "zset-max-listpack-entries"];

pub struct Redis {
    client: Client,
}

/// Calls and microseconds of one command, from `INFO commandstats`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
}

impl Redis {
    pub async fn connect(url: &str) -> Result<Redis> {
        let config = Config::from_url(url).with_context(|| format!("Redis URL {url:?}"))?;
        let client = Builder::from_config(config).build()?;
        client.init().await.context("connecting to Redis")?;
        Ok(Redis { client })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn command<R: fred::types::FromValue>(
        &self,
        name: &'static str,
        args: Vec<Value>,
    ) -> Result<R> {
        let command = CustomCommand::new_static(name, ClusterHash::FirstKey, false);
        self.client
            .custom(command, args)
            .await
            .with_context(|| format!("Redis {name}"))
    }

    /// Deletes every key, synchronously, so the next fill starts from zero.
    pub async fn flush(&self) -> Result<()> {
        self.command::<Value>("FLUSHALL", vec!["SYNC".into()])
            .await
            .map(drop)
    }

    pub async fn config_get(&self, name: &str) -> Result<String> {
        let pair: Vec<String> = self
            .command("CONFIG", vec!["GET".into(), name.into()])
            .await?;
        pair.into_iter()
            .nth(1)
            .with_context(|| format!("Redis has no setting {name}"))
    }

    /// The current values of [`ZSET_SETTINGS`].
    pub async fn zset_settings(&self) -> Result<Vec<Setting>> {
        let mut settings = Vec::new();
        for name in ZSET_SETTINGS {
            settings.push((name.to_owned(), self.config_get(name).await?));
        }
        Ok(settings)
    }

    pub async fn config_set(&self, settings: &[Setting]) -> Result<()> {
        for (name, value) in settings {
            let args = vec!["SET".into(), name.as_str().into(), value.as_str().into()];
            self.command::<Value>("CONFIG", args)
                .await
                .with_context(|| format!("CONFIG SET {name} {value}"))?;
        }
        Ok(())
    }

    /// `MEMORY USAGE key SAMPLES 0` summed over `keys` (exact: every
    /// element is counted), and the encoding of the first key.
    pub async fn memory_usage(&self, keys: &[String]) -> Result<(u64, String)> {
        let mut total = 0;
        for key in keys {
            let args = vec![
                "USAGE".into(),
                key.as_str().into(),
                "SAMPLES".into(),
                "0".into(),
            ];
            let bytes: Option<u64> = self.command("MEMORY", args).await?;
            total += bytes.with_context(|| format!("no key {key}"))?;
        }
        let encoding = match keys.first() {
            Some(key) => {
                let args = vec!["ENCODING".into(), key.as_str().into()];
                self.command("OBJECT", args).await?
            }
            None => String::new(),
        };
        Ok((total, encoding))
    }

    /// A field of `INFO section`, e.g. `used_memory` of `memory`.
    pub async fn info_field(&self, section: &'static str, field: &str) -> Result<String> {
        let info: String = self.command("INFO", vec![section.into()]).await?;
        info_value(&info, field)
            .map(str::to_owned)
            .with_context(|| format!("INFO {section} has no {field}"))
    }

    pub async fn used_memory(&self) -> Result<u64> {
        let value = self.info_field("memory", "used_memory").await?;
        value.parse().context("used_memory")
    }

    /// Calls and time of every command run so far (those run by scripts
    /// count under their own names too).
    pub async fn command_stats(&self) -> Result<BTreeMap<String, CommandStat>> {
        let info: String = self.command("INFO", vec!["commandstats".into()]).await?;
        Ok(parse_command_stats(&info))
    }

    pub async fn quit(&self) {
        let _ = self.client.quit().await;
    }
}

fn info_value<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// `cmdstat_zrange:calls=3,usec=25,usec_per_call=8.33,...` lines.
fn parse_command_stats(info: &str) -> BTreeMap<String, CommandStat> {
    let mut stats = BTreeMap::new();
    for line in info.lines() {
        let Some((name, fields)) = line
            .strip_prefix("cmdstat_")
            .and_then(|rest| rest.split_once(':'))
        else {
            continue;
        };
        let field = |wanted: &str| {
            fields.split(',').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key == wanted).then(|| value.trim().parse::<u64>().ok())?
            })
        };
        if let (Some(calls), Some(usec)) = (field("calls"), field("usec")) {
            stats.insert(name.to_owned(), CommandStat { calls, usec });
        }
    }
    stats
}

/// What `commands` cost between two snapshots, in µs per `requests`.
pub fn command_usec_per_request(
    before: &BTreeMap<String, CommandStat>,
    after: &BTreeMap<String, CommandStat>,
    commands: &[&str],
    requests: u64,
) -> Option<f64> {
    let usec: u64 = commands
        .iter()
        .map(|name| {
            let now = after.get(*name).copied().unwrap_or_default();
            let then = before.get(*name).copied().unwrap_or_default();
            now.usec.saturating_sub(then.usec)
        })
        .sum();
    (requests > 0).then(|| usec as f64 / requests as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_stats_are_parsed_and_subtracted() {
        let before = parse_command_stats(
            "# Commandstats\r\ncmdstat_evalsha:calls=10,usec=200,usec_per_call=20.00,rejected_calls=0,failed_calls=0\r\n",
        );
        let after = parse_command_stats(
            "# Commandstats\r\ncmdstat_evalsha:calls=20,usec=500,usec_per_call=25.00\r\ncmdstat_zrange:calls=5,usec=50,usec_per_call=10.00\r\n",
        );
        assert_eq!(after["zrange"], CommandStat { calls: 5, usec: 50 });
        let per = command_usec_per_request(&before, &after, &["evalsha", "zrange"], 10);
        assert_eq!(per, Some(35.0));
        assert_eq!(
            command_usec_per_request(&before, &after, &["eval"], 0),
            None
        );
        assert_eq!(
            info_value("a:1\r\nused_memory:42\r\n", "used_memory"),
            Some("42")
        );
        assert_eq!(info_value("used_memory_rss:9\r\n", "used_memory"), None);
    }
}
