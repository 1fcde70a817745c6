//! Identity: the gateway signs a JWT at login; every service verifies it with the shared key and
//! takes the caller's identity only from it, never from ids a client sends.

use std::{fmt, str::FromStr, sync::Arc};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{config::AuthSettings, problem::ApiError};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    pub exp: u64,
}

/// Signing and verifying keys, cheap to clone into every service's state.
#[derive(Clone)]
pub struct AuthKeys(Arc<Keys>);

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: u64,
}

impl AuthKeys {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = settings.jwt_secret.expose().as_bytes();
        Self(Arc::new(Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl_secs: settings.token_ttl_secs,
        }))
    }

    pub fn issue(&self, subject: &str, role: Role, name: &str) -> anyhow::Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            name: name.to_owned(),
            iat: now,
            exp: now + self.0.ttl_secs,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.0.encoding,
        )?)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &validation)
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
            .map_err(|_| {
                ApiError::unauthorized("invalid-token", "malformed Authorization header")
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("invalid-token", "the Authorization scheme must be Bearer")
            })?
            .trim();
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

    fn keys(secret: &str) -> AuthKeys {
        AuthKeys::new(&AuthSettings {
            jwt_secret: Secret::new(secret),
            token_ttl_secs: 60,
        })
    }

    #[test]
    fn a_token_carries_identity() {
        let keys = keys("0123456789abcdef0123");
        let token = keys.issue("c-1", Role::Customer, "customer1").unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.sub, "c-1");
        assert_eq!(claims.role, Role::Customer);
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let token = keys("0123456789abcdef0123")
            .issue("c-1", Role::Admin, "x")
            .unwrap();
        let error = keys("another-secret-of-length").verify(&token).unwrap_err();
        assert_eq!(error.code, "invalid-token");
    }

    #[test]
    fn passwords_hash_and_verify() {
        let stored = password::hash("demo1234").unwrap();
        assert!(password::verify("demo1234", &stored));
        assert!(!password::verify("demo12345", &stored));
        assert!(!password::verify("demo1234", "not a hash"));
    }
}
