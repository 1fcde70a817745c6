//! The customer's "mypage" read model (CQRS): each order's store, items, amount, ETA and a
//! timeline of its steps, built only from events. Each step is keyed by the event that made it and
//! the current status is the latest status step, so the view is the same whatever order events
//! arrive in (late, replayed), and a redelivery changes nothing.

use std::collections::HashMap;

use contracts::{CustomerId, Krw, OrderId, OrderLine, StoreId};
use platform::{
    db::{Conn, Tx},
    live,
};
use serde::Serialize;

use crate::order::OrderStatus;

#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub status: StepStatus,
    pub at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MypageOrder {
    pub order_id: OrderId,
    pub store_id: StoreId,
    pub store_name: String,
    pub status: OrderStatus,
    pub amount: Krw,
    pub items: Vec<OrderLine>,
    pub placed_at: i64,
    /// When the store expects the food to be ready (once accepted).
    pub ready_at: Option<i64>,
    pub refunded: bool,
    pub timeline: Vec<Step>,
}

/// What the order's live stream sends: the entry, and when this service changed it (the step's
/// `at` is when its event happened, which may be well before it was read here).
#[derive(Serialize, Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MypageChange {
    #[serde(flatten)]
    pub order: MypageOrder,
    pub changed_at: i64,
}

pub struct NewEntry<'a> {
    pub order_id: &'a OrderId,
    pub customer_id: &'a CustomerId,
    pub store_id: &'a StoreId,
    pub store_name: &'a str,
    pub amount: Krw,
    pub items: &'a [OrderLine],
    pub placed_at: i64,
    /// Known already when the store's `OrderAccepted` (another topic) was read first.
    pub ready_at: Option<i64>,
}

/// Starts an order's entry (from `OrderPlaced`).
pub async fn open_entry(conn: &mut Conn, entry: NewEntry<'_>) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO mypage_orders (order_id, customer_id, store_id, store_name, amount, items, \
         placed_at, ready_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(entry.order_id)
    .bind(entry.customer_id)
    .bind(entry.store_id)
    .bind(entry.store_name)
    .bind(entry.amount)
    .bind(serde_json::to_string(entry.items)?)
    .bind(entry.placed_at)
    .bind(entry.ready_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn set_ready_at(
    conn: &mut Conn,
    order_id: &OrderId,
    ready_at: i64,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE mypage_orders SET ready_at = $1 WHERE order_id = $2")
        .bind(ready_at)
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What a step of the timeline shows: the status the order moved to, or money that moved (which
/// leaves the order's status as it was). Either is its name on the wire.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(untagged)]
pub enum StepStatus {
    Order(OrderStatus),
    Payment(PaymentStep),
}

contracts::status! {
    /// Money that moved on an order.
    pub enum PaymentStep {
        Refunded,
    }
}

impl From<OrderStatus> for StepStatus {
    fn from(status: OrderStatus) -> Self {
        StepStatus::Order(status)
    }
}

impl StepStatus {
    /// Its name, as the wire carries it.
    pub fn as_str(self) -> &'static str {
        self.stored().1
    }

    /// The step's kind and name, as `mypage_steps` keeps them.
    fn stored(self) -> (&'static str, &'static str) {
        match self {
            StepStatus::Order(status) => ("status", status.as_str()),
            StepStatus::Payment(step) => ("payment", step.as_str()),
        }
    }

    fn from_stored(kind: &str, name: &str) -> anyhow::Result<Self> {
        Ok(match kind {
            "status" => StepStatus::Order(name.parse()?),
            "payment" => StepStatus::Payment(name.parse()?),
            other => anyhow::bail!("a mypage step of unknown kind {other:?}"),
        })
    }

    /// Breaks ties between steps recorded in the same millisecond: statuses by their place in an
    /// order's life, money after them.
    fn rank(self) -> usize {
        match self {
            StepStatus::Order(status) => status.rank(),
            StepStatus::Payment(_) => usize::MAX,
        }
    }
}

/// Records one step, made by the event `event_id` at `at`; the same event twice is one step.
pub async fn record_step(
    conn: &mut Conn,
    order_id: &OrderId,
    event_id: &str,
    status: StepStatus,
    at: i64,
    note: Option<&str>,
) -> anyhow::Result<()> {
    let (kind, name) = status.stored();
    sqlx::query(
        "INSERT INTO mypage_steps (order_id, event_id, kind, status, at, note) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id, event_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(event_id)
    .bind(kind)
    .bind(name)
    .bind(at)
    .bind(note)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const ENTRY_COLUMNS: &str = "order_id, store_id, store_name, amount, items, placed_at, ready_at";

/// A `mypage_orders` row: the lines as JSON; the status comes from the steps.
#[derive(sqlx::FromRow)]
struct EntryRow {
    order_id: OrderId,
    store_id: StoreId,
    store_name: String,
    amount: Krw,
    items: String,
    placed_at: i64,
    ready_at: Option<i64>,
}

/// A `mypage_steps` row.
#[derive(sqlx::FromRow)]
struct StepRow {
    order_id: OrderId,
    kind: String,
    status: String,
    at: i64,
    note: Option<String>,
}

/// The steps of the given orders, in one query.
async fn steps_of(
    conn: &mut Conn,
    order_ids: &[OrderId],
) -> anyhow::Result<HashMap<OrderId, Vec<StepRow>>> {
    let mut steps: HashMap<OrderId, Vec<StepRow>> = HashMap::new();
    if order_ids.is_empty() {
        return Ok(steps);
    }
    let placeholders: Vec<String> = (1..=order_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT order_id, kind, status, at, note FROM mypage_steps WHERE order_id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, StepRow>(&sql);
    for id in order_ids {
        query = query.bind(id);
    }
    for step in query.fetch_all(&mut *conn).await? {
        steps.entry(step.order_id.clone()).or_default().push(step);
    }
    Ok(steps)
}

/// One entry from its row and its steps: the current status is the latest status step.
fn entry(row: EntryRow, steps: Vec<StepRow>) -> anyhow::Result<MypageOrder> {
    let mut timeline = steps
        .into_iter()
        .map(|step| {
            Ok(Step {
                status: StepStatus::from_stored(&step.kind, &step.status)?,
                at: step.at,
                note: step.note,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    timeline.sort_by_key(|step| (step.at, step.status.rank()));
    let status = timeline
        .iter()
        .rev()
        .find_map(|step| match step.status {
            StepStatus::Order(status) => Some(status),
            StepStatus::Payment(_) => None,
        })
        .unwrap_or(OrderStatus::Placed);
    let refunded = timeline
        .iter()
        .any(|step| matches!(step.status, StepStatus::Payment(_)));
    Ok(MypageOrder {
        order_id: row.order_id,
        store_id: row.store_id,
        store_name: row.store_name,
        status,
        amount: row.amount,
        items: serde_json::from_str(&row.items)?,
        placed_at: row.placed_at,
        ready_at: row.ready_at,
        refunded,
        timeline,
    })
}

/// The live stream of one order (`GET /orders/{orderId}/events`): its mypage entry, each time a
/// step is added.
pub const LIVE_FEED: &str = "order";

/// Shows the order's entry, as it now is, on its live stream; nothing while `OrderPlaced` has not
/// opened it (its steps come with the entry once it is opened).
pub async fn show_live(tx: &mut Tx, order_id: &OrderId) -> anyhow::Result<()> {
    if let Some(order) = entry_of(tx, order_id, None).await? {
        let change = MypageChange {
            order,
            changed_at: platform::db::now_ms(),
        };
        live::record(tx, LIVE_FEED, order_id.as_str(), "order", &change).await?;
    }
    Ok(())
}

/// One of the customer's orders; `None` for an order that is not theirs or not projected yet.
pub async fn find(
    conn: &mut Conn,
    customer_id: &CustomerId,
    order_id: &OrderId,
) -> anyhow::Result<Option<MypageOrder>> {
    entry_of(conn, order_id, Some(customer_id)).await
}

/// An order's entry with its steps, if projected (and, given a customer, theirs).
async fn entry_of(
    conn: &mut Conn,
    order_id: &OrderId,
    customer_id: Option<&CustomerId>,
) -> anyhow::Result<Option<MypageOrder>> {
    let row: Option<EntryRow> = sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM mypage_orders \
         WHERE order_id = $1 AND ($2 = '' OR customer_id = $2)"
    ))
    .bind(order_id)
    .bind(customer_id.map_or("", CustomerId::as_str))
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => {
            let mut steps = steps_of(conn, std::slice::from_ref(order_id)).await?;
            entry(row, steps.remove(order_id).unwrap_or_default()).map(Some)
        }
        None => Ok(None),
    }
}

/// The customer's orders, newest first; `before` (a `placedAt`) pages back in time.
pub async fn list(
    conn: &mut Conn,
    customer_id: &CustomerId,
    before: Option<i64>,
    limit: i64,
) -> anyhow::Result<Vec<MypageOrder>> {
    let rows: Vec<EntryRow> = sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM mypage_orders WHERE customer_id = $1 AND placed_at < $2 \
         ORDER BY placed_at DESC, order_id DESC LIMIT $3"
    ))
    .bind(customer_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<OrderId> = rows.iter().map(|row| row.order_id.clone()).collect();
    let mut steps = steps_of(conn, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let steps = steps.remove(&row.order_id).unwrap_or_default();
            entry(row, steps)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::*;

    /// Every step reads back as itself from its stored kind and name, shows that name on the
    /// wire, and a row of a kind or name this code does not know is an error, not a guess.
    #[test]
    fn a_step_reads_back_from_its_kind_and_name() {
        let steps = OrderStatus::VARIANTS
            .iter()
            .map(|&status| StepStatus::from(status))
            .chain(
                PaymentStep::VARIANTS
                    .iter()
                    .map(|&s| StepStatus::Payment(s)),
            );
        for step in steps {
            let (kind, name) = step.stored();
            assert_eq!(StepStatus::from_stored(kind, name).unwrap(), step);
            assert_eq!(serde_json::to_value(step).unwrap(), name);
        }
        assert!(StepStatus::from_stored("status", "Refunded").is_err());
        assert!(StepStatus::from_stored("payment", "Placed").is_err());
        assert!(StepStatus::from_stored("note", "Placed").is_err());
    }
}
