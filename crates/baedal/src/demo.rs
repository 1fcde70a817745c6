//! Demo data (README, "Demo accounts"): accounts for every role, and two open stores in Seoul with
//! menus. Accounts go straight into the gateway's account store; stores are created through the
//! public API, as an admin and the owners would, so their events reach the order service's replica
//! the same way real ones do. Seeding twice changes nothing.

use std::time::Duration;

use anyhow::{Context, bail};
use platform::{Db, Role};
use serde_json::{Value, json};
use uuid::Uuid;

pub const PASSWORD: &str = "demo1234";

pub const ACCOUNTS: [(&str, Role); 9] = [
    ("customer1", Role::Customer),
    ("customer2", Role::Customer),
    ("customer3", Role::Customer),
    ("owner1", Role::Owner),
    ("owner2", Role::Owner),
    ("rider1", Role::Rider),
    ("rider2", Role::Rider),
    ("rider3", Role::Rider),
    ("admin", Role::Admin),
];

/// Demo subject ids are derived from the username, so every seeded copy agrees on them.
pub fn subject_id(username: &str) -> String {
    let namespace = Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"demo.baedal");
    Uuid::new_v5(&namespace, username.as_bytes()).to_string()
}

pub struct DemoStore {
    pub owner: &'static str,
    pub name: &'static str,
    pub lat: f64,
    pub lng: f64,
    /// (food id, name, price in KRW, sold out)
    pub foods: &'static [(&'static str, &'static str, i64, bool)],
}

pub const STORES: [DemoStore; 2] = [
    DemoStore {
        owner: "owner1",
        name: "김밥천국 강남점",
        lat: 37.4979,
        lng: 127.0276,
        foods: &[
            ("tuna-kimbap", "참치김밥", 4500, false),
            ("tteokbokki", "떡볶이", 5000, false),
            ("rabokki", "라볶이", 6500, false),
            ("sundubu", "순두부찌개", 8000, false),
        ],
    },
    DemoStore {
        owner: "owner2",
        name: "서울치킨 시청점",
        lat: 37.5665,
        lng: 126.9780,
        foods: &[
            ("fried", "후라이드치킨", 18000, false),
            ("yangnyeom", "양념치킨", 19000, false),
            ("cheese-ball", "치즈볼", 5000, true),
        ],
    },
];

/// Seeds a running platform: accounts, stores with their menus, and waits until the order
/// service's menu replica has every demo menu, so an order placed right after can be priced.
pub async fn seed(platform: &crate::Platform) -> anyhow::Result<()> {
    let gateway = platform
        .gateway
        .as_ref()
        .context("demo data needs the gateway")?;
    let gateway_url = platform
        .gateway_url()
        .context("demo data needs the gateway")?;
    seed_accounts(&gateway.db).await?;
    let stores = seed_stores(&gateway_url).await?;
    if let Some(order) = platform.service(platform::ServiceName::Order) {
        wait_for_menus(&order.db, &stores).await?;
    }
    Ok(())
}

/// Seeds a platform running elsewhere (the `serve` shape): accounts into the gateway's database,
/// stores through its gateway; returns once the order service's replica has their menus.
pub async fn seed_remote(settings: &platform::Settings, gateway_url: &str) -> anyhow::Result<()> {
    let gateway_db = Db::connect(&settings.gateway_database_url(), 1, &gateway::MIGRATIONS).await?;
    seed_accounts(&gateway_db).await?;
    gateway_db.close().await;
    let stores = seed_stores(gateway_url).await?;
    let order_db = Db::connect(
        &settings.database_url(platform::ServiceName::Order),
        1,
        crate::migrations(platform::ServiceName::Order),
    )
    .await?;
    let waited = wait_for_menus(&order_db, &stores).await;
    order_db.close().await;
    waited
}

/// Orders are priced from the order service's menu replica: the demo is usable once it holds
/// every demo store's whole menu.
async fn wait_for_menus(order_db: &Db, stores: &[(String, usize)]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (store_id, foods) in stores {
        loop {
            let mut conn = order_db.pool().acquire().await?;
            let menu = order::db::find_menu(&mut conn, &store_id.as_str().into()).await?;
            drop(conn);
            if menu.is_some_and(|menu| menu.foods.len() == *foods) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the order service did not receive the demo menu of store {store_id} within 60 s"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

pub async fn seed_accounts(gateway_db: &Db) -> anyhow::Result<()> {
    for (username, role) in ACCOUNTS {
        gateway::upsert_account(gateway_db, username, PASSWORD, role, &subject_id(username))
            .await
            .with_context(|| format!("seeding account {username}"))?;
    }
    Ok(())
}

/// Creates the demo stores through the gateway unless their owners already have one. Returns
/// each demo store's id with the number of foods on its menu.
pub async fn seed_stores(gateway_url: &str) -> anyhow::Result<Vec<(String, usize)>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let admin = login(&http, gateway_url, "admin").await?;
    let stores: Vec<Value> = http
        .get(format!("{gateway_url}/stores"))
        .bearer_auth(&admin)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut seeded = Vec::new();
    for demo in &STORES {
        let owner_id = subject_id(demo.owner);
        if let Some(store) = stores.iter().find(|s| s["ownerId"] == owner_id.as_str()) {
            let store_id = store["storeId"]
                .as_str()
                .context("a store without storeId")?;
            seeded.push((store_id.to_owned(), demo.foods.len()));
            continue;
        }
        let created: Value = http
            .post(format!("{gateway_url}/stores"))
            .bearer_auth(&admin)
            .json(
                &json!({"name": demo.name, "ownerId": owner_id, "lat": demo.lat, "lng": demo.lng}),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let store_id = created["storeId"]
            .as_str()
            .context("store creation returned no storeId")?;
        let owner = login(&http, gateway_url, demo.owner).await?;
        let foods: Vec<Value> = demo
            .foods
            .iter()
            .map(|(id, name, price, sold_out)| {
                json!({"foodId": id, "name": name, "price": price, "soldOut": sold_out})
            })
            .collect();
        let response = http
            .put(format!("{gateway_url}/stores/{store_id}/menu"))
            .bearer_auth(&owner)
            .json(&json!({ "foods": foods }))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "seeding the menu of {} failed: {}",
                demo.name,
                response.text().await.unwrap_or_default()
            );
        }
        seeded.push((store_id.to_owned(), demo.foods.len()));
    }
    Ok(seeded)
}

async fn login(
    http: &reqwest::Client,
    gateway_url: &str,
    username: &str,
) -> anyhow::Result<String> {
    let body: Value = http
        .post(format!("{gateway_url}/auth/login"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("logging in as {username}"))?
        .json()
        .await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("login answered without a token")
}
