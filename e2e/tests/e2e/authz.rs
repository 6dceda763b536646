//! The authorization matrix, generated from the mesh policy: every workload
//! calls every method of every service of the policy over mTLS (with an
//! empty request), and is refused with PERMISSION_DENIED exactly where the
//! policy does not allow it. The matrix is printed, so a policy change shows
//! up in the test's output as well as in its verdict.

use std::collections::BTreeMap;

use bazaar_devstack::Service;
use bazaar_mesh::{MeshPolicy, policy::Decision};
use prost::Message as _;
use tonic::{Code, Request, client::Grpc};
use tonic_prost::ProstCodec;

use crate::system::System;

/// The system's binaries by their workload name in the policy.
fn service_of(workload: &str) -> Service {
    Service::GRPC
        .into_iter()
        .find(|s| s.name() == workload)
        .unwrap_or_else(|| panic!("the policy names a service {workload} the stack does not run"))
}

/// Methods that stream their answer, from the contracts themselves.
fn server_streaming() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(bazaar_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set");
    let mut streaming = Vec::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                if method.server_streaming() {
                    streaming.push(format!(
                        "{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
    }
    streaming
}

/// The code of `/grpc_service/method` called as `caller` with an empty
/// request, and its message.
async fn call(
    system: &System,
    caller: &str,
    service: Service,
    path: &str,
    streaming: bool,
) -> (Code, String) {
    let mut grpc = Grpc::new(system.channel_as(caller, service));
    grpc.ready()
        .await
        .unwrap_or_else(|e| panic!("{caller} → {path}: the channel is not ready: {e}"));
    let uri: http::uri::PathAndQuery = path.parse().expect("a gRPC path");
    let codec = ProstCodec::<(), ()>::default();
    let outcome = if streaming {
        grpc.server_streaming(Request::new(()), uri, codec)
            .await
            .map(|_| ())
    } else {
        grpc.unary(Request::new(()), uri, codec).await.map(|_| ())
    };
    match outcome {
        Ok(()) => (Code::Ok, String::new()),
        Err(status) => (status.code(), status.message().to_owned()),
    }
}

#[tokio::test]
async fn every_workload_is_denied_exactly_what_the_policy_denies() {
    let system = System::start().await;
    let policy = MeshPolicy::built_in().expect("the built-in policy");
    let streaming = server_streaming();
    let workloads = &policy.workloads;

    let mut table = format!("{:<62}", "method \\ caller");
    for workload in workloads {
        table.push_str(&format!(" {workload:>10}"));
    }
    table.push('\n');
    let mut wrong = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, service) in &policy.services {
        let target = service_of(name);
        let grpc_service = &service.grpc_service;
        // Every method the policy names, and the health check every
        // identity of the mesh may make.
        let mut methods: Vec<(String, String)> = service
            .methods
            .keys()
            .map(|m| (grpc_service.clone(), m.clone()))
            .collect();
        methods.push(("grpc.health.v1.Health".to_owned(), "Check".to_owned()));
        for (grpc_name, method) in methods {
            let path = format!("/{grpc_name}/{method}");
            table.push_str(&format!("{:<62}", format!("{name}: {grpc_name}/{method}")));
            let is_stream = streaming.contains(&format!("{grpc_name}/{method}"));
            for workload in workloads {
                let decision = policy.decide(workload, &grpc_name, &method);
                let (code, message) = call(&system, workload, target, &path, is_stream).await;
                let allowed = decision == Decision::Allow;
                let denied = code == Code::PermissionDenied;
                table.push_str(&format!(
                    " {:>10}",
                    match (allowed, denied) {
                        (true, false) => "allow",
                        (false, true) => "DENY",
                        (true, true) => "allow≠DENY",
                        (false, false) => "DENY≠pass",
                    }
                ));
                *counts
                    .entry(if allowed { "allowed" } else { "denied" })
                    .or_default() += 1;
                if allowed == denied {
                    wrong.push(format!(
                        "{workload} → {path}: the policy says {decision:?}, the service {code:?} {message:?}"
                    ));
                } else if denied {
                    // The refusal names the caller and the call.
                    let expected = format!("{workload} may not call {path}");
                    if message != expected {
                        wrong.push(format!(
                            "{workload} → {path}: {message:?}, not {expected:?}"
                        ));
                    }
                }
            }
            table.push('\n');
        }
    }
    eprintln!(
        "The mesh policy's authorization matrix, as the running services enforce it:\n{table}"
    );
    assert!(wrong.is_empty(), "{}\n{table}", wrong.join("\n"));
    // Both verdicts occur: the matrix is not vacuous.
    assert!(counts.get("denied").is_some_and(|d| *d > 0), "{counts:?}");
    assert!(counts.get("allowed").is_some_and(|a| *a > 0), "{counts:?}");
    system.stop_cleanly().await;
}
