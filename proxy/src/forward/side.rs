//! Which of a service's targets a general-path request goes to: the service's own, or, with a
//! canary (`canary.rs`), those of the side its client is on, with that side's counters and a
//! new client's cookie for the response.

use crate::canary::Canary;
use crate::replicas::Replicas;
use crate::router::Service;
use crate::stats::Stats;
use crate::upstream::Upstream;
use hyper::header::{HeaderMap, HeaderValue};
use std::sync::Arc;

/// Where one request goes.
pub struct Routed<'a> {
    pub target: &'a Arc<Upstream>,
    /// Its side's replicas (for taking an unreachable one out).
    pub replicas: Option<&'a Arc<Replicas>>,
    /// Its side may take requests.
    pub ready: bool,
    /// With a canary: the chosen side's counters.
    pub side: Option<Arc<Stats>>,
    /// A new client's cookie, for the response.
    pub set_cookie: Option<HeaderValue>,
}

/// Where a request for `service` goes: its targets, or (with a canary) the side its client
/// is on. A canary not healthy (yet) sends everyone to the stable side.
pub fn route<'s>(service: &'s Service, headers: &HeaderMap, tls: bool) -> Routed<'s> {
    let Some(c): Option<&Arc<Canary>> = service.canary.as_ref() else {
        return Routed {
            target: service.pick(),
            replicas: service.replicas.as_ref(),
            ready: service.is_ready(),
            side: None,
            set_cookie: None,
        };
    };
    let (to_canary, new_value) = c.choose(headers);
    let set_cookie = new_value.and_then(|v| c.set_cookie(&v, tls));
    if to_canary && c.is_ready() {
        return Routed {
            target: c.pick(),
            replicas: c.replicas.as_ref(),
            ready: true,
            side: Some(c.stats.clone()),
            set_cookie,
        };
    }
    Routed {
        target: service.pick(),
        replicas: service.replicas.as_ref(),
        ready: service.is_ready(),
        side: Some(c.stable_stats.clone()),
        set_cookie,
    }
}
