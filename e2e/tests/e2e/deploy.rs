//! What ships, booted: the container images `make image` builds and the
//! Helm chart as it renders.
//!
//! - `image_…`: `scripts/image.sh` packs the product service's binary (the
//!   debug build `make test` already made) into an OCI layout with umoci;
//!   the test unpacks it, checks its config and runs its entrypoint
//!   chrooted into the image's root filesystem as the image's user, so
//!   nothing of this machine but the kernel is used: it must become ready
//!   (the plaintext probe port, and gRPC health over mTLS as `dev-client`)
//!   on the image's own libraries, writing to the image's `/data`.
//! - `chart_…`: `helm template` proxyless (`istio.enabled=false`) on SQLite,
//!   then every Deployment's container started as a local process of the
//!   built binary, as a kubelet would start it: env from the rendered
//!   ConfigMaps and Secrets, volumes as directories (the mesh certificate
//!   Secrets, which cert-manager makes on a cluster, from
//!   `bazaar_mesh::devcerts`), every container port on a free loopback port
//!   and Service names (`http://user.bazaar.svc.cluster.local:50051`)
//!   resolved to them. Every probe each Deployment declares must pass, and a
//!   customer must buy through the rendered gateway. An env key or flag the
//!   binaries do not read fails it (they would silently ignore a key).

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::CString,
    fs::File,
    net::{SocketAddr, TcpListener},
    os::unix::{ffi::OsStrExt as _, fs::MetadataExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use base64::Engine as _;
use bazaar_devstack::{process, ready};
use bazaar_mesh::{MeshPolicy, devcerts};
use http::StatusCode;
use serde::Deserialize as _;
use serde_json::{Value, json};
use tempfile::TempDir;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    binaries::{binaries, workspace_root},
    journeys::{PASSWORD, cards},
    rest_client::{Rest, int, text},
};

const RELEASE: &str = "bazaar";
const NAMESPACE: &str = "bazaar";
/// How long the rendered system may take until every probe passes.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one image's binary may take to become ready.
const IMAGE_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a process may take to stop after SIGTERM when nothing says.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn tools_sh(tool: &str) -> Option<ExitStatus> {
    Command::new(workspace_root().join("scripts/tools.sh"))
        .arg(tool)
        .status()
        .ok()
}

/// helm from `.tools/`, installed by `scripts/tools.sh helm` if missing.
fn helm() -> PathBuf {
    let path = workspace_root().join(".tools/helm");
    if !path.is_file() {
        let status = tools_sh("helm");
        assert!(
            path.is_file(),
            "scripts/tools.sh helm could not install helm ({status:?})"
        );
    }
    path
}

/// umoci from the machine, installed by `scripts/tools.sh umoci` (apt, as
/// root) if missing. Missing: a failure under CI, else a skip.
fn umoci() -> Option<PathBuf> {
    if let Some(path) = on_path("umoci") {
        return Some(path);
    }
    let status = tools_sh("umoci");
    if let Some(path) = on_path("umoci") {
        return Some(path);
    }
    assert!(
        !ci(),
        "umoci is missing and `scripts/tools.sh umoci` could not install it ({status:?}): \
         the image test cannot run (CI is set, so this fails instead of skipping)"
    );
    eprintln!("SKIP: umoci is missing (scripts/tools.sh umoci installs it, as root)");
    None
}

/// A free loopback port per request, distinct from each other.
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// Whether the plaintext gRPC health service at `addr` reports `service`
/// SERVING: what the kubelet's `grpc` probe asks.
async fn grpc_probe(addr: SocketAddr, service: &str) -> bool {
    let check = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .ok()?
            .connect_timeout(Duration::from_secs(1))
            .connect()
            .await
            .ok()?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .ok()?;
        Some(response.get_ref().status() == ServingStatus::Serving)
    };
    tokio::time::timeout(Duration::from_secs(2), check)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

fn tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Sends SIGTERM and waits up to `grace` for the exit.
async fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    process::terminate(child.id());
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

// ---------------------------------------------------------------------------
// The image.

/// A `umoci`-built OCI layout: the config of the image tagged `tag`.
fn image_config(layout: &Path, tag: &str) -> Value {
    let read = |digest: &str| -> Value {
        let (algorithm, hex) = digest.split_once(':').expect("a digest");
        let path = layout.join("blobs").join(algorithm).join(hex);
        serde_json::from_slice(&std::fs::read(&path).expect("a blob")).expect("a JSON blob")
    };
    let index: Value = serde_json::from_slice(
        &std::fs::read(layout.join("index.json")).expect("the layout's index.json"),
    )
    .expect("a JSON index");
    let manifest = index["manifests"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        })
        .unwrap_or_else(|| panic!("no image tagged {tag} in {index}"));
    let manifest = read(text(&manifest["digest"]).as_str());
    read(text(&manifest["config"]["digest"]).as_str())
}

/// The chart's appVersion: the images' tag.
fn app_version() -> String {
    let chart = std::fs::read_to_string(workspace_root().join("helm/bazaar/Chart.yaml"))
        .expect("helm/bazaar/Chart.yaml");
    let chart: Value = serde_yaml_ng::from_str(&chart).expect("Chart.yaml is YAML");
    text(&chart["appVersion"])
}

/// Makes `command` run chrooted into `rootfs`, in `workdir`, as `uid:gid`
/// with no other group: how a container runtime starts the entrypoint
/// (minus namespaces). Root only.
fn enter_image(command: &mut Command, rootfs: &Path, workdir: &str, uid: u32, gid: u32) {
    let root = CString::new(rootfs.as_os_str().as_bytes()).expect("a path without NUL");
    let cwd = CString::new(workdir).expect("a path without NUL");
    // SAFETY: the closure runs in the forked child before exec and only
    // makes async-signal-safe system calls, without allocating.
    unsafe {
        command.pre_exec(move || {
            let gid = gid as libc::gid_t;
            if libc::chroot(root.as_ptr()) != 0
                || libc::chdir(cwd.as_ptr()) != 0
                || libc::setgroups(1, &gid) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid as libc::uid_t) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `chown -R uid:gid path`.
fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read dir") {
            chown_tree(&entry.expect("dir entry").path(), uid, gid);
        }
    }
}

/// A started image's process; dropping it kills it (and shows its log when
/// the test failed).
struct Contained {
    child: Child,
    log: PathBuf,
}

impl Drop for Contained {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- the image's process:\n{}", tail(&self.log));
        }
    }
}

#[tokio::test]
async fn image_product_is_ready_from_its_own_root_filesystem_as_its_user() {
    let Some(umoci) = umoci() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let tag = app_version();

    // Built the way `make image` builds, from the debug binary.
    let out = dir.path().join("images");
    let build = Command::new(workspace_root().join("scripts/image.sh"))
        .arg("--bin-dir")
        .arg(&binaries().dir)
        .arg("--out")
        .arg(&out)
        .args(["product", "gateway"])
        .output()
        .expect("run scripts/image.sh");
    assert!(
        build.status.success(),
        "scripts/image.sh product failed:\n{}\n{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    // Every variable an image sets is one its binary reads (the gateway's
    // address is [gateway] listen, not [server]).
    for (workload, listen) in [
        ("product", "BAZAAR__SERVER__LISTEN=0.0.0.0:50052"),
        ("gateway", "BAZAAR__GATEWAY__LISTEN=0.0.0.0:8080"),
    ] {
        let config = image_config(&out.join(workload), &tag);
        let env = strings(&config["config"]["Env"]);
        assert!(env.contains(&listen.to_owned()), "{workload}: {env:?}");
        let tree = settings_of(&format!("bazaar-{workload}"));
        for key in env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, _)| k)
        {
            assert!(
                key == "PATH" || reads_env(&tree, key),
                "the {workload} image sets {key}, which its binary does not read"
            );
        }
    }
    let layout = out.join("product");
    let config = image_config(&layout, &tag);
    let image = &config["config"];
    assert_eq!(image["User"], "65532:65532", "{config}");
    assert_eq!(
        image["Entrypoint"],
        json!(["/usr/local/bin/bazaar-product"]),
        "{config}"
    );
    assert_eq!(image["WorkingDir"], "/", "{config}");
    assert!(image["ExposedPorts"].get("50052/tcp").is_some(), "{config}");
    assert!(image["Volumes"].get("/data").is_some(), "{config}");
    let env = strings(&image["Env"]);
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");

    // Unpacked as a runtime does. As root, with the layer's ownership (what
    // is checked: /data belongs to the image's user); else rootless.
    let bundle = dir.path().join("bundle");
    let mut unpack = Command::new(&umoci);
    unpack.arg("unpack");
    if !is_root() {
        unpack.arg("--rootless");
    }
    let unpacked = unpack
        .arg("--image")
        .arg(format!("{}:{tag}", layout.display()))
        .arg(&bundle)
        .output()
        .expect("run umoci unpack");
    assert!(
        unpacked.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&unpacked.stderr)
    );
    let rootfs = bundle.join("rootfs").canonicalize().expect("the rootfs");
    for shell in ["bin/sh", "usr/bin/sh", "bin/bash"] {
        assert!(
            !rootfs.join(shell).exists(),
            "the image has a shell: {shell}"
        );
    }
    let (uid, gid) = text(&image["User"])
        .split_once(':')
        .map(|(u, g)| {
            (
                u.parse::<u32>().expect("uid"),
                g.parse::<u32>().expect("gid"),
            )
        })
        .expect("user uid:gid");
    let data = rootfs.join("data");
    if is_root() {
        let owner = std::fs::metadata(&data).expect("/data in the image");
        assert_eq!((owner.uid(), owner.gid()), (uid, gid), "/data's owner");
    }

    // The services' defaults under WorkingDir /: certificates in
    // data/mesh (a Secret's mount on a cluster), the database in data/.
    let mesh = data.join("mesh");
    let policy = MeshPolicy::built_in().expect("the built-in policy");
    devcerts::ensure(&mesh, &policy).expect("development certificates");
    if is_root() {
        chown_tree(&mesh, uid, gid);
    }

    let ports = free_ports(3);
    let (listen, probe, nobody) = (ports[0], ports[1], ports[2]);
    let mut vars: Vec<(String, String)> = env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (key, value) in &mut vars {
        if key == "BAZAAR__SERVER__LISTEN" {
            // The image's address, on a free port.
            let host = value
                .rsplit_once(':')
                .map(|(h, _)| h.to_owned())
                .unwrap_or_default();
            *value = format!("{host}:{listen}");
        }
    }
    vars.push((
        "BAZAAR__SERVER__PROBE_LISTEN".to_owned(),
        format!("127.0.0.1:{probe}"),
    ));
    // No user service here: its keys are fetched in the background, from a
    // port nobody listens on rather than whatever runs on 50051.
    vars.push((
        "BAZAAR__AUTH__JWKS_URL".to_owned(),
        format!("http://127.0.0.1:{nobody}"),
    ));
    vars.push(("NO_COLOR".to_owned(), "1".to_owned()));

    let entrypoint = text(&image["Entrypoint"][0]);
    let workdir = text(&image["WorkingDir"]);
    let mut command = if is_root() {
        let mut command = Command::new(&entrypoint);
        enter_image(&mut command, &rootfs, &workdir, uid, gid);
        command
    } else {
        // Without root: no chroot and no other user, but still only the
        // image's libraries, through its own loader.
        let libs = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"]
            .map(|d| rootfs.join(d).display().to_string())
            .join(":");
        let mut command = Command::new(rootfs.join("lib64/ld-linux-x86-64.so.2"));
        command
            .arg("--library-path")
            .arg(libs)
            .arg(rootfs.join(entrypoint.trim_start_matches('/')))
            .current_dir(rootfs.join(workdir.trim_start_matches('/')));
        command
    };
    let log = dir.path().join("product.log");
    let file = File::create(&log).expect("log file");
    command
        .env_clear()
        .envs(vars)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file);
    process::die_with_parent(&mut command);
    let mut running = Contained {
        child: command.spawn().expect("start the image's entrypoint"),
        log,
    };
    let pid = running.child.id();

    let listen_addr = SocketAddr::from(([127, 0, 0, 1], listen));
    let probe_addr = SocketAddr::from(([127, 0, 0, 1], probe));
    let deadline = Instant::now() + IMAGE_READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = running.child.try_wait() {
            panic!("the image's product service exited ({status})");
        }
        if grpc_probe(probe_addr, "").await
            && ready::grpc_serving(
                &mesh,
                "product",
                listen_addr,
                "bazaar.product.v1.ProductService",
            )
            .await
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready within {IMAGE_READY_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Who it runs as, and what it loaded: every mapped file is the image's.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("its status");
    if is_root() {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        assert_eq!(
            field("Uid:"),
            format!("{uid} {uid} {uid} {uid}"),
            "{status}"
        );
        assert_eq!(
            field("Gid:"),
            format!("{gid} {gid} {gid} {gid}"),
            "{status}"
        );
        assert_eq!(field("Groups:"), gid.to_string(), "{status}");
    }
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("its maps");
    let files: BTreeSet<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/'))
        .collect();
    let foreign: Vec<&&str> = files
        .iter()
        .filter(|p| !Path::new(p).starts_with(&rootfs))
        .collect();
    assert!(
        foreign.is_empty(),
        "mapped from outside the image: {foreign:?}"
    );
    assert!(
        files.iter().any(|p| p.ends_with("/libc.so.6")),
        "no libc mapped: {files:?}"
    );
    let database = data.join("product.db");
    let written = std::fs::metadata(&database).expect("the database in the image's /data");
    if is_root() {
        assert_eq!(
            written.uid(),
            uid,
            "{} is not the image user's",
            database.display()
        );
    }

    let status = terminate(&mut running.child, STOP_TIMEOUT).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "did not stop cleanly on SIGTERM: {status:?}"
    );
}

// ---------------------------------------------------------------------------
// The chart.

/// `helm template` of the chart with `args` (values), as objects.
fn render(args: &[&str]) -> Rendered {
    let output = Command::new(helm())
        .args(["template", RELEASE])
        .arg(workspace_root().join("helm/bazaar"))
        .args(["-n", NAMESPACE])
        .args(args)
        .output()
        .expect("run helm template");
    assert!(
        output.status.success(),
        "helm template {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = String::from_utf8(output.stdout).expect("UTF-8 manifests");
    let objects = serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|doc| Value::deserialize(doc).expect("a YAML manifest"))
        .filter(|object| !object.is_null())
        .collect();
    Rendered { objects }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|all| all.iter().map(text).collect())
        .unwrap_or_default()
}

/// The rendered manifests.
struct Rendered {
    objects: Vec<Value>,
}

impl Rendered {
    fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Value> + 'a {
        let kind = kind.to_owned();
        self.objects
            .iter()
            .filter(move |o| o["kind"] == kind.as_str())
    }

    fn named(&self, kind: &str, name: &str) -> Option<&Value> {
        self.of_kind(kind).find(|o| o["metadata"]["name"] == name)
    }

    fn config_map(&self, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let object = self.named("ConfigMap", name)?;
        let mut data = BTreeMap::new();
        for (key, value) in object["data"].as_object().into_iter().flatten() {
            data.insert(key.clone(), text(value).into_bytes());
        }
        Some(data)
    }

    /// A Secret's values, decoded: `data` (base64) and `stringData`, as the
    /// API server would store them.
    fn secret(&self, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let object = self.named("Secret", name)?;
        let mut data = BTreeMap::new();
        for (key, value) in object["data"].as_object().into_iter().flatten() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text(value))
                .unwrap_or_else(|e| panic!("Secret {name} key {key}: not base64: {e}"));
            data.insert(key.clone(), bytes);
        }
        for (key, value) in object["stringData"].as_object().into_iter().flatten() {
            data.insert(key.clone(), text(value).into_bytes());
        }
        Some(data)
    }

    fn deployments(&self) -> impl Iterator<Item = &Value> {
        self.of_kind("Deployment")
    }
}

fn containers(deployment: &Value) -> &[Value] {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn name_of(object: &Value) -> String {
    text(&object["metadata"]["name"])
}

/// The binary a container's image holds: `…/bazaar-product:0.1.0` →
/// `bazaar-product`.
fn binary_of(container: &Value) -> String {
    let image = text(&container["image"]);
    let last = image.rsplit('/').next().unwrap_or_default();
    let repository = last.split(['@', ':']).next().unwrap_or_default();
    assert!(
        SETTINGS_OF.contains(&repository),
        "image {image:?} is none of Bazaar's ({SETTINGS_OF:?})"
    );
    repository.to_owned()
}

/// The binaries and their configuration types.
const SETTINGS_OF: [&str; 6] = [
    "bazaar-user",
    "bazaar-product",
    "bazaar-order",
    "bazaar-payment",
    "bazaar-notification",
    "bazaar-gateway",
];

/// Every setting `binary` reads, as a tree: its configuration's defaults,
/// serialized. `BAZAAR__A__B` is read iff `a.b` is a path in it.
fn settings_of(binary: &str) -> Value {
    fn service<S: bazaar_runtime::service::Settings>() -> Value {
        let config = bazaar_runtime::service::Config::<S>::default();
        let mut tree = serde_json::to_value(&config.shared).expect("shared settings");
        let Value::Object(own) = serde_json::to_value(&config.settings).expect("own settings")
        else {
            panic!("a service's settings are a table");
        };
        tree.as_object_mut().expect("a table").extend(own);
        tree
    }
    match binary {
        "bazaar-user" => service::<bazaar_user::config::Settings>(),
        "bazaar-product" => service::<bazaar_product::config::Settings>(),
        "bazaar-order" => service::<bazaar_order::config::Settings>(),
        "bazaar-payment" => service::<bazaar_payment::config::Settings>(),
        "bazaar-notification" => service::<bazaar_notification::config::Settings>(),
        "bazaar-gateway" => serde_json::to_value(bazaar_gateway::config::Config::default())
            .expect("gateway settings"),
        other => panic!("no such binary: {other}"),
    }
}

/// Whether a binary with settings `tree` reads the variable `key`.
fn reads_env(tree: &Value, key: &str) -> bool {
    use bazaar_runtime::{config, telemetry};
    if [config::FILE_ENV, "RUST_LOG", telemetry::OTLP_ENDPOINT_ENV].contains(&key) {
        return true;
    }
    let Some(path) = key.strip_prefix(config::ENV_PREFIX) else {
        return false;
    };
    let mut node = tree;
    for part in path.split("__") {
        match node.get(part.to_ascii_lowercase()) {
            Some(next) => node = next,
            None => return false,
        }
    }
    true
}

/// Whether `binary` accepts the command-line arguments `args`.
fn accepts_args(binary: &str, args: &[String]) -> Result<(), String> {
    use clap::Parser as _;
    if binary == "bazaar-gateway" {
        let argv = std::iter::once(binary.to_owned()).chain(args.iter().cloned());
        return bazaar_gateway::cli::Cli::try_parse_from(argv)
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    if args.is_empty() {
        Ok(())
    } else {
        Err(
            "the services take no command-line arguments (only BAZAAR__… settings): \
             they would ignore these"
                .to_owned(),
        )
    }
}

/// The container's command line: the binary and its arguments (`command`
/// replaces the image's entrypoint, which is the binary).
fn command_line(container: &Value) -> Result<(String, Vec<String>), String> {
    let binary = binary_of(container);
    let mut args = Vec::new();
    let command = strings(&container["command"]);
    if let Some((program, rest)) = command.split_first() {
        if Path::new(program).file_name().and_then(|n| n.to_str()) != Some(binary.as_str()) {
            return Err(format!(
                "command {command:?} does not run the image's {binary}"
            ));
        }
        args.extend(rest.iter().cloned());
    }
    args.extend(strings(&container["args"]));
    Ok((binary, args))
}

/// Every env key and flag the rendered Deployments give a binary that it
/// does not read; empty when all are read.
fn unread_settings(rendered: &Rendered) -> Vec<String> {
    let mut problems = Vec::new();
    for deployment in rendered.deployments() {
        let name = name_of(deployment);
        for container in containers(deployment) {
            let (binary, args) = match command_line(container) {
                Ok(line) => line,
                Err(why) => {
                    problems.push(format!("{name}: {why}"));
                    continue;
                }
            };
            let tree = settings_of(&binary);
            let mut keys = Vec::new();
            for source in container["envFrom"].as_array().into_iter().flatten() {
                let prefix = text(&source["prefix"]);
                let (kind, data) = if let Some(r) = source.get("configMapRef") {
                    ("ConfigMap", rendered.config_map(&text(&r["name"])))
                } else if let Some(r) = source.get("secretRef") {
                    ("Secret", rendered.secret(&text(&r["name"])))
                } else {
                    problems.push(format!("{name}: unknown envFrom source {source}"));
                    continue;
                };
                match data {
                    Some(data) => keys.extend(data.keys().map(|k| format!("{prefix}{k}"))),
                    None => {
                        problems.push(format!("{name}: envFrom {kind} {source} is not rendered"))
                    }
                }
            }
            keys.extend(
                container["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|var| text(&var["name"])),
            );
            for key in keys {
                if !reads_env(&tree, &key) {
                    problems.push(format!("{name}: {binary} reads no setting {key}"));
                }
            }
            if let Err(why) = accepts_args(&binary, &args) {
                problems.push(format!("{name}: {binary} {args:?}: {why}"));
            }
        }
    }
    problems
}

#[test]
fn chart_gives_the_binaries_only_env_keys_and_flags_they_read() {
    let postgres = workspace_root().join("helm/tests/values/postgres-ha.yaml");
    let postgres = postgres.display().to_string();
    for (what, args) in [
        ("defaults (Istio)", vec![]),
        ("proxyless", vec!["--set", "istio.enabled=false"]),
        ("postgres-ha", vec!["-f", postgres.as_str()]),
    ] {
        let rendered = render(&args);
        assert_eq!(rendered.deployments().count(), 6, "{what}");
        let problems = unread_settings(&rendered);
        assert!(
            problems.is_empty(),
            "{what}: the chart sets what the binaries do not read:\n{}",
            problems.join("\n")
        );
    }

    // The check can fail: an env key, a gateway flag and a service argument
    // no binary reads.
    let mut broken = render(&["--set", "istio.enabled=false"]);
    for object in &mut broken.objects {
        match (text(&object["kind"]).as_str(), name_of(object).as_str()) {
            ("ConfigMap", "user-config") => {
                object["data"]["BAZAAR__SERVER__LISTN"] = json!("0.0.0.0:50051");
            }
            ("Deployment", "gateway") => {
                object["spec"]["template"]["spec"]["containers"][0]["args"]
                    .as_array_mut()
                    .expect("the gateway's args")
                    .push(json!("--listn=0.0.0.0:8080"));
            }
            ("Deployment", "product") => {
                object["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--verbose"]);
            }
            _ => {}
        }
    }
    let problems = unread_settings(&broken).join("\n");
    for expected in [
        "user: bazaar-user reads no setting BAZAAR__SERVER__LISTN",
        "gateway: bazaar-gateway",
        "--listn",
        "product: bazaar-product [\"--verbose\"]: the services take no command-line arguments",
    ] {
        assert!(
            problems.contains(expected),
            "{expected:?} not in:\n{problems}"
        );
    }
}

/// `$(VAR)` in a container's env values, command and args, as Kubernetes
/// expands them (`$$` is a literal `$`; unknown names stay as written).
fn expand(value: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn set_var(env: &mut Vec<(String, String)>, key: String, value: String) {
    env.retain(|(k, _)| *k != key);
    env.push((key, value));
}

/// Literal replacements in one pass, each only where it stands alone (not
/// inside a longer name, path or number): ports, Service names, mount paths.
#[derive(Default)]
struct Rewrites(Vec<(String, String)>);

impl Rewrites {
    fn add(&mut self, from: String, to: String) {
        self.0.push((from, to));
        // Longest first: `user.bazaar.svc…:50051` before `user:50051`.
        self.0.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
    }

    fn apply(&self, text: &str) -> String {
        let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        let mut out = String::new();
        let mut i = 0;
        'scan: while i < text.len() {
            if !text[..i].chars().next_back().is_some_and(word) {
                for (from, to) in &self.0 {
                    let end = i + from.len();
                    if text[i..].starts_with(from.as_str())
                        && !text[end..].chars().next().is_some_and(word)
                    {
                        out.push_str(to);
                        i = end;
                        continue 'scan;
                    }
                }
            }
            let c = text[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8().max(1);
        }
        out
    }
}

/// One probe as the kubelet runs it, on the pod's local ports.
#[derive(Debug, Clone)]
enum Probe {
    Grpc { addr: SocketAddr, service: String },
    Http { addr: SocketAddr, path: String },
    Tcp { addr: SocketAddr },
}

impl Probe {
    async fn passes(&self) -> bool {
        match self {
            Self::Grpc { addr, service } => grpc_probe(*addr, service).await,
            // The kubelet's rule: 200 ≤ status < 400.
            Self::Http { addr, path } => ready::http_status(*addr, path)
                .await
                .is_some_and(|s| (200..400).contains(&s)),
            Self::Tcp { addr } => tokio::net::TcpStream::connect(addr).await.is_ok(),
        }
    }
}

/// One Deployment's pod: its container as a process.
struct Pod {
    name: String,
    child: Child,
    log: PathBuf,
    env: Vec<(String, String)>,
    probes: Vec<(String, Probe)>,
    grace: Duration,
}

/// Where one Deployment's pod listens: container port → local port, and
/// port names.
#[derive(Default, Clone)]
struct PodPorts {
    local: BTreeMap<u16, u16>,
    names: BTreeMap<String, u16>,
}

impl PodPorts {
    /// A probe's or Service's `port`: a number or a name → the local port.
    fn resolve(&self, port: &Value) -> Result<u16, String> {
        let container = match port {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(name) => self.names.get(name).copied(),
            _ => None,
        }
        .ok_or_else(|| format!("port {port} is not a declared container port"))?;
        self.local
            .get(&container)
            .copied()
            .ok_or_else(|| format!("port {container} is not a declared container port"))
    }
}

/// A ConfigMap's or Secret's values.
type Data = BTreeMap<String, Vec<u8>>;

/// What every pod of the rendered system sees: the manifests, the Secrets
/// made outside the chart, the Services' local addresses.
struct Scene<'a> {
    rendered: &'a Rendered,
    external: &'a BTreeMap<String, Data>,
    /// `user.bazaar.svc.cluster.local:50051`, `user:50051`, … → local.
    services: Rewrites,
    /// What the kubelet puts in every pod's environment per Service
    /// (enableServiceLinks), pointing at the local ports.
    links: Vec<(String, String)>,
}

impl Scene<'_> {
    fn config_map(&self, name: &str) -> Option<Data> {
        self.rendered.config_map(name)
    }

    fn secret(&self, name: &str) -> Option<Data> {
        self.rendered
            .secret(name)
            .or_else(|| self.external.get(name).cloned())
    }

    /// A `configMapRef`/`secretRef`-like source: its kind and values.
    fn source(&self, holder: &Value) -> Result<(&'static str, String, Option<Data>), String> {
        if let Some(r) = holder
            .get("configMapRef")
            .or_else(|| holder.get("configMapKeyRef"))
        {
            let name = text(&r["name"]);
            Ok(("ConfigMap", name.clone(), self.config_map(&name)))
        } else if let Some(r) = holder
            .get("secretRef")
            .or_else(|| holder.get("secretKeyRef"))
        {
            let name = text(&r["name"]);
            Ok(("Secret", name.clone(), self.secret(&name)))
        } else {
            Err(format!("{holder} is not emulated"))
        }
    }
}

/// Each of the pod's volumes as a directory under `dir`, filled as the
/// kubelet fills it (ConfigMap and Secret keys, or `items`, as files).
fn volumes(scene: &Scene, spec: &Value, dir: &Path) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut volumes = BTreeMap::new();
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        let name = text(&volume["name"]);
        let path = dir.join(&name);
        std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
        let (kind, source, data, items) = if volume.get("emptyDir").is_some() {
            volumes.insert(name, path);
            continue;
        } else if let Some(cm) = volume.get("configMap") {
            let source = text(&cm["name"]);
            (
                "ConfigMap",
                source.clone(),
                scene.config_map(&source),
                &cm["items"],
            )
        } else if let Some(secret) = volume.get("secret") {
            let source = text(&secret["secretName"]);
            (
                "Secret",
                source.clone(),
                scene.secret(&source),
                &secret["items"],
            )
        } else {
            return Err(format!("volume {volume} is of a kind not emulated"));
        };
        let data = data.ok_or_else(|| {
            format!("volume {name}: {kind} {source} is neither rendered nor made outside the chart")
        })?;
        let files: Vec<(String, String)> = match items.as_array() {
            Some(items) => items
                .iter()
                .map(|i| (text(&i["key"]), text(&i["path"])))
                .collect(),
            None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
        };
        for (key, file) in files {
            let bytes = data
                .get(&key)
                .ok_or_else(|| format!("volume {name}: {kind} {source} has no key {key}"))?;
            let target = path.join(&file);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&target, bytes).map_err(|e| e.to_string())?;
        }
        volumes.insert(name, path);
    }
    Ok(volumes)
}

/// The container's environment as the kubelet assembles it: the Service
/// links, then `envFrom`, then `env` (values expanded, `valueFrom`
/// resolved), later ones winning.
fn environment(
    scene: &Scene,
    pod: &str,
    container: &Value,
) -> Result<Vec<(String, String)>, String> {
    let utf8 = |bytes: Vec<u8>| String::from_utf8(bytes).map_err(|e| e.to_string());
    let mut env = vec![("HOSTNAME".to_owned(), pod.to_owned())];
    env.extend(scene.links.iter().cloned());
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = text(&from["prefix"]);
        let (kind, name, data) = scene.source(from)?;
        let data = data.ok_or_else(|| format!("envFrom {kind} {name} is not rendered"))?;
        for (key, value) in data {
            set_var(&mut env, format!("{prefix}{key}"), utf8(value)?);
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        let key = text(&var["name"]);
        let from = &var["valueFrom"];
        let value = if let Some(value) = var.get("value") {
            expand(&text(value), &env)
        } else if let Some(field) = from.get("fieldRef") {
            match text(&field["fieldPath"]).as_str() {
                "metadata.name" => pod.to_owned(),
                "metadata.namespace" => NAMESPACE.to_owned(),
                "status.podIP" | "status.hostIP" => "127.0.0.1".to_owned(),
                other => return Err(format!("env {key}: fieldRef {other} is not emulated")),
            }
        } else if from.is_object() {
            let (kind, name, data) = scene.source(from)?;
            let reference = from
                .get("configMapKeyRef")
                .or_else(|| from.get("secretKeyRef"))
                .unwrap_or(&Value::Null);
            let wanted = text(&reference["key"]);
            match data.and_then(|mut d| d.remove(&wanted)) {
                Some(bytes) => utf8(bytes)?,
                None if reference["optional"] == true => continue,
                None => return Err(format!("env {key}: {kind} {name} has no key {wanted}")),
            }
        } else {
            String::new()
        };
        set_var(&mut env, key, value);
    }
    Ok(env)
}

/// The container's probes, on the pod's local ports.
fn probes(container: &Value, ports: &PodPorts) -> Result<Vec<(String, Probe)>, String> {
    let addr = |port: &Value| -> Result<SocketAddr, String> {
        Ok(SocketAddr::from(([127, 0, 0, 1], ports.resolve(port)?)))
    };
    let mut probes = Vec::new();
    for kind in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let probe = &container[kind];
        if probe.is_null() {
            continue;
        }
        let emulated = if let Some(grpc) = probe.get("grpc") {
            Probe::Grpc {
                addr: addr(&grpc["port"])?,
                service: text(&grpc["service"]),
            }
        } else if let Some(get) = probe.get("httpGet") {
            Probe::Http {
                addr: addr(&get["port"])?,
                path: text(&get["path"]),
            }
        } else if let Some(tcp) = probe.get("tcpSocket") {
            Probe::Tcp {
                addr: addr(&tcp["port"])?,
            }
        } else {
            return Err(format!("{kind} {probe} is not emulated"));
        };
        probes.push((kind.to_owned(), emulated));
    }
    if !probes.iter().any(|(kind, _)| kind == "readinessProbe") {
        return Err("declares no readinessProbe".to_owned());
    }
    Ok(probes)
}

/// Starts one Deployment's pod: its container as a process of the built
/// binary, in `root/<name>/`.
fn start_pod(
    scene: &Scene,
    deployment: &Value,
    ports: &PodPorts,
    root: &Path,
) -> Result<Pod, String> {
    let name = name_of(deployment);
    let spec = &deployment["spec"]["template"]["spec"];
    if spec.get("initContainers").is_some() {
        return Err("initContainers are not emulated".to_owned());
    }
    let [container] = containers(deployment) else {
        return Err("only pods of one container are emulated".to_owned());
    };
    let dir = root.join(&name);
    let cwd = dir.join("rootfs");
    std::fs::create_dir_all(&cwd).map_err(|e| e.to_string())?;
    let volumes = volumes(scene, spec, &dir.join("volumes"))?;

    // In-cluster names for this pod: its own ports, its mounts, the Services.
    let mut rewrites = Rewrites(scene.services.0.clone());
    for (container_port, local) in &ports.local {
        for host in ["0.0.0.0", "[::]", "127.0.0.1", "localhost"] {
            rewrites.add(
                format!("{host}:{container_port}"),
                format!("127.0.0.1:{local}"),
            );
        }
    }
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let volume = text(&mount["name"]);
        let mut local = volumes
            .get(&volume)
            .cloned()
            .ok_or_else(|| format!("volumeMount of undeclared volume {volume}"))?;
        if let Some(sub) = mount["subPath"].as_str() {
            local = local.join(sub);
        }
        rewrites.add(text(&mount["mountPath"]), local.display().to_string());
    }

    let env = environment(scene, &name, container)?;
    let (binary, args) = command_line(container)?;
    let args: Vec<String> = args
        .iter()
        .map(|a| rewrites.apply(&expand(a, &env)))
        .collect();
    let env: Vec<(String, String)> = env
        .into_iter()
        .map(|(k, v)| (k, rewrites.apply(&v)))
        .collect();
    for value in args.iter().chain(env.iter().map(|(_, v)| v)) {
        for leftover in ["svc.cluster.local", "0.0.0.0", "[::]"] {
            if value.contains(leftover) {
                return Err(format!(
                    "{value:?}: {leftover} is left after mapping the ports and Services (an undeclared port?)"
                ));
            }
        }
    }
    let probes = probes(container, ports)?;

    let log = dir.join("log");
    let file = File::create(&log).map_err(|e| e.to_string())?;
    let mut command = Command::new(binaries().dir.join(&binary));
    command
        .args(&args)
        .env_clear()
        .envs(env.iter().cloned())
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(|e| e.to_string())?)
        .stderr(file);
    process::die_with_parent(&mut command);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {binary}: {e}"))?;
    let grace = spec["terminationGracePeriodSeconds"]
        .as_u64()
        .map_or(STOP_TIMEOUT, Duration::from_secs);
    Ok(Pod {
        name,
        child,
        log,
        env,
        probes,
        grace,
    })
}

/// The rendered system, running on this machine. Dropping it kills every
/// process (and shows their logs when the test failed).
struct Cluster {
    pods: Vec<Pod>,
    services: BTreeMap<(String, u16), u16>,
    _dir: TempDir,
}

impl Cluster {
    /// Starts every Deployment of `rendered` (one pod each), all at once as
    /// a kubelet does; `external` holds the Secrets made outside the chart.
    fn start(rendered: &Rendered, external: &BTreeMap<String, Data>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let deployments: Vec<&Value> = rendered.deployments().collect();

        // Every pod's container ports, each on a free local port.
        let mut ports: BTreeMap<String, PodPorts> = BTreeMap::new();
        let mut declared = Vec::new();
        for deployment in &deployments {
            for container in containers(deployment) {
                for port in container["ports"].as_array().into_iter().flatten() {
                    let number = port["containerPort"].as_u64().expect("containerPort") as u16;
                    declared.push((name_of(deployment), number, text(&port["name"])));
                }
            }
        }
        for ((pod, number, port_name), local) in declared.iter().zip(free_ports(declared.len())) {
            let entry = ports.entry(pod.clone()).or_default();
            entry.local.insert(*number, local);
            if !port_name.is_empty() {
                entry.names.insert(port_name.clone(), *number);
            }
        }

        // The Services in front of them: the pod their selector picks.
        let mut services = BTreeMap::new();
        let mut rewrites = Rewrites::default();
        for service in rendered.of_kind("Service") {
            let name = name_of(service);
            let selector = service["spec"]["selector"].as_object();
            let selected: Vec<String> = deployments
                .iter()
                .filter(|d| {
                    let labels = &d["spec"]["template"]["metadata"]["labels"];
                    selector
                        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels[k] == *v))
                })
                .map(|d| name_of(d))
                .collect();
            assert_eq!(selected.len(), 1, "Service {name} selects {selected:?}");
            let pod = &ports[&selected[0]];
            for port in service["spec"]["ports"].as_array().into_iter().flatten() {
                let number = port["port"].as_u64().expect("a Service port") as u16;
                let target = match &port["targetPort"] {
                    Value::Null => json!(number),
                    other => other.clone(),
                };
                let local = pod
                    .resolve(&target)
                    .unwrap_or_else(|e| panic!("Service {name} port {number}: {e}"));
                services.insert((name.clone(), number), local);
                for host in [
                    format!("{name}.{NAMESPACE}.svc.cluster.local"),
                    format!("{name}.{NAMESPACE}.svc"),
                    format!("{name}.{NAMESPACE}"),
                    name.clone(),
                ] {
                    rewrites.add(format!("{host}:{number}"), format!("127.0.0.1:{local}"));
                }
            }
        }
        let mut links = Vec::new();
        for ((name, _), local) in &services {
            let prefix = name.to_ascii_uppercase().replace('-', "_");
            links.push((format!("{prefix}_SERVICE_HOST"), "127.0.0.1".to_owned()));
            links.push((format!("{prefix}_SERVICE_PORT"), local.to_string()));
            links.push((format!("{prefix}_PORT"), format!("tcp://127.0.0.1:{local}")));
        }

        let scene = Scene {
            rendered,
            external,
            services: rewrites,
            links,
        };
        let mut cluster = Self {
            pods: Vec::new(),
            services,
            _dir: dir,
        };
        for deployment in deployments {
            let name = name_of(deployment);
            let pod = start_pod(&scene, deployment, &ports[&name], cluster._dir.path())
                .unwrap_or_else(|e| panic!("Deployment {name}: {e}"));
            cluster.pods.push(pod);
        }
        cluster
    }

    /// Until every probe of every pod passes at once; a process that exits
    /// fails it (a kubelet would restart it: a crash loop).
    async fn wait_ready(&mut self) -> Duration {
        let started = Instant::now();
        loop {
            for pod in &mut self.pods {
                if let Ok(Some(status)) = pod.child.try_wait() {
                    panic!("{} exited ({status})", pod.name);
                }
            }
            let mut failing = Vec::new();
            for pod in &self.pods {
                for (kind, probe) in &pod.probes {
                    if !probe.passes().await {
                        failing.push(format!("{} {kind} {probe:?}", pod.name));
                    }
                }
            }
            if failing.is_empty() {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < BOOT_TIMEOUT,
                "probes still failing after {BOOT_TIMEOUT:?}:\n{}",
                failing.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The local address of a Service's port.
    fn service(&self, name: &str, port: u16) -> SocketAddr {
        let local = self
            .services
            .get(&(name.to_owned(), port))
            .unwrap_or_else(|| panic!("no Service {name} port {port}"));
        SocketAddr::from(([127, 0, 0, 1], *local))
    }

    fn pod(&self, name: &str) -> &Pod {
        self.pods
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no pod {name}"))
    }

    /// SIGTERM to every pod at once; each must exit cleanly within its
    /// terminationGracePeriodSeconds.
    async fn stop(mut self) {
        let started = Instant::now();
        for pod in &self.pods {
            process::terminate(pod.child.id());
        }
        let longest = self
            .pods
            .iter()
            .map(|p| p.grace)
            .max()
            .unwrap_or(STOP_TIMEOUT);
        let mut exits: BTreeMap<String, (ExitStatus, Duration)> = BTreeMap::new();
        while exits.len() < self.pods.len() && started.elapsed() < longest {
            for pod in &mut self.pods {
                if !exits.contains_key(&pod.name)
                    && let Ok(Some(status)) = pod.child.try_wait()
                {
                    exits.insert(pod.name.clone(), (status, started.elapsed()));
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for pod in &self.pods {
            let exit = exits.get(&pod.name);
            assert!(
                exit.is_some_and(|(s, took)| s.success() && *took <= pod.grace),
                "{} did not stop cleanly within {:?} of SIGTERM: {exit:?}",
                pod.name,
                pod.grace
            );
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pod in &mut self.pods {
            let _ = pod.child.kill();
            let _ = pod.child.wait();
        }
        if std::thread::panicking() {
            for pod in &self.pods {
                eprintln!("--- pod {} (last lines)\n{}", pod.name, tail(&pod.log));
            }
        }
    }
}

/// The Secrets the chart expects to exist (cert-manager's, one per
/// workload: `tls.crt`, `tls.key`, `ca.crt`), from a development CA.
fn mesh_secrets(dir: &Path, rendered: &Rendered) -> BTreeMap<String, Data> {
    let policy = MeshPolicy::built_in().expect("the built-in policy");
    devcerts::ensure(dir, &policy).expect("development certificates");
    let read =
        |file: String| std::fs::read(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut secrets = BTreeMap::new();
    for deployment in rendered.deployments() {
        let workload = text(&deployment["spec"]["template"]["spec"]["serviceAccountName"]);
        let data = BTreeMap::from([
            ("tls.crt".to_owned(), read(format!("{workload}.pem"))),
            ("tls.key".to_owned(), read(format!("{workload}.key"))),
            ("ca.crt".to_owned(), read("ca.pem".to_owned())),
        ]);
        secrets.insert(format!("bazaar-mesh-{workload}"), data);
    }
    secrets
}

#[tokio::test]
async fn chart_rendered_proxyless_on_sqlite_boots_and_sells() {
    let rendered = render(&["--set", "istio.enabled=false"]);
    let problems = unread_settings(&rendered);
    assert!(
        problems.is_empty(),
        "the chart sets what the binaries do not read:\n{}",
        problems.join("\n")
    );
    let certs = tempfile::tempdir().expect("temp dir");
    let external = mesh_secrets(certs.path(), &rendered);
    let mut cluster = Cluster::start(&rendered, &external);
    let took = cluster.wait_ready().await;
    eprintln!("every probe of the rendered Deployments passes after {took:?}");

    // A customer buys through the rendered gateway's Service.
    let gateway = rendered
        .named("Service", "gateway")
        .expect("Service gateway");
    let port = gateway["spec"]["ports"][0]["port"]
        .as_u64()
        .expect("its port") as u16;
    let rest = Rest::new(&format!("http://{}", cluster.service("gateway", port)));
    let email = "helm-boot@example.com";
    let registered = rest
        .post(
            "/v1/users",
            None,
            &json!({"email": email, "password": PASSWORD, "display_name": "Helm Boot"}),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::OK,
        "register: {registered:?}"
    );
    let login = rest
        .post(
            "/v1/sessions",
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "login: {login:?}");
    let token = text(&login.body["access_token"]);
    let listed = rest.get("/v1/products?page_size=5", None).await;
    assert_eq!(listed.status, StatusCode::OK, "list products: {listed:?}");
    let product = listed.body["products"]
        .as_array()
        .and_then(|all| all.iter().find(|p| int(&p["stock"]) > 0))
        .unwrap_or_else(|| panic!("no product in stock: {:?}", listed.body));
    let placed = rest
        .post(
            "/v1/orders",
            Some(&token),
            &json!({
                "idempotency_key": "helm-boot-1",
                "items": [{"product_id": text(&product["id"]), "quantity": 1}],
                "payment_method": {"card": {
                    "number": cards::APPROVED, "exp_month": 12, "exp_year": 2099,
                    "cvc": "123", "holder_name": "Helm Boot"
                }}
            }),
        )
        .await;
    assert_eq!(placed.status, StatusCode::OK, "place order: {placed:?}");
    let id = text(&placed.body["order"]["id"]);
    let mut order = placed.body["order"].clone();
    for _ in 0..200 {
        if order["status"] != "ORDER_STATUS_PENDING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        order = rest
            .get(&format!("/v1/orders/{id}"), Some(&token))
            .await
            .body["order"]
            .clone();
    }
    assert_eq!(order["status"], "ORDER_STATUS_CONFIRMED", "{order}");

    // The bootstrap admin's password is the generated Secret's.
    let user = cluster.pod("user");
    let var = |key: &str| {
        user.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the user pod has no {key}"))
    };
    let admin = rest
        .post(
            "/v1/sessions",
            None,
            &json!({
                "email": var("BAZAAR__BOOTSTRAP_ADMIN__EMAIL"),
                "password": var("BAZAAR__BOOTSTRAP_ADMIN__PASSWORD"),
            }),
        )
        .await;
    assert_eq!(admin.status, StatusCode::OK, "admin login: {admin:?}");
    assert!(
        admin.body["user"]["roles"]
            .to_string()
            .contains("ROLE_ADMIN"),
        "{admin:?}"
    );

    cluster.stop().await;
}
