//! The account store and `POST /auth/login`: the one place that checks passwords and signs the
//! tokens every service trusts.

use std::{str::FromStr, sync::Arc};

use anyhow::Context;
use axum::{Router, extract::State, routing::post};
use platform::{
    ApiError, ApiResult, AuthKeys, Db, Role,
    auth::password,
    db::{is_unique_violation, now_ms},
    http::Json,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tokio::sync::Semaphore;

/// What login needs: the store, the signing key, and a hash to verify against when the username
/// is unknown.
#[derive(Clone)]
pub struct Accounts {
    db: Db,
    keys: AuthKeys,
    /// Verifying a password against this when no account matches makes an unknown username cost
    /// as much time as a wrong password, so response times do not reveal which usernames exist.
    dummy_hash: Arc<str>,
    /// Each Argon2 verification takes ~19 MiB and a core for tens of milliseconds; a burst of
    /// logins must queue rather than spawn a blocking thread (and its memory) per request.
    hashing: Arc<Semaphore>,
}

impl Accounts {
    pub async fn new(db: Db, keys: AuthKeys) -> anyhow::Result<Self> {
        let dummy_hash = tokio::task::spawn_blocking(|| {
            password::hash(&uuid::Uuid::new_v4().simple().to_string())
        })
        .await
        .context("hashing the dummy password")??;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            db,
            keys,
            dummy_hash: dummy_hash.into(),
            hashing: Arc::new(Semaphore::new(cores)),
        })
    }

    async fn verify(&self, password: String, stored: Arc<str>) -> ApiResult<bool> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|error| ApiError::internal(anyhow::Error::new(error)))?;
        tokio::task::spawn_blocking(move || password::verify(&password, &stored))
            .await
            .map_err(|error| ApiError::internal(anyhow::Error::new(error)))
    }
}

pub fn routes(accounts: Accounts) -> Router {
    Router::new()
        .route("/auth/login", post(login))
        .with_state(accounts)
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginResponse {
    token: String,
    role: Role,
    subject_id: String,
}

struct Account {
    password_hash: String,
    role: String,
    subject_id: String,
}

async fn login(
    State(accounts): State<Accounts>,
    Json(request): Json<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    if request.username.trim().is_empty() || request.password.is_empty() {
        return Err(ApiError::unprocessable(
            "missing-credentials",
            "both `username` and `password` must be non-empty",
        ));
    }
    let account = find(&accounts.db, &request.username).await?;
    let stored: Arc<str> = match &account {
        Some(account) => account.password_hash.as_str().into(),
        None => accounts.dummy_hash.clone(),
    };
    let password_ok = accounts.verify(request.password, stored).await?;
    let Some(account) = account.filter(|_| password_ok) else {
        tracing::info!(username = %request.username, "login refused");
        return Err(ApiError::unauthorized(
            "invalid-credentials",
            "the username or password is wrong",
        ));
    };
    let role = Role::from_str(&account.role).map_err(|error| {
        ApiError::internal(anyhow::anyhow!("account {}: {error}", request.username))
    })?;
    let token = accounts
        .keys
        .issue(&account.subject_id, role, &request.username)?;
    tracing::info!(username = %request.username, %role, "logged in");
    Ok(Json(LoginResponse {
        token,
        role,
        subject_id: account.subject_id,
    }))
}

async fn find(db: &Db, username: &str) -> sqlx::Result<Option<Account>> {
    let row =
        sqlx::query("SELECT password_hash, role, subject_id FROM accounts WHERE username = $1")
            .bind(username)
            .fetch_optional(db.pool())
            .await?;
    row.map(|row| {
        Ok(Account {
            password_hash: row.try_get("password_hash")?,
            role: row.try_get("role")?,
            subject_id: row.try_get("subject_id")?,
        })
    })
    .transpose()
}

/// Creates an account unless the username already belongs to `subject_id`, so seeding demo
/// accounts on every start is harmless. An existing account keeps its password: re-seeding must
/// not undo a password someone changed. A username or subject id already bound to someone else
/// is an error rather than a silent rebind.
pub async fn upsert_account(
    db: &Db,
    username: &str,
    password: &str,
    role: Role,
    subject_id: &str,
) -> anyhow::Result<()> {
    anyhow::ensure!(!username.trim().is_empty(), "an account needs a username");
    anyhow::ensure!(!password.is_empty(), "account {username}: empty password");
    anyhow::ensure!(
        !subject_id.trim().is_empty(),
        "account {username}: empty subject id"
    );
    if let Some(existing) = find(db, username).await? {
        return same_subject(username, subject_id, &existing);
    }
    let owned = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || password::hash(&owned))
        .await
        .context("hashing a password")??;
    let inserted = sqlx::query(
        "INSERT INTO accounts (username, password_hash, role, subject_id, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING",
    )
    .bind(username)
    .bind(hash)
    .bind(role.as_str())
    .bind(subject_id)
    .bind(now_ms())
    .execute(db.pool())
    .await;
    match inserted {
        Ok(done) if done.rows_affected() == 1 => Ok(()),
        // Another replica seeded the same username between our read and our insert.
        Ok(_) => match find(db, username).await? {
            Some(existing) => same_subject(username, subject_id, &existing),
            None => anyhow::bail!("account {username} vanished while it was being created"),
        },
        Err(error) if is_unique_violation(&error) => Err(anyhow::anyhow!(
            "account {username}: subject id {subject_id} already belongs to another account"
        )),
        Err(error) => Err(error).with_context(|| format!("creating account {username}")),
    }
}

fn same_subject(username: &str, subject_id: &str, existing: &Account) -> anyhow::Result<()> {
    anyhow::ensure!(
        existing.subject_id == subject_id,
        "account {username} already exists for subject {}, not {subject_id}",
        existing.subject_id
    );
    Ok(())
}
