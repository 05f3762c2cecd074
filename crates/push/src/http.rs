//! Webhook deliveries over HTTP: a POST with a 10 s deadline, redirects
//! not followed, and (unless private targets are allowed) every address a
//! host name resolves to checked at connection time, so a name that
//! changes to a private address after the check is still refused.

use crate::target::is_private;
use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::{net::SocketAddr, sync::Arc};
use vigil_domain::{ports::WebhookSender, Delivery};

#[derive(Debug, Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    allow_private: bool,
}

/// Resolves with the system resolver, dropping private addresses.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

impl HttpSender {
    pub fn new(allow_private: bool) -> Result<Self, String> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Delivery::TIMEOUT)
            .user_agent(concat!("Vigil-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            b = b.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: b.build().map_err(|e| e.to_string())?,
            allow_private,
        })
    }

    /// The URL's host: an address literal is checked here (it is never
    /// resolved), a name by resolving it.
    async fn host_is_public(url: &reqwest::Url) -> Result<(), String> {
        let host = url.host().ok_or("the URL has no host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let ips: Vec<std::net::IpAddr> = match host {
            url::Host::Ipv4(ip) => vec![ip.into()],
            url::Host::Ipv6(ip) => vec![ip.into()],
            url::Host::Domain(d) => tokio::net::lookup_host((d, port))
                .await
                .map_err(|e| format!("cannot resolve {d}: {e}"))?
                .map(|a| a.ip())
                .collect(),
        };
        if ips.is_empty() {
            return Err(format!("{host} resolves to no address"));
        }
        match ips.iter().find(|ip| is_private(**ip)) {
            Some(ip) => Err(format!(
                "{host} is a loopback, private or link-local address ({ip}); set WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl WebhookSender for HttpSender {
    async fn check(&self, raw: &str) -> Result<(), String> {
        if !(raw.starts_with("http://") || raw.starts_with("https://")) {
            return Err("only http and https URLs are allowed".into());
        }
        // Any target is allowed: nothing to look up (a URL the client
        // can't parse fails at delivery, as an attempt's error).
        if self.allow_private {
            return Ok(());
        }
        let url = reqwest::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        Self::host_is_public(&url).await
    }

    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> Result<u16, String> {
        let mut req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        match req.send().await {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) if e.is_timeout() => Err(format!(
                "no answer within {} s",
                Delivery::TIMEOUT.as_secs()
            )),
            Err(e) if e.is_connect() => Err(format!("cannot connect: {}", source_of(&e))),
            Err(e) => Err(source_of(&e)),
        }
    }
}

/// The innermost cause, which says what went wrong (reqwest's own text
/// only says "error sending request").
fn source_of(e: &dyn std::error::Error) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    inner.to_string()
}
