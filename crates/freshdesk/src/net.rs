//! Outbound safety: the address guard and the HTTP client it sits in. Every name is resolved by
//! [`GuardedResolver`], which refuses the whole answer if any address is private, loopback,
//! link-local, metadata or otherwise not globally routable, so the address checked is the address
//! dialled. Only the explicit emulator routing (off by default) may reach loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves a host name to addresses. The default uses the system resolver; tests inject others.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 443))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// The error a refused resolution carries through reqwest, recognised again in `client`.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to a non-global address")]
pub struct BlockedAddress {
    pub host: String,
}

pub fn is_global_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xC0) == 64)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xFE) == 18)
        || o[0] >= 240)
}

fn embedded_v4(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // NAT64 (64:ff9b::/96) and the local-use NAT64 prefix (64:ff9b:1::/48)
    if s[0] == 0x64 && s[1] == 0xff9b {
        return Some(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    // 6to4 (2002::/16) carries the IPv4 address in bits 16..48
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    // IPv4-compatible (::a.b.c.d, deprecated)
    if s[..6].iter().all(|x| *x == 0) && (s[6] != 0 || s[7] > 1) {
        return Some(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    None
}

pub fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(&ip) {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xFE00) == 0xFC00 // unique local
        || (s[0] & 0xFFC0) == 0xFE80 // link-local
        || (s[0] & 0xFFC0) == 0xFEC0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo
        || (s[0] == 0x0100 && s[1..4].iter().all(|x| *x == 0))) // discard-only
}

pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

/// Where requests go when emulator routing is on: every `*.freshdesk.com` to this address.
#[derive(Clone, Debug)]
pub struct Route {
    pub addr: SocketAddr,
}

pub struct GuardedResolver {
    pub lookup: Arc<dyn Lookup>,
    pub route: Option<Route>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let lookup = self.lookup.clone();
        let route = self.route.clone();
        Box::pin(async move {
            let blocked = || -> Box<dyn std::error::Error + Send + Sync> {
                Box::new(BlockedAddress { host: host.clone() })
            };
            // Defence in depth: the URL builder only makes these names, but nothing else resolves.
            if !host.ends_with(".freshdesk.com") {
                return Err(blocked());
            }
            if let Some(route) = route {
                let addrs: Addrs = Box::new(std::iter::once(route.addr));
                return Ok(addrs);
            }
            let ips = lookup
                .lookup(host.clone())
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            if ips.is_empty() || ips.iter().any(|ip| !is_global(*ip)) {
                tracing::warn!(%host, "refused a non-global address for a Freshdesk host");
                return Err(blocked());
            }
            let addrs: Addrs = Box::new(
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, 443))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_in_check_f3_is_refused() {
        for a in [
            "127.0.0.1",
            "10.0.0.5",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "198.18.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_global(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "52.1.2.3", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_global(a.parse().unwrap()), "{a}");
        }
    }

    struct Fixed(Vec<Vec<IpAddr>>, std::sync::atomic::AtomicUsize);

    impl Lookup for Fixed {
        fn lookup(&self, _host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
            let i = self
                .1
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                .min(self.0.len() - 1);
            let answer = self.0[i].clone();
            Box::pin(async move { Ok(answer) })
        }
    }

    fn resolver(answers: Vec<Vec<&str>>) -> GuardedResolver {
        let answers = answers
            .into_iter()
            .map(|a| a.into_iter().map(|s| s.parse().unwrap()).collect())
            .collect();
        GuardedResolver {
            lookup: Arc::new(Fixed(answers, Default::default())),
            route: None,
        }
    }

    async fn resolves(r: &GuardedResolver, host: &str) -> bool {
        r.resolve(host.parse().unwrap()).await.is_ok()
    }

    #[tokio::test]
    async fn private_answers_are_refused_inside_the_resolver_before_any_dial() {
        for bad in ["10.0.0.5", "169.254.169.254", "::1", "64:ff9b::a00:1"] {
            assert!(
                !resolves(&resolver(vec![vec![bad]]), "acme.freshdesk.com").await,
                "{bad}"
            );
        }
        assert!(
            !resolves(
                &resolver(vec![vec!["8.8.8.8", "10.0.0.1"]]),
                "acme.freshdesk.com"
            )
            .await,
            "a mixed answer"
        );
        // Public first, private on the second lookup (DNS rebinding): each resolution is checked.
        let r = resolver(vec![vec!["8.8.8.8"], vec!["127.0.0.1"]]);
        assert!(resolves(&r, "acme.freshdesk.com").await);
        assert!(!resolves(&r, "acme.freshdesk.com").await);
    }

    #[tokio::test]
    async fn names_outside_freshdesk_com_are_never_resolved() {
        assert!(!resolves(&resolver(vec![vec!["8.8.8.8"]]), "evil.com").await);
    }
}
