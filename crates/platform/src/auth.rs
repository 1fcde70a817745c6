//! Identity: the gateway signs a JWT at login; every service verifies it with the shared key and
//! takes the caller's identity only from it, never from ids a client sends.
//!
//! Services calling each other use tokens of their own, signed with a second key
//! (`auth.service_secret`): an internal endpoint takes a [`ServiceCaller`], which no user token
//! can produce, so charging a card or looking up any order is reachable only from the services
//! that need it.

use contracts::{CustomerId, OwnerId, RiderId};
use std::{
    fmt,
    str::FromStr,
    sync::{Arc, Mutex},
};

use anyhow::Context;
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{
    config::{AuthSettings, ServiceName},
    problem::ApiError,
};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Owner,
    Rider,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Owner => "owner",
            Role::Rider => "rider",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "customer" => Ok(Role::Customer),
            "owner" => Ok(Role::Owner),
            "rider" => Ok(Role::Rider),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role `{other}`")),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Claims {
    /// The subject id: customer, owner, rider or admin id.
    pub sub: String,
    pub role: Role,
    /// The login name, for logs and greetings.
    pub name: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
}

/// The claims of a service token: which service calls.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct ServiceClaims {
    /// `service:<name>`, so it can never be mistaken for a subject id.
    sub: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// How long a service token lives, and how long before its end a new one is made.
const SERVICE_TOKEN_SECS: u64 = 300;
const SERVICE_TOKEN_RENEW_SECS: u64 = 60;

/// Signing and verifying keys, cheap to clone into every service's state.
#[derive(Clone)]
pub struct AuthKeys(Arc<Keys>);

struct Keys {
    user: (EncodingKey, DecodingKey),
    service: (EncodingKey, DecodingKey),
    ttl_secs: u64,
    /// This process's service token per calling service, reused until near its end.
    service_tokens: Mutex<Vec<(ServiceName, String, u64)>>,
}

fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 5;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "nbf", "sub"]);
    validation
}

impl AuthKeys {
    /// Fails when a key is not configured (`up` and the tests fill them in; `serve` requires them).
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let key = |secret: &Option<crate::config::Secret>, name: &str| {
            let secret = secret
                .as_ref()
                .with_context(|| format!("auth.{name} is not set"))?
                .expose()
                .as_bytes();
            anyhow::Ok((
                EncodingKey::from_secret(secret),
                DecodingKey::from_secret(secret),
            ))
        };
        Ok(Self(Arc::new(Keys {
            user: key(&settings.jwt_secret, "jwt_secret")?,
            service: key(&settings.service_secret, "service_secret")?,
            ttl_secs: settings.token_ttl.as_secs(),
            service_tokens: Mutex::new(Vec::new()),
        })))
    }

    pub fn issue(&self, subject: &str, role: Role, name: &str) -> anyhow::Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            name: name.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.0.ttl_secs,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.0.user.0,
        )?)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.0.user.1, &validation())
            .map(|data| data.claims)
            .map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                match error.kind() {
                    ErrorKind::ExpiredSignature => ApiError::unauthorized(
                        "token-expired",
                        "the token has expired; log in again",
                    ),
                    _ => ApiError::unauthorized("invalid-token", "the bearer token is not valid"),
                }
            })
    }

    /// A token that says `caller` is calling, for internal endpoints of other services.
    pub fn service_token(&self, caller: ServiceName) -> anyhow::Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let mut tokens = self
            .0
            .service_tokens
            .lock()
            .map_err(|_| anyhow::anyhow!("service token cache poisoned"))?;
        if let Some((_, token, _)) = tokens
            .iter()
            .find(|(name, _, exp)| *name == caller && *exp > now + SERVICE_TOKEN_RENEW_SECS)
        {
            return Ok(token.clone());
        }
        let claims = ServiceClaims {
            sub: format!("service:{caller}"),
            iat: now,
            nbf: now,
            exp: now + SERVICE_TOKEN_SECS,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.service.0)?;
        tokens.retain(|(name, _, _)| *name != caller);
        tokens.push((caller, token.clone(), claims.exp));
        Ok(token)
    }

    fn verify_service(&self, token: &str) -> Result<ServiceName, ApiError> {
        let refused =
            || ApiError::unauthorized("invalid-service-token", "this endpoint is for services");
        let claims = jsonwebtoken::decode::<ServiceClaims>(token, &self.0.service.1, &validation())
            .map_err(|_| refused())?
            .claims;
        claims
            .sub
            .strip_prefix("service:")
            .and_then(|name| name.parse().ok())
            .ok_or_else(refused)
    }
}

/// The service calling an internal endpoint, proven by a service token.
#[derive(Clone, Copy, Debug)]
pub struct ServiceCaller(pub ServiceName);

impl ServiceCaller {
    /// Refuses every service but the ones named with 403.
    pub fn require(self, allowed: &[ServiceName]) -> Result<Self, ApiError> {
        if allowed.contains(&self.0) {
            Ok(self)
        } else {
            Err(ApiError::forbidden(format!(
                "the {} service may not call this endpoint",
                self.0
            )))
        }
    }
}

impl<S> FromRequestParts<S> for ServiceCaller
where
    AuthKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        AuthKeys::from_ref(state)
            .verify_service(token)
            .map(ServiceCaller)
    }
}

/// The bearer token of a request.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "unauthenticated",
                "send `Authorization: Bearer <token>` from POST /auth/login",
            )
        })?
        .to_str()
        .map_err(|_| ApiError::unauthorized("invalid-token", "malformed Authorization header"))?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("invalid-token", "the Authorization scheme must be Bearer")
        })
}

/// The verified caller of a request.
#[derive(Clone, Debug)]
pub struct Identity {
    pub subject_id: String,
    pub role: Role,
    pub name: String,
    /// The raw token, forwarded on calls made on the caller's behalf.
    pub token: String,
}

impl Identity {
    /// Refuses callers of any other role with 403.
    pub fn require(&self, role: Role) -> Result<&Self, ApiError> {
        if self.role == role {
            Ok(self)
        } else {
            Err(ApiError::forbidden(format!(
                "only a {role} may do this; you are signed in as a {}",
                self.role
            )))
        }
    }

    /// The caller's id as a customer's (check the role first).
    pub fn customer_id(&self) -> CustomerId {
        self.subject_id.as_str().into()
    }

    /// The caller's id as a store owner's (check the role first).
    pub fn owner_id(&self) -> OwnerId {
        self.subject_id.as_str().into()
    }

    /// The caller's id as a rider's (check the role first).
    pub fn rider_id(&self) -> RiderId {
        self.subject_id.as_str().into()
    }

    pub fn require_any(&self, roles: &[Role]) -> Result<&Self, ApiError> {
        if roles.contains(&self.role) {
            Ok(self)
        } else {
            Err(ApiError::forbidden(format!(
                "a {} may not do this",
                self.role
            )))
        }
    }
}

impl<S> FromRequestParts<S> for Identity
where
    AuthKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        let claims = AuthKeys::from_ref(state).verify(token)?;
        Ok(Identity {
            subject_id: claims.sub,
            role: claims.role,
            name: claims.name,
            token: token.to_owned(),
        })
    }
}

/// Argon2id password hashing for the account store.
pub mod password {
    use argon2::{
        Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
        password_hash::{SaltString, rand_core::OsRng},
    };

    pub fn hash(password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    }

    pub fn verify(password: &str, stored: &str) -> bool {
        PasswordHash::new(stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn keys() -> AuthKeys {
        AuthKeys::new(&AuthSettings {
            jwt_secret: Some(Secret::random()),
            service_secret: Some(Secret::random()),
            ..AuthSettings::default()
        })
        .unwrap()
    }

    fn forge(keys: &AuthKeys, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.0.user.0).unwrap()
    }

    #[test]
    fn a_token_carries_identity() {
        let keys = keys();
        let token = keys.issue("c-1", Role::Customer, "customer1").unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.sub, "c-1");
        assert_eq!(claims.role, Role::Customer);
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let token = keys().issue("c-1", Role::Admin, "x").unwrap();
        let error = keys().verify(&token).unwrap_err();
        assert_eq!(error.code, "invalid-token");
    }

    #[test]
    fn not_yet_valid_expired_and_incomplete_tokens_are_refused() {
        let keys = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = |nbf: u64, exp: u64| {
            serde_json::json!({"sub": "c-1", "role": "customer", "name": "c", "iat": now,
                "nbf": nbf, "exp": exp})
        };
        assert!(keys.verify(&forge(&keys, claims(now, now + 60))).is_ok());
        let early = keys.verify(&forge(&keys, claims(now + 600, now + 900)));
        assert_eq!(early.unwrap_err().code, "invalid-token");
        let late = keys.verify(&forge(&keys, claims(now - 900, now - 600)));
        assert_eq!(late.unwrap_err().code, "token-expired");
        let without_nbf = serde_json::json!({"sub": "c-1", "role": "customer", "name": "c",
            "iat": now, "exp": now + 60});
        assert_eq!(
            keys.verify(&forge(&keys, without_nbf)).unwrap_err().code,
            "invalid-token"
        );
    }

    #[test]
    fn service_tokens_and_user_tokens_never_pass_for_each_other() {
        let keys = keys();
        let service = keys.service_token(ServiceName::Order).unwrap();
        assert_eq!(keys.verify_service(&service).unwrap(), ServiceName::Order);
        assert_eq!(
            keys.service_token(ServiceName::Order).unwrap(),
            service,
            "reused"
        );
        assert_eq!(keys.verify(&service).unwrap_err().code, "invalid-token");
        let user = keys.issue("c-1", Role::Admin, "admin").unwrap();
        assert_eq!(
            keys.verify_service(&user).unwrap_err().code,
            "invalid-service-token"
        );
        // A user token signed with the service key still names no service.
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "c-1", "iat": 0, "nbf": 0, "exp": u64::MAX / 2}),
            &keys.0.service.0,
        )
        .unwrap();
        assert_eq!(
            keys.verify_service(&forged).unwrap_err().code,
            "invalid-service-token"
        );
    }

    #[test]
    fn passwords_hash_and_verify() {
        let stored = password::hash("demo1234").unwrap();
        assert!(password::verify("demo1234", &stored));
        assert!(!password::verify("demo12345", &stored));
        assert!(!password::verify("demo1234", "not a hash"));
    }
}
