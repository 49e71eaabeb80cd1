//! Which addresses a webhook may reach.
//!
//! A webhook URL is chosen by whoever administers a project, and the server then makes
//! requests to it from inside the network: without a check, `https://169.254.169.254/…` (cloud
//! metadata), `http://127.0.0.1:6379` or an internal admin panel would be one `POST` away
//! (server-side request forgery). With `webhooks_deny_private` on (the default) the check runs
//! where it cannot be dodged: on the addresses the name resolves to at connection time
//! ([`GuardedResolver`]; a name that resolves to a public address when saved and a private one
//! later is still refused), and on literal addresses in the URL (which skip resolution).
//! Redirects are never followed, so a public receiver cannot bounce the request inward.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is anything but a public unicast address: loopback, private (RFC 1918, IPv6
/// unique-local), link-local (where cloud metadata lives), shared (CGNAT), unspecified,
/// broadcast, multicast, documentation and benchmarking ranges; IPv4-mapped IPv6 addresses by
/// their IPv4 address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(v6),
        },
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || ip.to_ipv4().is_some_and(is_private_v4) // IPv4-compatible
}

/// The system resolver, keeping only public addresses; a name left with none fails to
/// connect, and the attempt is logged as blocked.
#[derive(Debug, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| !is_private(addr.ip()))
                .collect();
            if public.is_empty() {
                return Err(Box::new(Blocked) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// Why a connection was not attempted.
#[derive(Debug, thiserror::Error)]
#[error("the host resolves only to private addresses, which this server refuses")]
pub struct Blocked;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inward_addresses_are_private_and_public_ones_are_not() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
