//! The notification service's settings (`[notification]`, `BAEDAL_NOTIFICATION__…`): where messages
//! go, and how hard the dispatcher tries.

use std::{collections::BTreeMap, time::Duration};

use platform::config::{Secret, Section, positive};
use serde::{Deserialize, Serialize};
use url::Url;

/// Where messages go. Each channel carries what it needs, so a webhook without a URL cannot be
/// written down.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, garde::Validate)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChannelSettings {
    /// Writes each message to the log (development).
    Log,
    /// POSTs each message as JSON to `url`.
    Webhook {
        #[garde(custom(http_url))]
        url: Url,
    },
    /// An AlimTalk-style HTTP API: a base URL, a sender key, one template per event type.
    Kakao {
        #[garde(custom(http_url))]
        base_url: Url,
        #[garde(custom(not_empty))]
        sender_key: Secret,
        /// Template code per event type; events without one use `default_template`.
        #[serde(default)]
        #[garde(skip)]
        templates: BTreeMap<String, String>,
        #[serde(default = "default_template")]
        #[garde(length(min = 1))]
        default_template: String,
    },
}

fn default_template() -> String {
    "BAEDAL_STATUS".into()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, garde::Validate)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationSettings {
    #[garde(dive)]
    pub channel: ChannelSettings,
    /// Timeout of one send.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub send_timeout: Duration,
    /// Attempts per message before it is marked failed.
    #[garde(range(min = 1, max = 20))]
    pub max_attempts: u32,
    /// The wait before the second attempt, doubled before each next one.
    #[serde(with = "humantime_serde")]
    #[garde(skip)]
    pub backoff: Duration,
    /// Messages sent at once; a slow channel holds at most this many.
    #[garde(range(min = 1, max = 1_000))]
    pub concurrency: usize,
    /// Unsent messages kept waiting; beyond this the oldest are dropped (shed) and counted.
    #[garde(range(min = 1))]
    pub max_backlog: i64,
    /// How often the dispatcher looks for messages to send when none finished meanwhile.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub poll_interval: Duration,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            channel: ChannelSettings::Log,
            send_timeout: Duration::from_secs(2),
            max_attempts: 3,
            backoff: Duration::from_millis(200),
            concurrency: 8,
            max_backlog: 1_000,
            poll_interval: Duration::from_millis(200),
        }
    }
}

impl Section for NotificationSettings {
    const KEY: &'static str = "notification";
}

fn http_url(url: &Url, _: &()) -> garde::Result {
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(garde::Error::new(format!(
            "must be an http(s) URL, not {other}:"
        ))),
    }
}

fn not_empty(secret: &Secret, _: &()) -> garde::Result {
    if secret.expose().is_empty() {
        Err(garde::Error::new("is required"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::Settings;

    fn section(toml: &str) -> Result<NotificationSettings, String> {
        use figment::providers::{Format, Serialized, Toml};
        let figment = figment::Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(toml));
        let settings = Settings::extract(figment).map_err(|e| e.to_string())?;
        settings
            .section::<NotificationSettings>()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_channel_is_written_with_what_it_needs() {
        let webhook = section(
            "[notification]\nsend_timeout = \"3s\"\n[notification.channel]\nkind = \"webhook\"\nurl = \"http://hooks.test/x\"",
        )
        .unwrap();
        assert_eq!(webhook.send_timeout, Duration::from_secs(3));
        assert!(matches!(webhook.channel, ChannelSettings::Webhook { .. }));
        assert_eq!(section("").unwrap(), NotificationSettings::default());
    }

    #[test]
    fn a_bad_value_names_its_key() {
        for (toml, key) in [
            (
                "[notification.channel]\nkind = \"webhook\"",
                "notification.channel",
            ),
            (
                "[notification.channel]\nkind = \"webhook\"\nurl = \"ftp://x\"",
                "notification.channel.url",
            ),
            (
                "[notification.channel]\nkind = \"kakao\"\nbase_url = \"https://k.test\"\nsender_key = \"\"",
                "notification.channel.sender_key",
            ),
            (
                "[notification]\nconcurrency = 0",
                "notification.concurrency",
            ),
            (
                "[notification]\nsend_timeout = \"0s\"",
                "notification.send_timeout",
            ),
            (
                "[notification]\npoll_interval = \"soon\"",
                "notification.poll_interval",
            ),
            ("[notification]\nwebhook_url = \"http://x\"", "notification"),
        ] {
            let error = section(toml).unwrap_err();
            assert!(error.contains(&format!("`{key}")), "{toml}: {error}");
        }
    }
}
