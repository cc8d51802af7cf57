//! An HTTP client under the egress policy: its resolver hands it only the addresses the policy
//! allows, its redirects are judged the same way, and no proxy from the environment is used (a
//! proxy would connect where the policy cannot see).

use std::net::SocketAddr;
use std::sync::Arc;

use super::policy::{EgressDenied, EgressPolicy};

impl EgressPolicy {
    /// `builder` with this policy applied to every connection and redirect its client makes, and
    /// no proxy from the environment (a proxy would connect where the policy cannot see).
    pub fn guard(&self, builder: reqwest13::ClientBuilder) -> reqwest13::ClientBuilder {
        self.guard_recording(builder).0
    }

    /// [`Self::guard`], and what the client refuses, for callers whose libraries turn the HTTP
    /// client's errors into text on the way (the MCP client does).
    pub fn guard_recording(
        &self,
        builder: reqwest13::ClientBuilder,
    ) -> (reqwest13::ClientBuilder, Refusals) {
        let refusals = Refusals::default();
        let redirects = self.clone();
        let redirect_refusals = refusals.clone();
        let builder = builder
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: self.clone(),
                refusals: refusals.clone(),
            }))
            .redirect(reqwest13::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                match redirects.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(denied) => {
                        redirect_refusals.record(&denied);
                        attempt.error(denied)
                    }
                }
            }));
        (builder, refusals)
    }
}

/// The last refusal a guarded client made.
#[derive(Clone, Debug, Default)]
pub struct Refusals(Arc<std::sync::Mutex<Option<EgressDenied>>>);

impl Refusals {
    fn record(&self, denied: &EgressDenied) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(denied.clone());
    }

    /// The last refusal, if the client made one.
    pub fn last(&self) -> Option<EgressDenied> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

const MAX_REDIRECTS: usize = 10;

/// The refusal in `error`'s chain of causes, if the policy is why it failed (a redirect or a
/// connection the guarded client refused).
pub fn denial_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a EgressDenied> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(denied) = error.downcast_ref::<EgressDenied>() {
            return Some(denied);
        }
        current = error.source();
    }
    None
}

/// The HTTP client's resolver under a policy: resolves a name with the system resolver, and
/// hands the client only the addresses the policy allows; when none is, the connection fails
/// with [`EgressDenied`].
struct GuardedResolver {
    policy: EgressPolicy,
    refusals: Refusals,
}

impl reqwest13::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest13::dns::Name) -> reqwest13::dns::Resolving {
        let policy = self.policy.clone();
        let refusals = self.refusals.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut first_refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match policy.check(&host, address.ip()) {
                    Ok(()) => true,
                    Err(denied) => {
                        first_refusal.get_or_insert(denied);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), first_refusal) {
                (true, Some(denied)) => {
                    refusals.record(&denied);
                    Err(Box::new(denied) as Box<dyn std::error::Error + Send + Sync>)
                }
                _ => Ok(Box::new(allowed.into_iter()) as reqwest13::dns::Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::egress::policy::Rule;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// The client itself, against real sockets: an allowed address answers; a redirect from it
    /// to loopback, and a name that resolves to loopback, are refused at connect time with the
    /// refusal findable in the error.
    #[tokio::test]
    async fn the_guarded_client_refuses_resolved_names_and_redirects() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .route("/ok", axum::routing::get(|| async { "fine" }))
            .route(
                "/away",
                axum::routing::get(move || async move {
                    axum::response::Redirect::temporary(&format!("http://127.0.0.1:{port}/ok"))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let policy = EgressPolicy::new(EgressPolicy::parse_ranges("127.0.0.2").unwrap(), vec![]);
        let (builder, refusals) = policy.guard_recording(reqwest13::Client::builder());
        let client = builder.build().unwrap();

        let answer = client
            .get(format!("http://127.0.0.2:{port}/ok"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.text().await.unwrap(), "fine");
        assert_eq!(refusals.last(), None);

        let redirected = client
            .get(format!("http://127.0.0.2:{port}/away"))
            .send()
            .await;
        let error = redirected.unwrap_err();
        let denied = denial_in(&error).expect("the redirect refused by the policy");
        assert_eq!(
            (denied.address, &denied.rule),
            (ip("127.0.0.1"), &Rule::Loopback)
        );
        assert_eq!(refusals.last().as_ref(), Some(denied));

        let named = client
            .get(format!("http://localhost:{port}/ok"))
            .send()
            .await;
        let error = named.unwrap_err();
        let denied = denial_in(&error).expect("the name's addresses refused by the policy");
        assert_eq!(denied.target, "localhost");
        assert!(denied.address.is_loopback());
    }
}
