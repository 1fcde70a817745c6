//! The account store and `POST /auth/login`: the one place that checks passwords and signs the
//! tokens every service trusts. It also rechecks, for every request the gateway relays, that the
//! token's account still exists and is enabled, so a deleted account stops working within
//! `auth.account_check` rather than when its token expires.

use std::{
    collections::HashMap,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use axum::{
    Router,
    extract::{FromRef, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{delete, post},
};
use platform::{
    ApiError, ApiResult, AuthKeys, Db, Identity, Role,
    auth::password,
    db::{is_unique_violation, now_ms},
    http::{Json, Path},
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// What login needs: the store, the signing key, and a hash to verify against when the username
/// is unknown.
#[derive(Clone, FromRef)]
pub struct Accounts {
    db: Db,
    keys: AuthKeys,
    /// Subject id → (enabled, when it was looked up).
    #[from_ref(skip)]
    checked: Arc<Mutex<HashMap<String, (bool, Instant)>>>,
    #[from_ref(skip)]
    check_for: Duration,
    /// Verifying a password against this when no account matches makes an unknown username cost
    /// as much time as a wrong password, so response times do not reveal which usernames exist.
    dummy_hash: Arc<str>,
    /// Each Argon2 verification takes ~19 MiB and a core for tens of milliseconds; a burst of
    /// logins must queue rather than spawn a blocking thread (and its memory) per request.
    #[from_ref(skip)]
    hashing: Arc<Semaphore>,
}

/// Forget looked-up accounts once this many are remembered (the map is rebuilt as they come).
const CHECKED_ACCOUNTS: usize = 100_000;

impl Accounts {
    pub async fn new(db: Db, keys: AuthKeys, check_for: Duration) -> anyhow::Result<Self> {
        let dummy_hash = tokio::task::spawn_blocking(|| {
            password::hash(&uuid::Uuid::new_v4().simple().to_string())
        })
        .await
        .context("hashing the dummy password")??;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            db,
            keys,
            checked: Arc::default(),
            check_for,
            dummy_hash: dummy_hash.into(),
            hashing: Arc::new(Semaphore::new(cores)),
        })
    }

    /// Whether the subject's account exists and is enabled, looked up at most once per
    /// `check_for` per subject.
    async fn enabled(&self, subject_id: &str) -> ApiResult<bool> {
        if let Ok(checked) = self.checked.lock()
            && let Some((enabled, at)) = checked.get(subject_id)
            && at.elapsed() < self.check_for
        {
            return Ok(*enabled);
        }
        // No row is no account; a row with a time is a disabled one.
        let disabled_at: Option<Option<i64>> =
            sqlx::query_scalar("SELECT disabled_at FROM accounts WHERE subject_id = $1")
                .bind(subject_id)
                .fetch_optional(self.db.pool())
                .await?;
        let enabled = matches!(disabled_at, Some(None));
        if let Ok(mut checked) = self.checked.lock() {
            if checked.len() >= CHECKED_ACCOUNTS {
                checked.clear();
            }
            checked.insert(subject_id.to_owned(), (enabled, Instant::now()));
        }
        Ok(enabled)
    }

    fn forget(&self, subject_id: &str) {
        if let Ok(mut checked) = self.checked.lock() {
            checked.remove(subject_id);
        }
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
        .route("/accounts/{username}", delete(disable))
        .with_state(accounts)
}

/// Who a request with a valid token comes from (their subject id), for bounds kept per caller.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignedIn(pub String);

/// In front of everything the gateway relays: a request with a bearer token passes only if the
/// token is valid and its account still exists and is enabled. Services verify the token again;
/// only the gateway can tell that its account went away.
pub async fn authenticate(
    State(accounts): State<Accounts>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(authorization) = request.headers().get(header::AUTHORIZATION) else {
        return next.run(request).await;
    };
    let token = authorization
        .to_str()
        .ok()
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return ApiError::unauthorized("invalid-token", "the Authorization scheme must be Bearer")
            .into_response();
    };
    let claims = match accounts.keys.verify(token) {
        Ok(claims) => claims,
        Err(error) => return error.into_response(),
    };
    match accounts.enabled(&claims.sub).await {
        Ok(true) => {
            request.extensions_mut().insert(SignedIn(claims.sub));
            next.run(request).await
        }
        Ok(false) => ApiError::unauthorized(
            "account-disabled",
            "this token's account no longer exists or was disabled",
        )
        .into_response(),
        Err(error) => error.into_response(),
    }
}

/// An admin deletes an account: it can no longer log in, and its tokens stop working within
/// `auth.account_check` on every gateway (at once on this one).
#[utoipa::path(
    delete,
    path = "/accounts/{username}",
    tag = "accounts",
    responses(
        (status = 204, description = "disabled: its tokens stop working at once"),
        (status = 403, description = "only admins disable accounts (`code`: forbidden)"),
        (status = 404, description = "there is no such account (`code`: account-not-found)"),
        (status = 409, description = "admins cannot disable themselves (`code`: cannot-delete-self)")
    )
)]
async fn disable(
    State(accounts): State<Accounts>,
    caller: Identity,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    let Some(account) = find(&accounts.db, &username).await? else {
        return Err(ApiError::not_found(
            "account-not-found",
            "there is no such account",
        ));
    };
    if account.subject_id == caller.subject_id {
        return Err(ApiError::conflict(
            "cannot-delete-self",
            "an admin cannot delete their own account",
        ));
    }
    sqlx::query("UPDATE accounts SET disabled_at = $1 WHERE username = $2 AND disabled_at IS NULL")
        .bind(now_ms())
        .bind(&username)
        .execute(accounts.db.pool())
        .await?;
    accounts.forget(&account.subject_id);
    tracing::info!(username = ?username, by = ?caller.name, "account disabled");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct LoginRequest {
    #[schema(min_length = 1, pattern = "\\S")]
    username: String,
    #[schema(min_length = 1)]
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
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
    disabled: bool,
}

#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "a bearer token for the other routes", body = LoginResponse),
        (status = 401, description = "wrong username or password (`code`: invalid-credentials)"),
        (status = 422, description = "the body is not a login, or a field is empty (`code`: invalid-body, missing-credentials)")
    ),
    security(())
)]
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
    // A disabled account answers like a wrong password: logins are not a way to probe.
    let Some(account) = account.filter(|account| password_ok && !account.disabled) else {
        // Debug-formatted: a username is the client's text, and may hold newlines or escapes.
        tracing::info!(username = ?request.username, "login refused");
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
    tracing::info!(username = ?request.username, %role, "logged in");
    Ok(Json(LoginResponse {
        token,
        role,
        subject_id: account.subject_id,
    }))
}

async fn find(db: &Db, username: &str) -> sqlx::Result<Option<Account>> {
    let row: Option<(String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT password_hash, role, subject_id, disabled_at FROM accounts WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(db.pool())
    .await?;
    Ok(
        row.map(|(password_hash, role, subject_id, disabled_at)| Account {
            password_hash,
            role,
            subject_id,
            disabled: disabled_at.is_some(),
        }),
    )
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

/// The gateway's own account routes, described for the merged OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(login, disable))]
struct AccountsDoc;

/// This service's part of the public API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <AccountsDoc as utoipa::OpenApi>::openapi()
}
