//! `djinn serve`: the HTTP API over the registry's plugins, until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use djinn::api::{self, AppState};
use djinn::bus::BusConfig;
use djinn::catalog::Catalog;
use djinn::config::HostConfig;
use djinn::registry::{BundledPlugin, load_registered};
use djinn::{Runtime, services};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on (overrides `[api] listen`).
    #[arg(long)]
    listen: Option<String>,
    /// Also hot-load plugin folders (djinn.toml + one .wasm each) from this directory.
    #[arg(long, value_name = "DIR")]
    watch: Option<std::path::PathBuf>,
    /// How often `--watch` scans, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    watch_interval_ms: u64,
}

pub async fn run(config: HostConfig, args: Args) -> anyhow::Result<ExitCode> {
    let host = services::open(&config).await?;
    let runtime = Arc::new(Runtime::new(config.runtime(), host.services.clone())?);
    let bundled: Vec<BundledPlugin> = djinn_plugins::serving()
        .map(|b| BundledPlugin {
            wasm: b.wasm,
            manifest: b.manifest,
        })
        .collect();
    let boot = load_registered(&runtime, &host.store.registry(), &bundled).await?;
    for (id, why) in &boot.failed {
        eprintln!("warning: plugin `{id}` not loaded: {why}");
    }
    let catalog = Arc::new(Catalog::new(
        runtime,
        host.store.registry(),
        BusConfig::default(),
        boot.loaded,
    )?);

    let mut addr: SocketAddr = args
        .listen
        .as_deref()
        .unwrap_or(&config.api.listen)
        .parse()
        .context("the listen address must be IP:PORT, e.g. 127.0.0.1:8080")?;
    let state = AppState::new(catalog, host.store.clone(), &config.api)?
        .with_llm_metrics(host.llm.metrics.clone());
    if state.auth.is_open() && !addr.ip().is_loopback() {
        eprintln!(
            "warning: no API tokens or JWT issuer are configured, so djinn listens on \
             127.0.0.1 only (add [[api.tokens]] or [api.jwt] to listen on {})",
            addr.ip()
        );
        addr.set_ip([127, 0, 0, 1].into());
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let snapshot = state.catalog.snapshot();
    eprintln!(
        "djinn listening on http://{bound} ({} plugins, database {}){}",
        snapshot.plugins.len(),
        format!("{:?}", host.store.backend()).to_lowercase(),
        if state.auth.is_open() {
            "; no tokens configured: every local caller is an operator"
        } else {
            ""
        }
    );
    let _watcher = args.watch.map(|dir| {
        eprintln!(
            "watching {} for plugin folders (every {} ms)",
            dir.display(),
            args.watch_interval_ms
        );
        let watcher = djinn::watch::Watcher::new(state.catalog.clone(), dir);
        AbortOnDrop(tokio::spawn(watcher.run(std::time::Duration::from_millis(
            args.watch_interval_ms.max(50),
        ))))
    });
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown())
        .await?;
    host.audit.flush().await;
    eprintln!("djinn stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before exit.
async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

/// Stops the watcher when serve returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
