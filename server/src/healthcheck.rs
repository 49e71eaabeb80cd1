//! `switchboard healthcheck`: probes the local server's `/healthz` (or `/readyz`) and exits 0
//! when it answers 200, 1 otherwise.
//!
//! Container images built `FROM scratch` have no curl or wget, so the binary probes itself (the
//! Dockerfile's `HEALTHCHECK`, an exec probe). It reads the same settings as `serve`
//! (`SWITCHBOARD_LISTEN`, `--listen`, the config file), so the probe goes where the server
//! listens; an unspecified listen address (`0.0.0.0`, `[::]`) is probed on loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};

/// Which probe to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `/healthz`: the process answers.
    Alive,
    /// `/readyz`: the instance has started and can serve its traffic.
    Ready,
}

impl Probe {
    fn path(self) -> &'static str {
        match self {
            Probe::Alive => "/healthz",
            Probe::Ready => "/readyz",
        }
    }
}

/// Where a server listening on `listen` is reached from the same host.
pub fn local_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Makes the probe; `Ok` when the server answered 200 within `timeout`.
pub async fn check(listen: SocketAddr, probe: Probe, timeout: Duration) -> anyhow::Result<()> {
    let url = format!("http://{}{}", local_address(listen), probe.path());
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .context("building the HTTP client")?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    Ok(())
}
