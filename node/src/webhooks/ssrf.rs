//! The SSRF guard: webhook targets must be public addresses.
//!
//! An endpoint URL is refused when its host is, or resolves to, an address in a private,
//! loopback, link-local, unique-local, shared (CGNAT), unspecified, multicast, broadcast,
//! reserved or documentation range, IPv4 or IPv6 (v4-mapped, v4-compatible, NAT64 and
//! 6to4 addresses are judged by the IPv4 address they carry). The check runs at
//! registration and again at every connection ([`GuardedResolver`]), so a name that later
//! resolves to a private address (DNS rebinding) is not followed. The operator may allow
//! such targets (`[webhooks] allow_private_targets`).

use super::WebhookError;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why `ip` may not be a webhook target, or `None` when it is a public address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "unspecified (0.0.0.0/8)",
        _ if ip.is_loopback() => "loopback (127.0.0.0/8)",
        _ if ip.is_private() => "private (RFC 1918)",
        _ if ip.is_link_local() => "link-local (169.254.0.0/16)",
        (100, 64..=127, _) => "shared address space (100.64.0.0/10)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() => "multicast (224.0.0.0/4)",
        (240..=255, _, _) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified (::)",
        _ if ip.is_loopback() => "loopback (::1)",
        x if x & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
        x if x & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        x if x & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        x if x & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        0x2001 if s[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x0100 if s[1..4] == [0, 0, 0] => "discard (100::/64)",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address carries: v4-mapped (`::ffff:a.b.c.d`), v4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(low());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Parses an endpoint URL: `http` or `https`, a host, no credentials.
pub fn parse_url(url: &str) -> Result<Url, WebhookError> {
    let parsed = Url::parse(url)
        .map_err(|e| WebhookError::InvalidInput(format!("endpoint URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(WebhookError::InvalidInput(format!(
            "endpoint URL {url:?}: the scheme must be http or https"
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(WebhookError::InvalidInput(format!(
            "endpoint URL {url:?} has no host"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(WebhookError::InvalidInput(format!(
            "endpoint URL {url:?}: credentials in the URL are not allowed (the signature authenticates the node)"
        )));
    }
    Ok(parsed)
}

/// Resolves the URL's host and refuses it when any address is forbidden (none is checked
/// when `allow_private`).
pub async fn check_url(url: &Url, allow_private: bool) -> Result<(), WebhookError> {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| {
            WebhookError::UnsafeUrl(format!("endpoint host {host:?} does not resolve: {e}"))
        })?
        .collect();
    if allow_private {
        return Ok(());
    }
    check_addrs(host, &addrs)
}

fn check_addrs(host: &str, addrs: &[SocketAddr]) -> Result<(), WebhookError> {
    for addr in addrs {
        if let Some(why) = forbidden(addr.ip()) {
            return Err(WebhookError::UnsafeUrl(format!(
                "endpoint host {host:?} resolves to {} ({why}): refused (SSRF guard; the operator may set [webhooks] allow_private_targets)",
                addr.ip()
            )));
        }
    }
    if addrs.is_empty() {
        return Err(WebhookError::UnsafeUrl(format!(
            "endpoint host {host:?} resolves to no address"
        )));
    }
    Ok(())
}

/// The delivery client's resolver: resolves with the system resolver and refuses names
/// with a forbidden address, at every new connection.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_addrs(&host, &addrs)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:0101::1",
        ];
        for ip in refused {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(forbidden(parsed).is_some(), "{ip} must be refused");
        }
        let allowed = [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "203.0.114.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ];
        for ip in allowed {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden(parsed), None, "{ip} must be allowed");
        }
    }

    #[test]
    fn urls_are_checked() {
        for bad in [
            "ftp://x.example/",
            "not a url",
            "http://user:pw@x.example/",
            "file:///etc/passwd",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert!(parse_url("https://hooks.example.com/cactus?x=1").is_ok());
    }

    #[tokio::test]
    async fn private_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/",
            "http://localhost:9/",
            "http://[::1]:9/",
            "http://[::ffff:127.0.0.1]:9/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let parsed = parse_url(url).unwrap();
            let refused = check_url(&parsed, false).await;
            assert!(
                matches!(refused, Err(WebhookError::UnsafeUrl(_))),
                "{url}: {refused:?}"
            );
        }
        let local = parse_url("http://127.0.0.1:9/").unwrap();
        assert!(check_url(&local, true).await.is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_private_names() {
        let name: Name = "localhost".parse().unwrap();
        assert!(GuardedResolver.resolve(name).await.is_err());
    }
}
