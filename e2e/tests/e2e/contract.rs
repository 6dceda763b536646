//! The REST contract as tools read it, against the real stack: schemathesis
//! runs every check it has with a customer's and an admin's token, and a
//! client generated from `/openapi.json` completes a checkout.

use std::process::Command;

use crate::{
    journeys::{ADMIN_EMAIL, ADMIN_PASSWORD},
    rest_client::{Rest, sign_in, sign_up},
    shell::{Run, tool},
    system::System,
};

/// Examples per operation and phase: enough for every operation's coverage
/// phase and a stateful pass. A run is also cut off (and fails) after
/// `MAX_SECONDS`; schemathesis's own `--max-time` would instead repeat
/// fuzzing until the time is spent.
const EXAMPLES: &str = "25";
const MAX_SECONDS: &str = "240";

fn workspace(path: &str) -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/..").to_owned() + "/" + path
}

fn schemathesis(url: &str, token: &str) -> Run {
    let program = tool("schemathesis", "venv-schemathesis/bin/schemathesis");
    // It keeps a cache of what it found in its working directory.
    let scratch = tempfile::tempdir().expect("a scratch directory");
    Command::new("timeout")
        .current_dir(scratch.path())
        .arg(MAX_SECONDS)
        .arg(program)
        .arg("--config-file")
        .arg(workspace("e2e/schemathesis/schemathesis.toml"))
        .args(["--no-color", "run", &format!("{url}/openapi.json")])
        .args(["--checks", "all", "--max-examples", EXAMPLES])
        .args(["--seed", "20261203"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .output()
        .expect("run schemathesis")
        .into()
}

#[tokio::test]
async fn schemathesis_finds_no_failure_as_a_customer_or_an_admin() {
    let system = System::start().await;
    let url = system.rest_url();
    let rest = Rest::new(&url);
    let customer = sign_up(&rest, "schemathesis").await;
    let admin = sign_in(&rest, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for (who, token) in [("customer", &customer.token), ("admin", &admin.token)] {
        let run = schemathesis(&url, token);
        assert!(
            run.success,
            "schemathesis as {who} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        // Every operation was generated for, and no error cut a run short.
        assert!(run.stdout.contains("Tested: 23"), "{}", run.stdout);
        assert!(!run.stdout.contains("Errors:"), "{}", run.stdout);
    }
    system.stop_cleanly().await;
}

#[tokio::test]
async fn a_client_generated_from_the_openapi_document_checks_out() {
    let generator = tool(
        "openapi-python-client",
        "venv-openapi-client/bin/openapi-python-client",
    );
    let python = generator.with_file_name("python");
    let system = System::start().await;
    let url = system.rest_url();
    let rest = Rest::new(&url);
    let document = rest.get("/openapi.json", None).await;
    assert!(document.status.is_success(), "{document:?}");
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let spec = scratch.path().join("openapi.json");
    let bytes = serde_json::to_vec(&document.body).expect("the document as JSON");
    std::fs::write(&spec, bytes).expect("write the document");

    let generated = Command::new(&generator)
        .args(["generate", "--meta", "none", "--path"])
        .arg(&spec)
        .current_dir(scratch.path())
        .output()
        .expect("run openapi-python-client");
    let generated = Run::from(generated);
    let package = scratch.path().join("bazaar_rest_api_client");
    assert!(
        generated.success && package.join("api/order_service").is_dir(),
        "generation failed:\n{}\n{}",
        generated.stdout,
        generated.stderr
    );
    // What the generator could not express: only the NDJSON watch stream.
    for line in generated
        .stdout
        .lines()
        .filter(|l| l.starts_with("WARNING"))
    {
        assert!(line.contains(":watch"), "{}", generated.stdout);
    }

    let journey = Command::new(&python)
        .arg(workspace("e2e/openapi-client/checkout.py"))
        .arg(scratch.path())
        .arg(&url)
        .output()
        .expect("run the generated client's checkout");
    let journey = Run::from(journey);
    assert!(journey.success, "{journey:?}");
    // The order the client placed, as the shop sees it.
    let order_id = journey.stdout.trim();
    let admin = sign_in(&rest, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let order = rest
        .get(&format!("/v1/orders/{order_id}"), Some(&admin.token))
        .await;
    assert_eq!(
        order.body["order"]["status"], "ORDER_STATUS_CONFIRMED",
        "{order:?}"
    );
    system.stop_cleanly().await;
}
