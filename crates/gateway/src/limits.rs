//! Rate limits per client address: a general one for every request, and a tighter one for
//! logins, where passwords get guessed. Over the limit a client gets 429 with `Retry-After`.
//! The key is the peer of the gateway's connection; behind a load balancer that is the balancer,
//! so there the limit is per balancer address unless the balancer limits per client itself.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use platform::{ApiError, config::RateLimitSettings};

/// Forget idle clients once this many are tracked.
const TRACKED_CLIENTS: usize = 10_000;

pub struct Limits {
    general: Option<DefaultKeyedRateLimiter<IpAddr>>,
    login: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
}

fn limiter(quota: Option<Quota>) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
    quota.map(RateLimiter::keyed)
}

impl Limits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        let general = NonZeroU32::new(settings.per_second).map(|rate| {
            Quota::per_second(rate).allow_burst(NonZeroU32::new(settings.burst).unwrap_or(rate))
        });
        let login = NonZeroU32::new(settings.logins_per_minute).map(|rate| {
            Quota::per_minute(rate)
                .allow_burst(NonZeroU32::new(settings.login_burst).unwrap_or(rate))
        });
        Self {
            general: limiter(general),
            login: limiter(login),
            clock: DefaultClock::default(),
        }
    }

    fn check(
        &self,
        limiter: &Option<DefaultKeyedRateLimiter<IpAddr>>,
        client: IpAddr,
    ) -> Result<(), u64> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        if limiter.len() > TRACKED_CLIENTS {
            limiter.retain_recent();
        }
        limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).as_secs().max(1))
    }
}

pub async fn enforce(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let mut verdict = limits.check(&limits.general, client);
    if verdict.is_ok() && request.uri().path() == "/auth/login" {
        verdict = limits.check(&limits.login, client);
    }
    match verdict {
        Ok(()) => next.run(request).await,
        Err(retry_after) => {
            metrics::counter!("gateway_rate_limited_total").increment(1);
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "too many requests from this address; slow down",
            );
            error.retry_after = Some(u32::try_from(retry_after).unwrap_or(u32::MAX));
            error.into_response()
        }
    }
}
