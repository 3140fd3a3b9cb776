//! The client's address: the TCP peer, or, only when that peer is one of the
//! proxies listed in `server.trusted_proxies`, the address the proxies recorded
//! in `X-Forwarded-For` (read from the right, past every trusted hop, so a
//! client cannot put a made-up address in front of the real one).

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::net::{Cidr, canonical};

/// The client's address as [the module](self) says.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.iter().any(|c| c.contains(peer)) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|hop| hop.parse::<IpAddr>().ok())
        .collect::<Option<Vec<_>>>()
        // A list with anything unreadable in it says nothing reliable.
        .unwrap_or_default();
    let mut client = peer;
    for hop in hops.into_iter().rev().map(canonical) {
        client = hop;
        if !trusted.iter().any(|c| c.contains(hop)) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = [Cidr::parse("127.0.0.1").unwrap(), Cidr::parse("10.0.0.0/8").unwrap()];
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        // Not from a proxy: the header is the client's own invention.
        assert_eq!(client_ip(stranger, &headers(&["198.51.100.1"]), &trusted), stranger);
        // From a proxy: the rightmost hop that is not a trusted proxy.
        assert_eq!(client_ip(proxy, &headers(&["198.51.100.1"]), &trusted), "198.51.100.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            client_ip(proxy, &headers(&["6.6.6.6, 198.51.100.1, 10.1.1.1"]), &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap(),
            "a client-supplied first hop is not believed"
        );
        assert_eq!(
            client_ip(proxy, &headers(&["6.6.6.6", "198.51.100.1"]), &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, &headers(&[]), &trusted), proxy);
        assert_eq!(client_ip(proxy, &headers(&["not-an-address"]), &trusted), proxy);
        assert_eq!(client_ip(proxy, &headers(&["198.51.100.1"]), &[]), proxy, "no proxy trusted: the peer");
    }
}
