//! The copy-pasteable journeys `make run` prints: register → login → list
//! products → place an order → get it, once with curl through the REST
//! gateway and once with grpcurl against the services (over mTLS, as the
//! mesh's `dev-client` workload, which the policy lets call the public RPCs
//! only). The end-to-end suite runs exactly this text, so what newcomers
//! paste keeps working.
//!
//! Each journey starts by setting `RUN` to a value of its own and names its
//! customer and idempotency key after it: an account and an order key are
//! permanent, so a fixed one would make the second paste (the other journey,
//! or the next `make run` on the same `./data`) fail at Register.
//!
//! Only POSIX shell, curl/grpcurl, grep and cut are used (no jq), no
//! variable holds more than one word and there are no comments (zsh takes
//! `#` literally when pasted), so the lines work in bash and zsh.

use crate::{
    ready::DEV_CLIENT,
    stack::{Service, Stack},
};

/// The first line of each journey: seconds since the epoch for a reader to
/// recognise, plus `$RANDOM` (bash and zsh) for two pastes in one second.
pub const RUN: &str = "RUN=$(date +%s)-$RANDOM";
/// The journey's customer, inside a single-quoted JSON body: a new one per
/// run, as an email can be registered once.
pub const EMAIL: &str = "ada-'$RUN'@example.com";
pub const PASSWORD: &str = "correct-horse-battery";
pub const DISPLAY_NAME: &str = "Ada Lovelace";
/// The order's idempotency key, inside a single-quoted JSON body: retrying
/// the PlaceOrder line within a run returns the same order instead of buying
/// twice; a new run buys again.
pub const IDEMPOTENCY_KEY: &str = "order-'$RUN'";
/// A test card the simulated processor approves.
pub const APPROVED_CARD: &str = "4242424242424242";
/// Where `scripts/tools.sh grpcurl` (`make tools`) installs grpcurl,
/// relative to the repository root.
pub const GRPCURL: &str = ".tools/grpcurl";

fn register_body() -> String {
    format!(r#"{{"email":"{EMAIL}","password":"{PASSWORD}","display_name":"{DISPLAY_NAME}"}}"#)
}

fn login_body() -> String {
    format!(r#"{{"email":"{EMAIL}","password":"{PASSWORD}"}}"#)
}

/// The PlaceOrder body for the product in `$PRODUCT` (a shell variable).
fn order_body() -> String {
    format!(
        concat!(
            r#"'{{"idempotency_key":"{key}","items":[{{"product_id":"'$PRODUCT'","quantity":1}}],"#,
            r#""payment_method":{{"card":{{"number":"{card}","exp_month":12,"exp_year":2099,"#,
            r#""cvc":"123","holder_name":"{name}"}}}}}}'"#
        ),
        key = IDEMPOTENCY_KEY,
        card = APPROVED_CARD,
        name = DISPLAY_NAME,
    )
}

/// Prints the value of the first JSON string field `field` on stdin.
fn extract(field: &str) -> String {
    format!(r#"grep -o '"{field}": *"[^"]*"' | head -1 | cut -d'"' -f4"#)
}

/// The REST journey against the gateway at `base` (e.g.
/// `http://127.0.0.1:8080`), one command per line.
pub fn curl(base: &str) -> String {
    let json = "-H 'content-type: application/json'";
    let auth = r#"-H "authorization: Bearer $TOKEN""#;
    [
        format!("API={base}"),
        RUN.to_owned(),
        format!(
            "curl -s -X POST $API/v1/users {json} -d '{}'; echo",
            register_body()
        ),
        format!(
            "TOKEN=$(curl -s -X POST $API/v1/sessions {json} -d '{}' | {})",
            login_body(),
            extract("access_token")
        ),
        r#"curl -s "$API/v1/products?page_size=3"; echo"#.to_owned(),
        format!(
            r#"PRODUCT=$(curl -s "$API/v1/products?page_size=1" | {})"#,
            extract("id")
        ),
        format!(
            "ORDER=$(curl -s -X POST $API/v1/orders {auth} {json} -d {} | {})",
            order_body(),
            extract("id")
        ),
        format!("curl -s $API/v1/orders/$ORDER {auth}; echo"),
    ]
    .join("\n")
}

/// grpcurl's mTLS flags: trust the development CA, present the
/// `dev-client` certificate (all under `stack`'s `<data_dir>/mesh`).
pub fn grpcurl_tls(stack: &Stack) -> String {
    let dir = stack.mesh_dir();
    format!(
        "-cacert {} -cert {} -key {}",
        dir.join("ca.pem").display(),
        dir.join(format!("{DEV_CLIENT}.pem")).display(),
        dir.join(format!("{DEV_CLIENT}.key")).display(),
    )
}

/// The same journey over gRPC with grpcurl (run from the repository root),
/// against the services of `stack`.
pub fn grpcurl(stack: &Stack) -> String {
    let call = |service: Service, method: &str| {
        let name = service.grpc_name().unwrap_or_default();
        format!("{} {name}/{method}", stack.addr(service))
    };
    let g = format!("{GRPCURL} {}", grpcurl_tls(stack));
    let auth = r#"-H "authorization: Bearer $TOKEN""#;
    [
        RUN.to_owned(),
        format!(
            "{g} -d '{}' {}",
            register_body(),
            call(Service::User, "Register")
        ),
        format!(
            "TOKEN=$({g} -d '{}' {} | {})",
            login_body(),
            call(Service::User, "Login"),
            extract("accessToken")
        ),
        format!(
            r#"{g} -d '{{"page_size":3}}' {}"#,
            call(Service::Product, "ListProducts")
        ),
        format!(
            r#"PRODUCT=$({g} -d '{{"page_size":1}}' {} | {})"#,
            call(Service::Product, "ListProducts"),
            extract("id")
        ),
        format!(
            "ORDER=$({g} {auth} -d {} {} | {})",
            order_body(),
            call(Service::Order, "PlaceOrder"),
            extract("id")
        ),
        format!(
            r#"{g} {auth} -d '{{"order_id":"'$ORDER'"}}' {}"#,
            call(Service::Order, "GetOrder")
        ),
    ]
    .join("\n")
}

/// Reflection examples: list and describe a service.
pub fn grpcurl_reflection(stack: &Stack) -> String {
    let addr = stack.addr(Service::Order);
    let name = Service::Order.grpc_name().unwrap_or_default();
    let g = format!("{GRPCURL} {}", grpcurl_tls(stack));
    format!("{g} {addr} list\n{g} {addr} describe {name}\n{g} {addr} describe {name}.PlaceOrder")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curl_journey_uses_the_rest_paths_and_proto_field_names() {
        let journey = curl("http://127.0.0.1:8080");
        for expected in [
            "API=http://127.0.0.1:8080",
            "POST $API/v1/users",
            "POST $API/v1/sessions",
            "$API/v1/products?page_size=",
            "POST $API/v1/orders",
            "$API/v1/orders/$ORDER",
            r#""email":"ada-'$RUN'@example.com""#,
            r#""idempotency_key":"order-'$RUN'""#,
            r#""payment_method":{"card":{"number":"4242424242424242""#,
            r#"grep -o '"access_token": *"[^"]*"'"#,
        ] {
            assert!(journey.contains(expected), "{expected} in\n{journey}");
        }
        assert_eq!(journey.lines().count(), 8);
    }

    #[test]
    fn each_journey_sets_its_own_run_before_using_it() {
        // Pasted on its own, each journey must name a fresh customer and
        // order key, not one left over from the other journey.
        for journey in [
            curl("http://127.0.0.1:8080"),
            grpcurl(&Stack::local("data")),
        ] {
            let lines: Vec<&str> = journey.lines().collect();
            let set = lines.iter().position(|line| *line == RUN);
            let used = lines.iter().position(|line| line.contains("'$RUN'"));
            assert!(set.is_some() && set < used, "{journey}");
            assert_eq!(
                journey.matches(EMAIL).count(),
                2,
                "register, login: {journey}"
            );
            assert_eq!(journey.matches(IDEMPOTENCY_KEY).count(), 1, "{journey}");
        }
    }

    #[test]
    fn the_grpcurl_journey_names_each_services_port() {
        let journey = grpcurl(&Stack::local("data"));
        assert!(journey.contains("127.0.0.1:50051 bazaar.user.v1.UserService/Login"));
        assert!(journey.contains("127.0.0.1:50053 bazaar.order.v1.OrderService/PlaceOrder"));
        assert!(journey.starts_with(
            "RUN=$(date +%s)-$RANDOM\n.tools/grpcurl -cacert data/mesh/ca.pem -cert data/mesh/dev-client.pem \
             -key data/mesh/dev-client.key -d '{\"email\""
        ));
        // Over mTLS only: every call carries the dev-client certificate.
        assert!(!journey.contains("-plaintext"));
        assert_eq!(
            journey.matches("-cert data/mesh/dev-client.pem").count(),
            journey
                .lines()
                .filter(|line| line.contains("grpcurl"))
                .count()
        );
        assert_eq!(journey.lines().count(), 7);
        let reflection = grpcurl_reflection(&Stack::local("data"));
        assert!(!reflection.contains("-plaintext"));
        assert_eq!(reflection.matches("-cacert data/mesh/ca.pem").count(), 3);
    }

    #[test]
    fn the_grpcurl_journey_calls_only_what_the_policy_lets_dev_client_call() {
        let policy = bazaar_mesh::MeshPolicy::built_in().expect("the built-in policy");
        let journey = grpcurl(&Stack::local("data"));
        let mut calls = 0;
        for word in journey.split_whitespace() {
            let Some((service, method)) = word.trim_end_matches(')').rsplit_once('/') else {
                continue;
            };
            if !service.starts_with("bazaar.") {
                continue;
            }
            calls += 1;
            assert_eq!(
                policy.decide(DEV_CLIENT, service, method),
                bazaar_mesh::policy::Decision::Allow,
                "{service}/{method}"
            );
        }
        assert_eq!(calls, 6);
    }
}
