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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
///
/// A plain HTTP/1.1 request over a TCP stream: the probe needs no TLS, and an HTTP client
/// library would want the system's CA certificates, which a `FROM scratch` image lacks.
pub async fn check(listen: SocketAddr, probe: Probe, timeout: Duration) -> anyhow::Result<()> {
    let address = local_address(listen);
    let url = format!("http://{address}{}", probe.path());
    let status = tokio::time::timeout(timeout, status_of(address, probe.path()))
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {url} within {timeout:?}"))?
        .with_context(|| format!("no answer from {url}"))?;
    if status != 200 {
        bail!("{url} answered {status}");
    }
    Ok(())
}

/// The status code of `GET path` at `address`.
async fn status_of(address: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    // The status line fits in the first read of any answer; at most 64 bytes are looked at.
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < head.len() && !head[..read].contains(&b'\n') {
        let n = stream.read(&mut head[read..]).await?;
        if n == 0 {
            break;
        }
        read += n;
    }
    // "HTTP/1.1 200 OK"
    let line = String::from_utf8_lossy(&head[..read]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| "not an HTTP answer".to_owned())
}
