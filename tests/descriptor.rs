//! The descriptor set is what reflection and the REST edge run on: it must
//! hold every service, every RPC's HTTP rule and the proto comments.

use bazaar_proto::{FILE_DESCRIPTOR_SET, SERVICE_NAMES};
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

fn pool() -> DescriptorPool {
    DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes")
}

/// The `google.api.http` rule of a method as (verb, path, body), if any.
fn http_rule(method: &MethodDescriptor) -> Option<(String, String, String)> {
    let pool = method.parent_pool();
    let extension = pool
        .get_extension_by_name("google.api.http")
        .expect("google.api.http extension is in the set");
    let options = method.options();
    if !options.has_extension(&extension) {
        return None;
    }
    let rule = options.get_extension(&extension);
    let rule = rule.as_message().expect("HttpRule is a message");
    for verb in ["get", "put", "post", "delete", "patch"] {
        if rule.has_field_by_name(verb) {
            return Some((
                verb.to_uppercase(),
                string_field(rule, verb),
                string_field(rule, "body"),
            ));
        }
    }
    panic!("{} has an HTTP rule with no pattern", method.full_name());
}

fn string_field(message: &DynamicMessage, name: &str) -> String {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        other => panic!("{name} is not a string: {other:?}"),
    }
}

/// Every RPC of every service, with the REST binding it must have (or none,
/// for internal RPCs that the edge must not expose).
type Binding = (&'static str, &'static str, &'static str);
const EXPECTED: &[(&str, &str, Option<Binding>)] = &[
    (
        "bazaar.user.v1.UserService",
        "Register",
        Some(("POST", "/v1/users", "*")),
    ),
    (
        "bazaar.user.v1.UserService",
        "Login",
        Some(("POST", "/v1/sessions", "*")),
    ),
    (
        "bazaar.user.v1.UserService",
        "GetMe",
        Some(("GET", "/v1/me", "")),
    ),
    (
        "bazaar.user.v1.UserService",
        "GetUser",
        Some(("GET", "/v1/users/{user_id}", "")),
    ),
    (
        "bazaar.user.v1.UserService",
        "UpdateUser",
        Some(("PATCH", "/v1/users/{user.id}", "user")),
    ),
    (
        "bazaar.user.v1.UserService",
        "ChangePassword",
        Some(("POST", "/v1/users/me:changePassword", "*")),
    ),
    (
        "bazaar.user.v1.UserService",
        "ResetPassword",
        Some(("POST", "/v1/users/{user_id}:resetPassword", "*")),
    ),
    (
        "bazaar.user.v1.UserService",
        "RefreshToken",
        Some(("POST", "/v1/tokens:refresh", "*")),
    ),
    (
        "bazaar.user.v1.UserService",
        "Logout",
        Some(("POST", "/v1/tokens:revoke", "*")),
    ),
    (
        "bazaar.user.v1.UserService",
        "GetJwks",
        Some(("GET", "/v1/jwks", "")),
    ),
    (
        "bazaar.product.v1.ProductService",
        "CreateProduct",
        Some(("POST", "/v1/products", "product")),
    ),
    (
        "bazaar.product.v1.ProductService",
        "GetProduct",
        Some(("GET", "/v1/products/{product_id}", "")),
    ),
    (
        "bazaar.product.v1.ProductService",
        "ListProducts",
        Some(("GET", "/v1/products", "")),
    ),
    (
        "bazaar.product.v1.ProductService",
        "UpdateProduct",
        Some(("PATCH", "/v1/products/{product.id}", "product")),
    ),
    (
        "bazaar.product.v1.ProductService",
        "DeleteProduct",
        Some(("DELETE", "/v1/products/{product_id}", "")),
    ),
    ("bazaar.product.v1.ProductService", "ReserveStock", None),
    (
        "bazaar.product.v1.ProductService",
        "CommitReservation",
        None,
    ),
    (
        "bazaar.product.v1.ProductService",
        "ReleaseReservation",
        None,
    ),
    (
        "bazaar.order.v1.OrderService",
        "PlaceOrder",
        Some(("POST", "/v1/orders", "*")),
    ),
    (
        "bazaar.order.v1.OrderService",
        "GetOrder",
        Some(("GET", "/v1/orders/{order_id}", "")),
    ),
    (
        "bazaar.order.v1.OrderService",
        "ListOrders",
        Some(("GET", "/v1/orders", "")),
    ),
    (
        "bazaar.order.v1.OrderService",
        "CancelOrder",
        Some(("POST", "/v1/orders/{order_id}:cancel", "*")),
    ),
    (
        "bazaar.order.v1.OrderService",
        "ShipOrder",
        Some(("POST", "/v1/orders/{order_id}:ship", "*")),
    ),
    (
        "bazaar.order.v1.OrderService",
        "WatchOrder",
        Some(("GET", "/v1/orders/{order_id}:watch", "")),
    ),
    ("bazaar.payment.v1.PaymentService", "Charge", None),
    ("bazaar.payment.v1.PaymentService", "Refund", None),
    (
        "bazaar.payment.v1.PaymentService",
        "GetPayment",
        Some(("GET", "/v1/payments/{payment_id}", "")),
    ),
    ("bazaar.payment.v1.PaymentService", "LookupPayment", None),
    (
        "bazaar.notification.v1.NotificationService",
        "ListNotifications",
        Some(("GET", "/v1/notifications", "")),
    ),
];

#[test]
fn descriptor_set_holds_all_five_services() {
    let pool = pool();
    let mut names: Vec<_> = pool.services().map(|s| s.full_name().to_owned()).collect();
    names.sort();
    let mut expected: Vec<_> = SERVICE_NAMES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn every_rpc_has_exactly_the_expected_http_rule() {
    let pool = pool();
    let mut seen = 0;
    for service in pool.services() {
        for method in service.methods() {
            let (_, _, expected) = EXPECTED
                .iter()
                .find(|(s, m, _)| *s == service.full_name() && *m == method.name())
                .unwrap_or_else(|| panic!("{} is not in the table", method.full_name()));
            let actual = http_rule(&method);
            let expected = expected.map(|(v, p, b)| (v.to_owned(), p.to_owned(), b.to_owned()));
            assert_eq!(actual, expected, "HTTP rule of {}", method.full_name());
            seen += 1;
        }
    }
    assert_eq!(seen, EXPECTED.len(), "an RPC in the table is missing");
}

#[test]
fn path_variables_name_real_request_fields() {
    let pool = pool();
    for service in pool.services() {
        for method in service.methods() {
            let Some((_, path, body)) = http_rule(&method) else {
                continue;
            };
            let input = method.input();
            for var in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                let mut message = input.clone();
                let mut parts = var.split('.').peekable();
                while let Some(part) = parts.next() {
                    let field = message
                        .get_field_by_name(part)
                        .unwrap_or_else(|| panic!("{}: {var} names no field", method.full_name()));
                    if parts.peek().is_some() {
                        message = field.kind().as_message().cloned().unwrap_or_else(|| {
                            panic!("{}: {part} is not a message", method.full_name())
                        });
                    }
                }
            }
            if !body.is_empty() && body != "*" {
                assert!(
                    input.get_field_by_name(&body).is_some(),
                    "{}: body {body} names no field",
                    method.full_name()
                );
            }
        }
    }
}

#[test]
fn comments_survive_for_openapi() {
    let pool = pool();
    let place_order = pool
        .get_service_by_name("bazaar.order.v1.OrderService")
        .and_then(|s| s.methods().find(|m| m.name() == "PlaceOrder"))
        .expect("PlaceOrder exists");
    let comments = place_order
        .parent_file()
        .file_descriptor_proto()
        .source_code_info
        .as_ref()
        .map(|info| {
            info.location
                .iter()
                .filter_map(|l| l.leading_comments.clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert!(
        comments.iter().any(|c| c.contains("idempotency_key")),
        "PlaceOrder's contract comment is missing from the descriptor set"
    );
}

#[test]
fn generated_stubs_carry_the_service_names() {
    use tonic::server::NamedService;
    type User = bazaar_proto::user::v1::user_service_server::UserServiceServer<()>;
    // The stubs and the descriptor set come from the same compile.
    assert_eq!(<User as NamedService>::NAME, SERVICE_NAMES[0]);
}

#[test]
fn card_debug_output_hides_the_number_and_cvc() {
    let card = bazaar_proto::payment::v1::Card {
        number: "4242 4242 4242 4242".into(),
        exp_month: 12,
        exp_year: 2030,
        cvc: "123".into(),
        holder_name: "Ada".into(),
    };
    let printed = format!("{card:?}");
    assert!(printed.contains("****4242"), "{printed}");
    assert!(!printed.contains("4242 4242"), "{printed}");
    assert!(!printed.contains("123"), "{printed}");
    // Nested in a request, too.
    let request = bazaar_proto::payment::v1::ChargeRequest {
        card: Some(card),
        ..Default::default()
    };
    assert!(!format!("{request:?}").contains("4242 4242"));
}
