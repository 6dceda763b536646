//! The system as tools see it: grpcurl through server reflection, and the
//! journeys `make run` prints, pasted into a shell verbatim.

use bazaar_devstack::{Service, journey};

use crate::{
    journeys::{admin, cards, customer, order_of, place, settled},
    shell::{Run, available, bash, grpcurl, grpcurl_path},
    system::System,
};

/// Every RPC of each service, as reflection must describe them.
fn rpcs(service: Service) -> &'static [&'static str] {
    match service {
        Service::User => &[
            "Register",
            "Login",
            "GetMe",
            "GetUser",
            "UpdateUser",
            "GetJwks",
        ],
        Service::Product => &[
            "CreateProduct",
            "GetProduct",
            "ListProducts",
            "UpdateProduct",
            "DeleteProduct",
            "ReserveStock",
            "CommitReservation",
            "ReleaseReservation",
        ],
        Service::Payment => &["Charge", "Refund", "GetPayment", "LookupPayment"],
        Service::Order => &[
            "PlaceOrder",
            "GetOrder",
            "ListOrders",
            "CancelOrder",
            "ShipOrder",
            "WatchOrder",
        ],
        Service::Notification => &["ListNotifications"],
        Service::Gateway => &[],
    }
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("grpcurl printed no JSON ({e}):\n{stdout}"))
}

#[tokio::test]
async fn grpcurl_lists_describes_and_calls_every_service() {
    grpcurl_path();
    let system = System::start().await;
    let ada = customer(&system, "ada").await;
    let admin_session = admin(&system).await;
    let bearer = format!("authorization: Bearer {}", admin_session.token);

    for service in Service::GRPC {
        let addr = system.stack.addr(service).to_string();
        let name = service.grpc_name().unwrap_or_default();

        let listed = grpcurl(&system.stack, &[&addr, "list"]);
        assert!(listed.success, "{listed:?}");
        let services: Vec<&str> = listed.stdout.lines().collect();
        assert!(services.contains(&name), "{name} in {services:?}");
        assert!(services.contains(&"grpc.health.v1.Health"), "{services:?}");

        let described = grpcurl(&system.stack, &[&addr, "describe", name]);
        assert!(described.success, "{described:?}");
        assert!(
            described.stdout.contains(&format!("{name} is a service")),
            "{described:?}"
        );
        for rpc in rpcs(service) {
            assert!(
                described.stdout.contains(&format!("rpc {rpc} (")),
                "{name}.{rpc} in\n{}",
                described.stdout
            );
        }

        let health = grpcurl(
            &system.stack,
            &[
                "-d",
                &format!(r#"{{"service":"{name}"}}"#),
                &addr,
                "grpc.health.v1.Health/Check",
            ],
        );
        assert!(health.success, "{health:?}");
        assert_eq!(json(&health.stdout)["status"], "SERVING");
    }

    // One call per service.
    let user = system.stack.addr(Service::User).to_string();
    let login = grpcurl(
        &system.stack,
        &[
            "-d",
            r#"{"email":"admin@bazaar.local","password":"bazaar-admin-dev"}"#,
            &user,
            "bazaar.user.v1.UserService/Login",
        ],
    );
    assert!(login.success, "{login:?}");
    let login = json(&login.stdout);
    assert_eq!(login["tokenType"], "Bearer");
    assert_eq!(login["user"]["email"], "admin@bazaar.local");
    assert!(login["user"]["roles"].to_string().contains("ROLE_ADMIN"));

    let product = system.stack.addr(Service::Product).to_string();
    let listed = grpcurl(
        &system.stack,
        &[
            "-d",
            r#"{"page_size":2}"#,
            &product,
            "bazaar.product.v1.ProductService/ListProducts",
        ],
    );
    assert!(listed.success, "{listed:?}");
    let listed = json(&listed.stdout);
    assert_eq!(listed["products"].as_array().map(Vec::len), Some(2));
    assert!(listed["nextPageToken"].is_string(), "{listed}");

    let first = listed["products"][0]["id"].as_str().unwrap_or_default();
    let order = place(&system, &ada, order_of("k", &[(first, 1)], cards::APPROVED)).await;
    let order = settled(&system, &ada, &order.id).await;

    let got = grpcurl(
        &system.stack,
        &[
            "-H",
            &bearer,
            "-d",
            &format!(r#"{{"order_id":"{}"}}"#, order.id),
            &system.stack.addr(Service::Order).to_string(),
            "bazaar.order.v1.OrderService/GetOrder",
        ],
    );
    assert!(got.success, "{got:?}");
    let got = json(&got.stdout);
    assert_eq!(got["order"]["status"], "ORDER_STATUS_CONFIRMED");
    assert_eq!(got["order"]["customerId"], ada.user_id.as_str());

    let paid = grpcurl(
        &system.stack,
        &[
            "-H",
            &bearer,
            "-d",
            &format!(r#"{{"payment_id":"{}"}}"#, order.payment_id),
            &system.stack.addr(Service::Payment).to_string(),
            "bazaar.payment.v1.PaymentService/GetPayment",
        ],
    );
    assert!(paid.success, "{paid:?}");
    let paid = json(&paid.stdout);
    assert_eq!(paid["payment"]["status"], "PAYMENT_STATUS_SUCCEEDED");
    assert_eq!(paid["payment"]["cardLast4"], "4242");

    // Without a token the order service says so, in grpcurl's words.
    let refused = grpcurl(
        &system.stack,
        &[
            "-d",
            &format!(r#"{{"order_id":"{}"}}"#, order.id),
            &system.stack.addr(Service::Order).to_string(),
            "bazaar.order.v1.OrderService/GetOrder",
        ],
    );
    assert!(!refused.success);
    assert!(refused.stderr.contains("Unauthenticated"), "{refused:?}");
    system.stop_cleanly().await;
}

/// What pasting one of the printed journeys did.
struct Pasted {
    /// What the journey itself printed.
    run: Run,
    /// The customer it registered.
    email: String,
    /// The order it placed.
    order: String,
}

/// Pastes `journey` into bash verbatim, then asks the shell which run and
/// order it made (a line the test adds, not part of the journey).
fn paste(journey: &str) -> Pasted {
    let mut run = bash(&format!("{journey}\necho \"$RUN $ORDER\""));
    let made = run
        .stdout
        .trim_end()
        .rsplit('\n')
        .next()
        .unwrap_or_default();
    let (id, order) = made.split_once(' ').unwrap_or_default();
    assert!(!id.is_empty() && !order.is_empty(), "{journey}\n{run:?}");
    let (email, order) = (journey::EMAIL.replace("'$RUN'", id), order.to_owned());
    let printed = run.stdout.trim_end().len() - made.len();
    run.stdout.truncate(printed);
    Pasted { run, email, order }
}

/// The journeys as the README orders them, REST then gRPC, each pasted
/// verbatim, then both again on the same data as after a second `make run`
/// (accounts and idempotency keys are still there). Each registers its own
/// customer and ends with its order confirmed.
#[tokio::test]
async fn the_printed_journeys_work_verbatim_one_after_the_other_and_again() {
    assert!(available("curl"), "the REST journey needs curl");
    grpcurl_path();
    let system = System::start().await;
    let rest = journey::curl(&system.rest_url());
    let grpc = journey::grpcurl(&system.stack);
    let mut orders = Vec::new();
    for pass in ["first", "second"] {
        let Pasted { run, email, order } = paste(&rest);
        assert!(
            run.success && run.stderr.is_empty(),
            "{pass} curl:\n{rest}\n{run:?}"
        );
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            3,
            "{pass} curl: register, products, order: {run:?}"
        );
        assert!(
            lines[0].contains(&format!(r#""email":"{email}""#)),
            "{pass} curl: {run:?}"
        );
        assert!(
            lines[1].contains(r#""products":[{"#),
            "{pass} curl: {run:?}"
        );
        assert!(
            lines[2].contains(r#""status":"ORDER_STATUS_CONFIRMED""#),
            "{pass} curl: {run:?}"
        );
        orders.push(order);

        let Pasted { run, email, order } = paste(&grpc);
        assert!(
            run.success && run.stderr.is_empty(),
            "{pass} grpcurl:\n{grpc}\n{run:?}"
        );
        assert!(
            run.stdout.contains(&format!(r#""email": "{email}""#)),
            "{pass} grpcurl registered: {run:?}"
        );
        assert!(
            run.stdout.contains(r#""status": "ORDER_STATUS_CONFIRMED""#),
            "{pass} grpcurl: {run:?}"
        );
        orders.push(order);
    }
    // A fresh idempotency key each time: four orders, not one returned again.
    let mut distinct = orders.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{orders:?}");

    let script = journey::grpcurl_reflection(&system.stack);
    let reflection = bash(&script);
    assert!(
        reflection.success && reflection.stderr.is_empty(),
        "{script}\n{reflection:?}"
    );
    for expected in [
        "bazaar.order.v1.OrderService\n",
        "bazaar.order.v1.OrderService is a service",
        "rpc PlaceOrder (",
    ] {
        assert!(
            reflection.stdout.contains(expected),
            "{expected} in {reflection:?}"
        );
    }
    system.stop_cleanly().await;
}
