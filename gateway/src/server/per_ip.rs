//! Connections per client address (`--max-connections-per-ip`, off by
//! default): load generators and corporate proxies put many clients behind
//! one address. Behind a load balancer listed in `--trusted-proxies`, the
//! client is the last untrusted address of `X-Forwarded-For`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use parking_lot::Mutex;

/// An address range: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `10.0.0.0/8`, `::1` or `192.168.1.7` (a single address).
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an address or range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, bits) = match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix);
        if host_bits >= 128 {
            return true;
        }
        (a >> host_bits) == (b >> host_bits)
    }
}

/// Live connections by client address, against the limit.
#[derive(Debug)]
pub struct PerIp {
    max: u32,
    trusted: Vec<IpRange>,
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// A connection's place under its address's limit; dropping it frees it.
#[derive(Debug)]
pub struct IpPermit {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// `max` connections per address (0: no limit), `trusted` proxies.
    pub fn new(max: u32, trusted: Vec<IpRange>) -> Arc<Self> {
        Arc::new(Self {
            max,
            trusted,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// Whether a limit is set.
    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    /// The client's address: the peer, or behind a trusted proxy the last
    /// untrusted `X-Forwarded-For` entry (the leftmost when all are
    /// trusted). Entries that are not addresses end the walk.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let trusted = |ip: IpAddr| self.trusted.iter().any(|r| r.contains(ip));
        if !trusted(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !trusted(ip) {
                break;
            }
        }
        client
    }

    /// Takes a place for `ip`: `Ok(None)` without a limit, `Err(())` when
    /// the address holds `max` connections already.
    #[allow(clippy::result_unit_err)]
    pub fn try_take(self: &Arc<Self>, ip: IpAddr) -> Result<Option<IpPermit>, ()> {
        if !self.enabled() {
            return Ok(None);
        }
        let mut counts = self.counts.lock();
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return Err(());
        }
        *n += 1;
        Ok(Some(IpPermit {
            per_ip: self.clone(),
            ip,
        }))
    }

    /// Addresses holding a connection now.
    pub fn addresses(&self) -> usize {
        self.counts.lock().len()
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let mut counts = self.per_ip.counts.lock();
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_what_their_prefix_says() {
        let r = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(r.contains(ip("10.200.1.1")) && !r.contains(ip("11.0.0.1")));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains(ip("1.2.3.4")));
        assert!(IpRange::parse("::1").unwrap().contains(ip("::1")));
        assert!(!IpRange::parse("::1").unwrap().contains(ip("127.0.0.1")));
        assert!(IpRange::parse("10.0.0.0/33").is_err());
        assert!(IpRange::parse("nope").is_err());
    }

    #[test]
    fn only_a_trusted_peer_is_believed_about_the_client() {
        let p = PerIp::new(1, vec![IpRange::parse("10.0.0.0/8").unwrap()]);
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.0.0.9"),
        );
        assert_eq!(p.client_ip(ip("10.0.0.1"), &h), ip("1.2.3.4"));
        assert_eq!(
            p.client_ip(ip("5.5.5.5"), &h),
            ip("5.5.5.5"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            p.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_limit_holds_per_address_and_frees_on_drop() {
        let p = PerIp::new(2, Vec::new());
        let a = p.try_take(ip("1.1.1.1")).unwrap();
        let _b = p.try_take(ip("1.1.1.1")).unwrap();
        assert!(p.try_take(ip("1.1.1.1")).is_err());
        assert!(p.try_take(ip("2.2.2.2")).unwrap().is_some());
        drop(a);
        assert!(p.try_take(ip("1.1.1.1")).unwrap().is_some());
        assert!(
            PerIp::new(0, Vec::new())
                .try_take(ip("1.1.1.1"))
                .unwrap()
                .is_none()
        );
    }
}
