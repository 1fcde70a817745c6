//! Channel adapters: where messages go, chosen in config (`notification.channel`).

use std::time::Duration;

use platform::config::{ChannelKind, NotificationSettings};
use serde_json::json;

use crate::db::Notification;

#[derive(Clone)]
pub enum Channel {
    Log,
    Webhook {
        url: String,
        http: reqwest::Client,
    },
    Kakao {
        base_url: String,
        sender_key: String,
        templates: std::collections::BTreeMap<String, String>,
        default_template: String,
        http: reqwest::Client,
    },
}

impl Channel {
    pub fn from_settings(settings: &NotificationSettings) -> anyhow::Result<Self> {
        let http = || {
            reqwest::Client::builder()
                .timeout(Duration::from_millis(settings.send_timeout_ms))
                .build()
        };
        Ok(match settings.channel {
            ChannelKind::Log => Channel::Log,
            ChannelKind::Webhook => Channel::Webhook {
                url: settings.webhook_url.clone(),
                http: http()?,
            },
            ChannelKind::Kakao => Channel::Kakao {
                base_url: settings.kakao.base_url.trim_end_matches('/').to_owned(),
                sender_key: settings.kakao.sender_key.expose().to_owned(),
                templates: settings.kakao.templates.clone(),
                default_template: settings.kakao.default_template.clone(),
                http: http()?,
            },
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Channel::Log => "log",
            Channel::Webhook { .. } => "webhook",
            Channel::Kakao { .. } => "kakao",
        }
    }

    /// One attempt; an error says why (for `last_error`).
    pub async fn send(&self, n: &Notification) -> Result<(), String> {
        let request = match self {
            Channel::Log => {
                tracing::info!(customer_id = %n.customer_id, order_id = %n.order_id,
                    message = %n.message, "notification");
                return Ok(());
            }
            Channel::Webhook { url, http } => http.post(url).json(&json!({
                "notificationId": n.notification_id,
                "customerId": n.customer_id,
                "orderId": n.order_id,
                "eventType": n.event_type,
                "message": n.message,
            })),
            Channel::Kakao {
                base_url,
                sender_key,
                templates,
                default_template,
                http,
            } => {
                let template = templates.get(&n.event_type).unwrap_or(default_template);
                http.post(format!("{base_url}/v2/alimtalk/send"))
                    .json(&json!({
                        "senderKey": sender_key,
                        "templateCode": template,
                        "recipientId": n.customer_id,
                        "message": n.message,
                        "messageId": n.notification_id,
                    }))
            }
        };
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("channel answered {}", response.status())),
            Err(error) if error.is_timeout() => Err("channel timed out".into()),
            Err(error) => Err(format!("channel unreachable: {error}")),
        }
    }
}
