//! The process-level stop signal.

/// Completes on Ctrl-C or, on Unix, SIGTERM (what Kubernetes and `make run`
/// send). Servers take it as their shutdown future.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => tracing::info!("received Ctrl-C, shutting down"),
        () = terminate => tracing::info!("received SIGTERM, shutting down"),
    }
}

/// For a background task of [`App::spawn`](crate::service::App::spawn):
/// sleeps for `wait`, or less if the server stops (`stop` turns true) or
/// `woken` completes first; whether it stopped.
pub async fn pause(
    stop: &mut tokio::sync::watch::Receiver<bool>,
    wait: std::time::Duration,
    woken: impl Future<Output = ()>,
) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(wait) => *stop.borrow(),
        () = woken => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
