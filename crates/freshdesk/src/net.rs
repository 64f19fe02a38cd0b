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

/// IPv4 ranges that are not globally reachable (IANA's special-purpose registry, RFC 6890 and
/// successors): this one table decides for the Freshdesk resolver and for every other outbound
/// check (alert webhooks).
pub const NON_GLOBAL_V4: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "this network"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space (CGNAT)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link-local and cloud metadata",
    ),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation"),
    (Ipv4Addr::new(192, 31, 196, 0), 24, "AS112"),
    (Ipv4Addr::new(192, 52, 193, 0), 24, "AMT"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "6to4 relay anycast"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private"),
    (Ipv4Addr::new(192, 175, 48, 0), 24, "AS112"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "documentation"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "documentation"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved and broadcast"),
];

/// IPv6 ranges inside the global unicast block 2000::/3 that are nevertheless not global.
/// Everything outside 2000::/3 is refused too, except the prefixes that embed an IPv4 address
/// (see [`embedded_v4`]), which are judged by the address they carry.
pub const NON_GLOBAL_V6: &[(Ipv6Addr, u8, &str)] = &[
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments (Teredo, ORCHID, benchmarking)",
    ),
    (
        Ipv6Addr::new(0x2001, 0x0db8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation",
    ),
];

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

pub fn is_global_v4(ip: Ipv4Addr) -> bool {
    !NON_GLOBAL_V4
        .iter()
        .any(|(net, len, _)| in_v4(ip, *net, *len))
}

/// The IPv4 address an IPv6 address stands for, for the prefixes that carry one and are routed
/// to it: IPv4-mapped (`::ffff:0:0/96`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`).
fn embedded_v4(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if in_v6(*ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return Some(low(s[6], s[7]));
    }
    // 6to4 carries the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}

/// Global unicast only: inside 2000::/3 and outside [`NON_GLOBAL_V6`], or an embedding of a global
/// IPv4 address. So the unspecified, loopback, IPv4-compatible (`::/96`), SIIT-translated
/// (`::ffff:0:0:0/96`), local-use NAT64 (`64:ff9b:1::/48`), discard, unique-local, link-local,
/// site-local and multicast ranges are all refused, and so is anything assigned later outside
/// 2000::/3.
pub fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(&ip) {
        return is_global_v4(v4);
    }
    in_v6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3)
        && !NON_GLOBAL_V6
            .iter()
            .any(|(net, len, _)| in_v6(ip, *net, *len))
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
            // SIIT (IPv4-translated), IPv4-compatible, local-use NAT64, Teredo, ORCHIDv2,
            // documentation, discard, site-local, multicast, and each embedding of a private v4.
            "::ffff:0:a00:1",
            "::ffff:0:808:808",
            "::a00:1",
            "::808:808",
            "64:ff9b:1::a00:1",
            "2001::1",
            "2001:20::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "fec0::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "192.0.0.8",
            "192.88.99.1",
            "240.0.0.1",
        ] {
            assert!(!is_global(a.parse().unwrap()), "{a}");
        }
        for a in [
            "8.8.8.8",
            "52.1.2.3",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
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
