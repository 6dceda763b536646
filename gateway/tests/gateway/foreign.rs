//! The generic gateway fronts a service that is not Bazaar's, given only its
//! descriptor set file.

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use http::{Method, StatusCode};
use serde_json::json;

use crate::{
    support::{descriptor_file, fetch, spawn_with},
    upstreams::{LIBRARY_SET, start_library},
};

const LIBRARY: &str = "acme.library.v1.LibraryService";

#[tokio::test]
async fn fronts_a_foreign_service_from_its_descriptor_set() {
    let upstream = start_library().await;
    let route = format!("{LIBRARY}={}", upstream.url());
    let gw = spawn_with(LIBRARY_SET, |c| c.routes = vec![route]).await;

    let created = gw
        .send_json(
            Method::POST,
            "/v1/shelves/s1/books",
            json!({"title": "Dune", "author": "Herbert", "genre": "GENRE_FICTION",
                   "publish_time": "1965-08-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let book = created.json();
    assert_eq!(book["name"], "shelves/s1/books/1");
    assert_eq!(book["publish_time"], "1965-08-01T00:00:00Z");

    let fetched = gw.get("/v1/shelves/s1/books/1").await.json();
    assert_eq!(fetched["title"], "Dune");
    assert_eq!(fetched["genre"], "GENRE_FICTION");

    let listed = gw
        .get("/v1/shelves/s1/books?genre=GENRE_FICTION")
        .await
        .json();
    assert_eq!(listed["books"].as_array().map(Vec::len), Some(1));
    let listed = gw.get("/v1/shelves/s1/books?genre=2").await.json();
    assert_eq!(listed["books"], json!([]));

    let lent = gw
        .send_json(
            Method::POST,
            "/v1/shelves/s1/books/1:lend",
            json!({"borrower": "ann"}),
        )
        .await;
    assert_eq!(lent.json()["borrower"], "ann");
    let again = gw
        .send_json(
            Method::POST,
            "/v1/shelves/s1/books/1:lend",
            json!({"borrower": "bob"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.json()["code"], 9);

    let missing = gw.get("/v1/shelves/s1/books/404").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["message"], "no book shelves/s1/books/404");
}

/// The real binary, configured by flags and environment only.
#[tokio::test]
async fn the_binary_fronts_a_foreign_service() {
    let upstream = start_library().await;
    let set = descriptor_file(LIBRARY_SET);
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_bazaar-gateway"))
            // Port 0 for the admin port too: the default may be taken.
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--descriptor-set")
            .arg(set.path())
            .args(["--route", &format!("{LIBRARY}={}", upstream.url())])
            // A service outside the mesh policy: plaintext, as behind a sidecar.
            .args(["--mesh-mode", "sidecar"])
            .env("BAZAAR__TELEMETRY__LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env_remove("BAZAAR_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the binary"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    // The listening address is in the start-up log line.
    let addr = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("a log line");
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && event["message"] == "REST gateway listening"
            {
                return event["addr"].as_str().map(str::to_owned);
            }
        }
        None
    });
    let addr = tokio::time::timeout(Duration::from_secs(30), addr)
        .await
        .expect("start-up in time")
        .expect("reader")
        .expect("a listening address");

    let answer = fetch(format!("http://{addr}/v1/shelves/s1/books")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json(), json!({"books": []}));
    let spec = fetch(format!("http://{addr}/openapi.json")).await.json();
    assert!(
        spec["paths"].as_object().is_some_and(|p| !p.is_empty()),
        "{spec}"
    );

    // SIGTERM stops it gracefully, with success.
    let pid = child.0.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.0.wait())
        .await
        .expect("waiter")
        .expect("exit status");
    assert!(exit.success(), "{exit:?}");
}

/// Kills the gateway process if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
