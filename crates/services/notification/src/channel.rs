//! Channel adapters: where messages go, chosen in config (`notification.channel`).

use crate::settings::{ChannelSettings, NotificationSettings};
use contracts::http::IDEMPOTENCY_KEY;
use serde_json::json;

use crate::db::Notification;

#[derive(Clone)]
pub enum Channel {
    Log,
    Webhook {
        url: url::Url,
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
                .timeout(settings.send_timeout)
                .build()
        };
        Ok(match &settings.channel {
            ChannelSettings::Log => Channel::Log,
            ChannelSettings::Webhook { url } => Channel::Webhook {
                url: url.clone(),
                http: http()?,
            },
            ChannelSettings::Kakao {
                base_url,
                sender_key,
                templates,
                default_template,
            } => Channel::Kakao {
                base_url: base_url.as_str().trim_end_matches('/').to_owned(),
                sender_key: sender_key.expose().to_owned(),
                templates: templates.clone(),
                default_template: default_template.clone(),
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
            Channel::Webhook { url, http } => http
                .post(url.clone())
                .header(IDEMPOTENCY_KEY, &n.event_id)
                .json(&json!({
                    "notificationId": n.notification_id,
                    "idempotencyKey": n.event_id,
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
                    .header(IDEMPOTENCY_KEY, &n.event_id)
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::{Json, Router, extract::State, routing::post};
    use platform::config::Secret;
    use serde_json::Value;

    use super::*;
    use crate::notification::Delivery;

    /// (path, idempotency key header, body) of every request the stand-in channel received.
    type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

    async fn server(status: u16) -> (Seen, String) {
        let seen: Seen = Arc::default();
        let record = |path: &'static str| {
            move |State(seen): State<Seen>,
                  headers: axum::http::HeaderMap,
                  Json(body): Json<Value>| async move {
                let key = headers
                    .get(IDEMPOTENCY_KEY)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().unwrap().push((path.to_owned(), key, body));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        };
        let app = Router::new()
            .route("/v2/alimtalk/send", post(record("/v2/alimtalk/send")))
            .route("/hook", post(record("/hook")))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (seen, url)
    }

    fn notification(event_type: &str) -> Notification {
        Notification {
            notification_id: "n-1".into(),
            event_id: format!("e-{event_type}"),
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            event_type: event_type.into(),
            message: "[김밥천국] 음식 조리를 시작했습니다.".into(),
            status: Delivery::Sending,
            attempts: 0,
            last_error: None,
            created_at: 0,
            sent_at: None,
        }
    }

    #[tokio::test]
    async fn kakao_sends_the_event_template_with_the_sender_key() {
        let (seen, url) = server(200).await;
        let settings = NotificationSettings {
            channel: ChannelSettings::Kakao {
                base_url: format!("{url}/").parse().unwrap(),
                sender_key: Secret::new("sender-1"),
                templates: [("CookStarted".to_owned(), "T_COOKING".to_owned())].into(),
                default_template: "T_DEFAULT".into(),
            },
            ..NotificationSettings::default()
        };
        let channel = Channel::from_settings(&settings).unwrap();
        channel.send(&notification("CookStarted")).await.unwrap();
        channel.send(&notification("OrderPlaced")).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0].0, "/v2/alimtalk/send");
        assert_eq!(seen[0].1, "e-CookStarted");
        assert_eq!(seen[0].2["senderKey"], "sender-1");
        assert_eq!(seen[0].2["templateCode"], "T_COOKING");
        assert_eq!(seen[0].2["recipientId"], "c-1");
        assert_eq!(seen[0].2["message"], "[김밥천국] 음식 조리를 시작했습니다.");
        assert_eq!(seen[1].2["templateCode"], "T_DEFAULT");
    }

    #[tokio::test]
    async fn a_webhook_carries_the_event_id_as_its_idempotency_key() {
        let (seen, url) = server(200).await;
        let settings = NotificationSettings {
            channel: ChannelSettings::Webhook {
                url: format!("{url}/hook").parse().unwrap(),
            },
            ..NotificationSettings::default()
        };
        let channel = Channel::from_settings(&settings).unwrap();
        channel.send(&notification("Delivered")).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0].1, "e-Delivered");
        assert_eq!(seen[0].2["idempotencyKey"], "e-Delivered");
        assert_eq!(seen[0].2["eventType"], "Delivered");
    }

    #[tokio::test]
    async fn a_refusing_channel_is_an_error_with_its_status() {
        let (_, url) = server(503).await;
        let settings = NotificationSettings {
            channel: ChannelSettings::Webhook {
                url: format!("{url}/hook").parse().unwrap(),
            },
            ..NotificationSettings::default()
        };
        let error = Channel::from_settings(&settings)
            .unwrap()
            .send(&notification("CookStarted"))
            .await
            .unwrap_err();
        assert!(error.contains("503"), "{error}");
    }
}
