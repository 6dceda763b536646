//! Deadline propagation: the server records each request's deadline for the
//! handler's task, and every call the handler makes gets at most what is
//! left of it, so no hop works for a caller that has given up.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    static INCOMING: Instant;
}

/// Runs `handler` knowing its request must be answered by `deadline`.
pub fn scope<F: Future>(deadline: Instant, handler: F) -> TaskLocalFuture<Instant, F> {
    INCOMING.scope(deadline, handler)
}

/// What is left of the current request's deadline, if inside one.
pub fn remaining() -> Option<Duration> {
    INCOMING
        .try_with(|deadline| deadline.saturating_duration_since(Instant::now()))
        .ok()
}

/// A `grpc-timeout` header value for `timeout`: the largest unit that keeps
/// the precision within the spec's eight digits.
pub fn encode_grpc_timeout(timeout: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let micros = timeout.as_micros();
    if micros <= MAX {
        format!("{micros}u")
    } else if timeout.as_millis() <= MAX {
        format!("{}m", timeout.as_millis())
    } else {
        format!("{}S", u128::from(timeout.as_secs()).min(MAX))
    }
}

/// Parses a `grpc-timeout` value: at most 8 digits and a unit
/// (`H`, `M`, `S`, `m`, `u`, `n`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3_600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_remaining_deadline_is_seen_only_inside_the_scope() {
        assert_eq!(remaining(), None);
        let deadline = Instant::now() + Duration::from_millis(300);
        let left = scope(deadline, async { remaining() }).await.unwrap();
        assert!(left <= Duration::from_millis(300) && left > Duration::from_millis(200));
    }

    #[test]
    fn grpc_timeout_values_parse_per_the_spec() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3_600)));
        assert_eq!(parse_grpc_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("123456789m"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
    }

    #[test]
    fn timeouts_encode_within_eight_digits() {
        assert_eq!(encode_grpc_timeout(Duration::from_millis(300)), "300000u");
        assert_eq!(encode_grpc_timeout(Duration::from_secs(1000)), "1000000m");
        assert_eq!(encode_grpc_timeout(Duration::from_secs(200_000)), "200000S");
    }
}
