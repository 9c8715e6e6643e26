//! Which network addresses a vendor client may reach (SSRF defence).
//!
//! Vendor base URLs are configuration, and some hosts come from the vendor's
//! own answers (a token's instance URL). A client built by the registry
//! therefore resolves names through [`GuardedResolver`], which refuses
//! loopback, private, link-local and other non-public addresses at connect
//! time (every connection resolves again, so a name re-pointed after start-up
//! is caught too), and [`NetworkPolicy::check_section`] refuses literal-IP URLs
//! in a vendor's section at start-up (reqwest does not resolve those).
//!
//! Per vendor, `[<crm|erp>.<kind>.network]` may allow loopback (development,
//! tests, `make run`) or private addresses (an on-premises ERP on the company
//! network). Link-local (the cloud metadata service at 169.254.169.254),
//! unspecified, multicast, broadcast and documentation addresses are never
//! reachable: no vendor lives there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::Deserialize;

use crate::config::ConfigError;
use crate::http_client::{HttpTimeouts, client_builder};

/// Section `[<crm|erp>.<kind>.network]`: the non-public addresses this vendor's
/// client may reach. Both off by default, as production vendors are public SaaS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkPolicy {
    /// Allow loopback addresses (127.0.0.0/8, ::1), as the sandbox in
    /// development and tests (default false).
    pub allow_loopback: bool,
    /// Allow private addresses (10/8, 172.16/12, 192.168/16, 100.64/10 shared,
    /// fc00::/7 unique local), e.g. an on-premises ERP (default false).
    pub allow_private: bool,
}

/// The kind of a non-public address, as named in refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// 127.0.0.0/8 or ::1.
    Loopback,
    /// RFC 1918, shared address space (RFC 6598) or IPv6 unique local.
    Private,
    /// 169.254.0.0/16 or fe80::/10; never allowed.
    LinkLocal,
    /// Unspecified, multicast, broadcast, documentation or reserved; never allowed.
    Reserved,
}

impl AddressClass {
    fn as_str(self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Reserved => "reserved",
        }
    }
}

/// A connection to `host` was refused because every address it names is
/// outside the vendor's [`NetworkPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbound address refused: {host} is {address} ({class}); {hint}")]
pub struct AddressRefused {
    /// The host name or literal as written in the URL.
    pub host: String,
    /// The first refused address.
    pub address: IpAddr,
    /// Its class.
    pub class: &'static str,
    /// What setting would allow it, if any.
    pub hint: &'static str,
}

/// The class of a non-public address, `None` for a public one. An
/// IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
pub fn classify(address: IpAddr) -> Option<AddressClass> {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some(AddressClass::Private)
    } else if ip.is_link_local() {
        Some(AddressClass::LinkLocal)
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
    {
        Some(AddressClass::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if ip.is_unique_local() {
        Some(AddressClass::Private)
    } else if ip.is_unicast_link_local() {
        Some(AddressClass::LinkLocal)
    } else if ip.is_unspecified()
        || ip.is_multicast()
        // 2001:db8::/32, documentation.
        || ip.segments()[..2] == [0x2001, 0x0db8]
        // ::/96 (IPv4-compatible, deprecated) and 64:ff9b::/96 (NAT64, reaches IPv4 inside).
        || ip.segments()[..6] == [0; 6]
        || ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        Some(AddressClass::Reserved)
    } else {
        None
    }
}

impl NetworkPolicy {
    /// Loopback allowed, private refused: development and tests.
    pub fn loopback() -> Self {
        Self {
            allow_loopback: true,
            allow_private: false,
        }
    }

    /// `Err` with the refusal when `address` may not be reached under this policy.
    pub fn check(&self, host: &str, address: IpAddr) -> Result<(), AddressRefused> {
        let refuse = |class: AddressClass, hint| {
            Err(AddressRefused {
                host: host.to_owned(),
                address,
                class: class.as_str(),
                hint,
            })
        };
        match classify(address) {
            None => Ok(()),
            Some(AddressClass::Loopback) if self.allow_loopback => Ok(()),
            Some(AddressClass::Private) if self.allow_private => Ok(()),
            Some(class @ AddressClass::Loopback) => {
                refuse(class, "set network.allow_loopback = true to allow it")
            }
            Some(class @ AddressClass::Private) => {
                refuse(class, "set network.allow_private = true to allow it")
            }
            Some(class) => refuse(class, "no setting allows it"),
        }
    }

    /// Keeps the addresses this policy allows; refuses when none is left.
    pub fn filter(
        &self,
        host: &str,
        addresses: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, AddressRefused> {
        let mut allowed = Vec::new();
        let mut first_refusal = None;
        for address in addresses {
            match self.check(host, address.ip()) {
                Ok(()) => allowed.push(address),
                Err(refused) => {
                    first_refusal.get_or_insert(refused);
                }
            }
        }
        match (allowed.is_empty(), first_refusal) {
            (true, Some(refused)) => Err(refused),
            _ => Ok(allowed),
        }
    }

    /// Refuses every `http(s)` URL in a vendor's section (at any depth) whose
    /// host is an IP literal this policy does not allow; reqwest connects to
    /// literals without asking the resolver, so they are checked here, once.
    /// Errors name the setting, e.g. `erp.netsuite.base_url`.
    pub fn check_section(&self, key: &str, section: &serde_json::Value) -> Result<(), ConfigError> {
        match section {
            serde_json::Value::Object(map) => map
                .iter()
                .try_for_each(|(name, value)| self.check_section(&format!("{key}.{name}"), value)),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, value)| self.check_section(&format!("{key}[{i}]"), value)),
            serde_json::Value::String(text) => self.check_url(key, text),
            _ => Ok(()),
        }
    }

    fn check_url(&self, key: &str, text: &str) -> Result<(), ConfigError> {
        let Ok(url) = url::Url::parse(text) else {
            return Ok(());
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Ok(());
        }
        let address = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        let host = url.host_str().unwrap_or_default();
        self.check(host, address)
            .map_err(|refused| ConfigError::invalid(key, refused.to_string()))
    }
}

/// Resolves names with the system resolver and keeps only the addresses the
/// [`NetworkPolicy`] allows, so the check holds at connect time (no window
/// between a check and a later, different answer: DNS rebinding).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: NetworkPolicy,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: NetworkPolicy) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port on the addresses it gets back.
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = policy.filter(&host, found)?;
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The refusal inside a transport error, if that is why it failed.
pub fn refusal<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a AddressRefused> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(refused) = err.downcast_ref::<AddressRefused>() {
            return Some(refused);
        }
        current = err.source();
    }
    None
}

/// A vendor client as [`crate::http_client::build_client`] builds it (bounded
/// timeouts, no redirects), resolving through a [`GuardedResolver`].
pub fn build_guarded_client(
    timeouts: &HttpTimeouts,
    policy: NetworkPolicy,
) -> Result<reqwest::Client, reqwest::Error> {
    client_builder(timeouts)
        .dns_resolver(Arc::new(GuardedResolver::new(policy)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn classifies_non_public_addresses_including_mapped_ones() {
        for (address, class) in [
            ("127.0.0.1", Some(AddressClass::Loopback)),
            ("::1", Some(AddressClass::Loopback)),
            ("::ffff:127.0.0.1", Some(AddressClass::Loopback)),
            ("10.1.2.3", Some(AddressClass::Private)),
            ("172.16.0.1", Some(AddressClass::Private)),
            ("192.168.1.1", Some(AddressClass::Private)),
            ("100.64.0.1", Some(AddressClass::Private)),
            ("::ffff:10.0.0.1", Some(AddressClass::Private)),
            ("fd00::1", Some(AddressClass::Private)),
            ("169.254.169.254", Some(AddressClass::LinkLocal)),
            ("::ffff:169.254.169.254", Some(AddressClass::LinkLocal)),
            ("fe80::1", Some(AddressClass::LinkLocal)),
            ("0.0.0.0", Some(AddressClass::Reserved)),
            ("::", Some(AddressClass::Reserved)),
            ("255.255.255.255", Some(AddressClass::Reserved)),
            ("224.0.0.1", Some(AddressClass::Reserved)),
            ("64:ff9b::a00:1", Some(AddressClass::Reserved)),
            ("8.8.8.8", None),
            ("100.128.0.1", None),
            ("2606:4700::1111", None),
        ] {
            assert_eq!(classify(ip(address)), class, "{address}");
        }
    }

    #[test]
    fn the_policy_allows_only_what_it_says() {
        let strict = NetworkPolicy::default();
        let err = strict
            .check("localhost", ip("127.0.0.1"))
            .expect_err("refused");
        assert!(err.to_string().contains("allow_loopback"), "{err}");
        assert!(
            NetworkPolicy::loopback()
                .check("h", ip("127.0.0.1"))
                .is_ok()
        );
        assert!(
            NetworkPolicy::loopback()
                .check("h", ip("10.0.0.1"))
                .is_err()
        );
        let everything = NetworkPolicy {
            allow_loopback: true,
            allow_private: true,
        };
        assert!(everything.check("h", ip("10.0.0.1")).is_ok());
        let metadata = everything
            .check("h", ip("169.254.169.254"))
            .expect_err("never");
        assert!(metadata.to_string().contains("no setting allows it"));
        // Mixed answers keep the public address only.
        let addrs = ["10.0.0.1:0", "93.184.216.34:0"].map(|a| a.parse().expect("addr"));
        let kept = strict.filter("h", addrs).expect("one public");
        assert_eq!(kept, vec!["93.184.216.34:0".parse().expect("addr")]);
    }

    #[test]
    fn literal_urls_in_a_section_are_checked_at_any_depth() {
        let strict = NetworkPolicy::default();
        let section = json!({
            "base_url": "https://api.example.com",
            "oauth": {"token_url": "http://[::ffff:169.254.169.254]/token"},
        });
        let err = strict
            .check_section("erp.x", &section)
            .expect_err("refused");
        assert!(err.to_string().contains("erp.x.oauth.token_url"), "{err}");
        assert!(
            strict
                .check_section("erp.x", &json!({"base_url": "http://8.8.8.8", "n": 3}))
                .is_ok()
        );
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        let refused = GuardedResolver::new(NetworkPolicy::default())
            .resolve("localhost".parse().expect("name"))
            .await
            .err()
            .expect("refused");
        assert!(refusal(refused.as_ref()).is_some(), "{refused}");
        let allowed = GuardedResolver::new(NetworkPolicy::loopback())
            .resolve("localhost".parse().expect("name"))
            .await
            .map(Iterator::count)
            .expect("allowed");
        assert!(allowed > 0);
    }
}
