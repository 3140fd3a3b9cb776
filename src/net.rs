//! Address policy: what the gateway's outgoing requests may reach (media
//! URLs, webhook receivers, engine downloads) and how address blocks are read
//! (also for trusted proxies). Public unicast only, unless a setting opens a
//! block; a host name is checked where it is resolved, so the address
//! connected to is the address checked.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// An address block, `10.0.0.0/8` or `::1` (a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("{text:?} is not an address or address/prefix");
        let (addr, bits) = match text.trim().split_once('/') {
            Some((addr, bits)) => (addr, Some(bits.parse::<u8>().map_err(|_| bad())?)),
            None => (text.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(u128::from(u32::from(net)), u128::from(u32::from(ip)), 32, self.bits)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(u128::from(net), u128::from(ip), 128, self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, width: u8, bits: u8) -> bool {
    bits == 0 || (a ^ b) >> (width - bits) == 0
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they are.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Only http(s), and no literal address that is not public.
pub fn check_url(url: &url::Url, policy: &AddressPolicy) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("only http and https URLs are allowed, not {}:", url.scheme()));
    }
    let ip = match url.host() {
        None => return Err("the URL has no host".into()),
        Some(url::Host::Domain(_)) => return Ok(()), // checked when resolved
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
    };
    if policy.permits(ip) { Ok(()) } else { Err("the URL's host is not a public address".into()) }
}

/// Which addresses an outgoing request of the gateway may reach: public ones,
/// those in `allowed` (a LAN a setting opens), or all with `allow_private`.
#[derive(Clone, Default)]
pub struct AddressPolicy {
    pub allow_private: bool,
    pub allowed: Vec<Cidr>,
}

impl AddressPolicy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip) || self.allowed.iter().any(|range| range.contains(ip))
    }
}

/// A resolver that refuses a name resolving to any address the policy does
/// not permit, so the address connected to is the address checked.
pub struct GuardedResolver {
    pub policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // The address itself is not told: that would map the gateway's network for the caller.
            if addrs.iter().any(|a| !policy.permits(a.ip())) {
                return Err(Box::new(Blocked(format!("{host} resolves to an address that is not public")))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The guard's refusal inside a reqwest error, if that is what it is.
pub fn refusal(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<Blocked>() {
            return Some(blocked.0.clone());
        }
        source = e.source();
    }
    None
}

/// Whether `ip` is a public unicast address (what a media URL may reach): not
/// in any block of IANA's IPv4 and IPv6 special-purpose address registries
/// (those marked globally reachable too: no media lives there), nor outside
/// IPv6 global unicast; addresses that embed an IPv4 address (mapped, the
/// well-known NAT64 prefix) are judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64, well-known prefix 64:ff9b::/96 (RFC 6052): an IPv4 address in the last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return is_public_v4(v4);
            }
            let in_block = |prefix: [u16; 3], bits: u32| {
                let value = (u64::from(s[0]) << 32) | (u64::from(s[1]) << 16) | u64::from(s[2]);
                let want = (u64::from(prefix[0]) << 32) | (u64::from(prefix[1]) << 16) | u64::from(prefix[2]);
                let mask = !0u64 << (48 - bits) & 0xffff_ffff_ffff;
                value & mask == want & mask
            };
            // Global unicast is 2000::/3; everything else (::/96 IPv4-compatible, 100::/64
            // discard, 64:ff9b:1::/48 local NAT64, 5f00::/16 SRv6, fc00::/7, fe80::/10,
            // ff00::/8, ...) is special or unallocated.
            in_block([0x2000, 0, 0], 3)
                && !(in_block([0x2001, 0, 0], 23) // IETF protocol assignments: Teredo, ORCHID, AMT, ...
                    || in_block([0x2001, 0x0db8, 0], 32) // documentation
                    || in_block([0x2002, 0, 0], 16) // 6to4
                    || in_block([0x2620, 0x004f, 0x8000], 48) // AS112 direct delegation
                    || in_block([0x3fff, 0, 0], 20)) // documentation (RFC 9637)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: cloud metadata
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 31 && c == 196) // AS112-v4
        || (a == 192 && b == 52 && c == 193) // AMT
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || (a == 192 && b == 175 && c == 48) // AS112 direct delegation
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// A refusal of the guard, found again in reqwest's error chain.
#[derive(Debug)]
pub struct Blocked(pub String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Blocked {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_parse_and_match() {
        let lan = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(lan.contains("10.200.1.2".parse().unwrap()));
        assert!(lan.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!lan.contains("11.0.0.1".parse().unwrap()));
        let one = Cidr::parse("::1").unwrap();
        assert!(one.contains("::1".parse().unwrap()) && !one.contains("::2".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "fe80::/129", "localhost", "10.0.0.0/x", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_public_addresses_pass() {
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a9fe:a9fe",
            // IPv4-compatible (deprecated), 6to4, local-use NAT64, Teredo, discard-only, ORCHIDv2,
            // documentation, SRv6, multicast, AS112, and the rest of the IPv4 registry.
            "::127.0.0.1",
            "::8.8.8.8",
            "2002:7f00:1::1",
            "2002:0808:0808::1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1::808:808",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
            "2001:20::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "ff02::1",
            "2620:4f:8000::1",
            "192.0.0.9",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.175.48.1",
            "198.18.0.1",
            "203.0.113.7",
            "240.0.0.1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:2800:220:1:248:1893:25c8:1946",
            "2a00:1450:4001:80b::200e",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let check = |u: &str| check_url(&url::Url::parse(u).unwrap(), &AddressPolicy::default());
        assert!(check("file:///etc/passwd").is_err());
        assert!(check("ftp://example.com/x").is_err());
        assert!(check("http://127.0.0.1/x").is_err());
        assert!(check("http://[::1]:8080/x").is_err());
        assert!(check("http://169.254.169.254/latest/meta-data").is_err());
        assert!(check("http://2130706433/").is_err(), "decimal spelling of 127.0.0.1");
        assert!(check("https://example.com/a.jpg").is_ok());
        let open = AddressPolicy { allow_private: true, allowed: Vec::new() };
        assert!(check_url(&url::Url::parse("http://127.0.0.1/x").unwrap(), &open).is_ok());
        let lan = AddressPolicy { allow_private: false, allowed: vec![Cidr::parse("10.20.0.0/16").unwrap()] };
        assert!(check_url(&url::Url::parse("http://10.20.3.4/billing").unwrap(), &lan).is_ok());
        assert!(check_url(&url::Url::parse("http://10.21.3.4/billing").unwrap(), &lan).is_err());
    }
}
