//! Problems with the descriptors, rules or routes stop start-up with a
//! message naming the RPC (or service) at fault.

use std::path::PathBuf;

use bazaar_gateway::{Gateway, GatewayConfig, StartupError, upstream::UpstreamError};
use bazaar_mesh::MeshConfig;
use bazaar_runtime::testing::mesh;

use crate::support::{config as test_config, descriptor_file, sidecar, spawn_config};

/// Compiles one proto file (importing `google/api/annotations.proto`) into an
/// encoded descriptor set, as `protoc --include_imports` would.
fn compile(body: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = format!(
        "syntax = \"proto3\";\npackage test.v1;\nimport \"google/api/annotations.proto\";\n\
         message Req {{ string id = 1; string name = 2; repeated string tags = 3; Inner inner = 4; }}\n\
         message Inner {{ string id = 1; }}\nmessage Res {{ string id = 1; }}\n{body}"
    );
    std::fs::write(dir.path().join("test.proto"), source).expect("write proto");
    let contracts = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto");
    let mut compiler =
        protox::Compiler::new([dir.path(), std::path::Path::new(contracts)]).expect("compiler");
    compiler.include_imports(true);
    compiler.open_files(["test.proto"]).expect("valid proto");
    compiler.encode_file_descriptor_set()
}

fn build(set: &[u8]) -> Result<Gateway, StartupError> {
    let file = descriptor_file(set);
    let config = GatewayConfig {
        descriptor_set: Some(PathBuf::from(file.path())),
        upstream: Some("http://127.0.0.1:1".to_owned()),
        ..test_config()
    };
    Gateway::build(&config, &sidecar())
}

fn error_of(service: &str) -> String {
    let set = compile(service);
    match build(&set) {
        Ok(_) => panic!("expected a start-up error for:\n{service}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn identical_method_and_template_conflict() {
    let error = error_of(
        r#"service S {
             rpc First(Req) returns (Res) { option (google.api.http) = {get: "/v1/things/{id}"}; }
             rpc Second(Req) returns (Res) { option (google.api.http) = {get: "/v1/things/{name}"}; }
           }"#,
    );
    assert!(error.contains("test.v1.S.First"), "{error}");
    assert!(error.contains("test.v1.S.Second"), "{error}");
    assert!(error.contains("conflicts"), "{error}");
}

#[test]
fn conflicts_inside_additional_bindings_too() {
    let error = error_of(
        r#"service S {
             rpc First(Req) returns (Res) { option (google.api.http) = {get: "/v1/a"}; }
             rpc Second(Req) returns (Res) {
               option (google.api.http) = {get: "/v1/b" additional_bindings {get: "/v1/a"}};
             }
           }"#,
    );
    assert!(
        error.contains("test.v1.S.First") && error.contains("test.v1.S.Second"),
        "{error}"
    );
}

#[test]
fn invalid_templates_name_the_rpc() {
    for (template, why) in [
        ("/v1/things/{id", "expected '=' or '}'"),
        ("v1/things", "must start with '/'"),
        ("/v1/**/x", "'**' must be the last"),
        ("/v1/{id}/{id}", "bound twice"),
    ] {
        let error = error_of(&format!(
            r#"service S {{ rpc Broken(Req) returns (Res) {{ option (google.api.http) = {{get: "{template}"}}; }} }}"#
        ));
        assert!(error.contains("test.v1.S.Broken"), "{error}");
        assert!(error.contains(why), "{template}: {error}");
    }
}

#[test]
fn rules_must_name_real_fields() {
    for (rule, why) in [
        (r#"get: "/v1/{nope}""#, "has no field \"nope\""),
        (r#"get: "/v1/{id.x}""#, "not a singular message"),
        (r#"get: "/v1/{tags}""#, "repeated"),
        (r#"get: "/v1/{inner}""#, "a message"),
        (r#"post: "/v1/x" body: "nope""#, "body field \"nope\""),
        (
            r#"get: "/v1/x" response_body: "nope""#,
            "response_body field \"nope\"",
        ),
        (
            r#"get: "/v1/x" body: "*""#,
            "GET binding cannot have a body",
        ),
        (r#"custom: {kind: "" path: "/v1/x"}"#, "not an HTTP method"),
    ] {
        let error = error_of(&format!(
            r#"service S {{ rpc Broken(Req) returns (Res) {{ option (google.api.http) = {{{rule}}}; }} }}"#
        ));
        assert!(error.contains("test.v1.S.Broken"), "{error}");
        assert!(error.contains(why), "{rule}: {error}");
    }
}

#[test]
fn a_set_without_rules_has_nothing_to_serve() {
    let error = error_of("service S { rpc Plain(Req) returns (Res); }");
    assert!(error.contains("no google.api.http rules"), "{error}");
}

#[test]
fn every_service_needs_an_upstream() {
    let set = compile(
        r#"service S { rpc Get(Req) returns (Res) { option (google.api.http) = {get: "/v1/x"}; } }"#,
    );
    let file = descriptor_file(&set);
    let config = GatewayConfig {
        descriptor_set: Some(PathBuf::from(file.path())),
        ..test_config()
    };
    let error = Gateway::build(&config, &sidecar())
        .err()
        .expect("no upstream")
        .to_string();
    assert!(
        error.contains("test.v1.S") && error.contains("--route"),
        "{error}"
    );

    let config = GatewayConfig {
        descriptor_set: Some(PathBuf::from(file.path())),
        routes: vec!["test.v1.Other=http://127.0.0.1:1".to_owned()],
        upstream: Some("http://127.0.0.1:1".to_owned()),
        ..test_config()
    };
    let error = Gateway::build(&config, &sidecar())
        .err()
        .expect("unknown route")
        .to_string();
    assert!(error.contains("test.v1.Other"), "{error}");

    let config = GatewayConfig {
        descriptor_set: Some(PathBuf::from(file.path())),
        routes: vec!["test.v1.S".to_owned()],
        ..test_config()
    };
    let error = Gateway::build(&config, &sidecar())
        .err()
        .expect("bad route")
        .to_string();
    assert!(error.contains("SERVICE=URL"), "{error}");
}

#[test]
fn unreadable_descriptor_sets() {
    let error = build(b"\xff\xff not a descriptor set")
        .err()
        .expect("garbage")
        .to_string();
    assert!(error.contains("invalid descriptor set"), "{error}");
    let config = GatewayConfig {
        descriptor_set: Some(PathBuf::from("/nonexistent/set.bin")),
        ..test_config()
    };
    let error = Gateway::build(&config, &sidecar())
        .err()
        .expect("missing file")
        .to_string();
    assert!(error.contains("/nonexistent/set.bin"), "{error}");
}

#[tokio::test]
async fn run_reports_start_up_errors() {
    let set = compile(
        r#"service S {
             rpc First(Req) returns (Res) { option (google.api.http) = {get: "/v1/things/{id}"}; }
             rpc Second(Req) returns (Res) { option (google.api.http) = {get: "/v1/things/{name}"}; }
           }"#,
    );
    let file = descriptor_file(&set);
    let gw = spawn_config(GatewayConfig {
        descriptor_set: Some(PathBuf::from(file.path())),
        upstream: Some("http://127.0.0.1:1".to_owned()),
        ..test_config()
    })
    .await;
    let error = gw.stop().await.expect_err("start-up must fail");
    assert!(
        matches!(
            error,
            bazaar_gateway::Error::Startup(StartupError::Conflict { .. })
        ),
        "{error}"
    );
}

#[tokio::test]
async fn proxyless_the_embedded_contracts_are_all_mesh_workloads() {
    let gateway = Gateway::build(&test_config(), &mesh().config()).expect("in the mesh");
    assert_eq!(gateway.routes().len(), 23);
}

#[tokio::test]
async fn proxyless_a_service_outside_the_policy_stops_start_up_naming_it() {
    let set = compile(
        r#"service S { rpc Get(Req) returns (Res) { option (google.api.http) = {get: "/v1/x"}; } }"#,
    );
    let file = descriptor_file(&set);
    let config = GatewayConfig {
        descriptor_set: Some(PathBuf::from(file.path())),
        upstream: Some("http://127.0.0.1:1".to_owned()),
        ..test_config()
    };
    let error = Gateway::build(&config, &mesh().config())
        .err()
        .expect("not in the policy");
    assert!(
        matches!(&error, StartupError::Upstream(UpstreamError::NotInPolicy(s)) if s == "test.v1.S"),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("test.v1.S") && message.contains("--mesh-mode sidecar"),
        "{message}"
    );
    // Behind a sidecar the same set is served in plaintext.
    assert!(Gateway::build(&config, &sidecar()).is_ok());
}

#[tokio::test]
async fn proxyless_without_certificates_stops_start_up_naming_the_file() {
    let empty = tempfile::tempdir().expect("temp dir");
    let error = Gateway::build(
        &test_config(),
        &MeshConfig {
            certs_dir: empty.path().to_path_buf(),
            ..MeshConfig::default()
        },
    )
    .err()
    .expect("no certificate")
    .to_string();
    assert!(error.contains("gateway.pem"), "{error}");

    let error = Gateway::build(
        &test_config(),
        &MeshConfig {
            policy_file: Some(PathBuf::from("/nonexistent/policy.yaml")),
            ..mesh().config()
        },
    )
    .err()
    .expect("no policy")
    .to_string();
    assert!(error.contains("/nonexistent/policy.yaml"), "{error}");
}
