//! `--dry-run`'s text: the plan's header (what moves, how the image travels, the lock and the
//! boot order) and then, per host and role, one rendering of each step of [`Plan::steps`], the
//! list the executor walks. Secret values never appear: only their names.

use super::plan::{Delivery, Movement, Plan, RolePlan};
use super::steps::{At, HostStep, RoleStep, Step};

/// One printed line and the steps it renders (none for headings).
#[derive(Debug, Clone)]
pub struct Line {
    pub steps: Vec<At>,
    pub text: String,
}

impl Line {
    fn plain(text: String) -> Line {
        Line {
            steps: Vec::new(),
            text,
        }
    }
}

impl Plan {
    /// Human description for `--dry-run`: exactly the steps execution runs.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for line in self.lines() {
            s.push_str(&line.text);
            s.push('\n');
        }
        s
    }

    /// The dry run as data (`--dry-run --json`): what moves, how the image travels, and per
    /// host its preparing steps and each role's steps, in execution order; `text` is the human
    /// rendering.
    pub fn describe_json(&self) -> serde_json::Value {
        let hosts: Vec<serde_json::Value> = self
            .steps()
            .iter()
            .map(|host| {
                let roles: Vec<serde_json::Value> = host
                    .roles
                    .iter()
                    .map(|role| {
                        let mut lines = Vec::new();
                        for step in &role.steps {
                            let at = At::role(host.host, role.role, *step);
                            self.render_role_step(role.role, at, &mut lines);
                        }
                        let mut j = serde_json::json!({
                            "role": role.role.role,
                            "primary": role.role.primary,
                            "container": role.role.container.name,
                            "steps": lines.iter().map(|l| l.text.trim()).collect::<Vec<_>>(),
                        });
                        if !role.role.tags.is_empty() {
                            j["tags"] = serde_json::json!(role.role.tags);
                        }
                        if role.role.replicas > 1 {
                            j["replicas"] = serde_json::json!(role.role.replicas);
                        }
                        j
                    })
                    .collect();
                serde_json::json!({
                    "host": host.host.host,
                    "prepare": host
                        .prepare
                        .iter()
                        .map(|s| self.host_step_line(*s).trim().to_string())
                        .collect::<Vec<_>>(),
                    "roles": roles,
                })
            })
            .collect();
        serde_json::json!({
            "movement": format!("{:?}", self.movement).to_lowercase(),
            "service": self.service,
            "version": self.version,
            "image": self.image_ref,
            "destination": self.destination,
            "delivery": self.header().get(1).map(|l| l.trim().to_string()),
            "hosts": hosts,
            "text": self.describe(),
        })
    }

    /// The dry run's lines, each tagged with the steps of [`Plan::steps`] it renders.
    pub fn lines(&self) -> Vec<Line> {
        let mut lines: Vec<Line> = self.header().into_iter().map(Line::plain).collect();
        for host in self.steps() {
            lines.push(Line::plain(format!("{}:", host.host.host)));
            lines.extend(host.prepare.iter().map(|s| Line {
                steps: vec![At::host(host.host, *s)],
                text: self.host_step_line(*s),
            }));
            for role in &host.roles {
                for step in &role.steps {
                    let at = At::role(host.host, role.role, *step);
                    self.render_role_step(role.role, at, &mut lines);
                }
            }
        }
        lines
    }

    fn header(&self) -> Vec<String> {
        let dest = self
            .destination
            .as_deref()
            .map(|d| format!(" to {d}"))
            .unwrap_or_default();
        let (service, version, image) = (&self.service, &self.version, &self.image_ref);
        let title = match self.movement {
            Movement::Deploy if self.canary.is_some() => {
                let p = self.canary.as_ref().map_or(0.0, |c| c.percent);
                format!("Canary of {service} version {version}{dest} for {p}% of clients ({image})")
            }
            Movement::Finish => {
                format!("Finish the canary: all of {service}{dest} on version {version} ({image})")
            }
            Movement::Deploy => format!("Deploy {service} version {version}{dest} ({image})"),
            Movement::Redeploy => format!("Redeploy {service} version {version}{dest} ({image})"),
            Movement::Rollback => {
                let on = self.destination.as_deref().map(|d| format!(" on {d}"));
                let on = on.unwrap_or_default();
                format!("Roll back {service}{on} to version {version} ({image})")
            }
        };
        let image_line = match (&self.delivery, self.build) {
            (Delivery::Registry(r), true) => format!(
                "  build locally, push to {} as {}; hosts pull",
                r.server, r.username
            ),
            (Delivery::Registry(r), false) => format!(
                "  no build (--skip-push): hosts pull the image from {} as {}",
                r.server, r.username
            ),
            (Delivery::Layers, _) => {
                "  build locally, send each host the layers it lacks over SSH".into()
            }
            (Delivery::Ssh, _) => "  build locally, stream the image to each host over SSH".into(),
            (Delivery::OnHosts, _) => {
                "  no build (--skip-push): every host must have the image already".into()
            }
            (Delivery::Nothing, _) => format!(
                "  nothing built or delivered: each host starts the container it kept for {version}"
            ),
        };
        let boot = if self.boot_limit >= self.hosts.len() {
            "all hosts at once".to_string()
        } else {
            format!("{} host(s) at a time", self.boot_limit)
        };
        let wait = if self.boot_wait.is_zero() {
            String::new()
        } else {
            format!(", waiting {}s between groups", self.boot_wait.as_secs())
        };
        let lock = format!(
            "  lock {} on {}; boot {boot}{wait}",
            self.lock_key, self.primary_host
        );
        vec![title, image_line, lock]
    }

    fn host_step_line(&self, step: HostStep) -> String {
        let image = &self.image_ref;
        match step {
            HostStep::EnsureNetworkAndProxy => {
                "  ensure network dhow and the dhow-proxy container".into()
            }
            HostStep::EnsureNetwork => "  ensure network dhow".into(),
            HostStep::Deliver => match &self.delivery {
                Delivery::Registry(r) => format!("  pull {image} from {}", r.server),
                Delivery::Layers => {
                    format!("  receive the layers of {image} the host lacks over SSH")
                }
                Delivery::Ssh => {
                    format!("  receive {image} over SSH (not sent again when the host has it)")
                }
                Delivery::OnHosts => format!("  check that {image} is on the host"),
                Delivery::Nothing => "  nothing to deliver".into(),
            },
        }
    }

    fn render_role_step(&self, role: &RolePlan, at: At, lines: &mut Vec<Line>) {
        let Step::Role(step) = at.step else {
            return;
        };
        let mut text = Vec::new();
        let c = &role.container;
        let label = format!(
            "  {}{}",
            role.role,
            if role.primary { " (primary)" } else { "" }
        );
        match step {
            RoleStep::StartNew => {
                match role.replicas {
                    n if n > 1 => text.push(format!(
                        "{label}: start {n} replicas {}, {}-r2..-r{n} from {}",
                        c.name, c.name, c.image
                    )),
                    _ => text.push(format!("{label}: start {} from {}", c.name, c.image)),
                }
                if let Some(cmd) = &c.cmd {
                    text.push(format!("    cmd: {}", shell_words::join(cmd)));
                }
                if !role.tags.is_empty() {
                    text.push(format!("    tags: {}", role.tags.join(", ")));
                }
                // A variable a host tag set says so: the per-host difference.
                let name = |k: &str, secret: bool| {
                    let tag = role.env_from_tags.get(k).map(|t| format!("tag {t}"));
                    let notes: Vec<String> = [secret.then(|| "secret".to_string()), tag]
                        .into_iter()
                        .flatten()
                        .collect();
                    if notes.is_empty() {
                        k.to_string()
                    } else {
                        format!("{k} ({})", notes.join(", "))
                    }
                };
                let mut env: Vec<String> = c.env.iter().map(|(k, _)| name(k, false)).collect();
                env.extend(c.secret_env.iter().map(|(k, _)| name(k, true)));
                if !env.is_empty() {
                    text.push(format!("    env: {}", env.join(", ")));
                }
            }
            RoleStep::StartKept => text.push(format!(
                "{label}: start the kept container {} (as it was deployed)",
                c.name
            )),
            RoleStep::ProxySwitch => self.render_switch(role, &mut text),
            RoleStep::ProxyCanary => {
                let p = self.canary.as_ref().map_or(0.0, |c| c.percent);
                text.push(format!(
                    "    proxy health-checks it, then sends it {p}% of clients (sticky by cookie); \
                     the current containers keep the rest and keep running"
                ));
                if let Some(b) = &self.bake {
                    text.push(format!(
                        "    for the {} bake window the proxy aborts it by itself past {}% 5xx",
                        short(b.window),
                        b.max_error_rate * 100.0
                    ));
                }
            }
            RoleStep::WaitSteady => {
                text.push("    not proxied: wait until it runs steadily".into())
            }
            RoleStep::StopPrevious => match (&self.bake, &role.route) {
                (Some(b), Some(_)) => text.push(format!(
                    "    then the previous {} container runs on, unrouted, for the {} bake \
                     window; the proxy switches back by itself past {}% 5xx{}, else it stops",
                    role.prefix,
                    short(b.window),
                    b.max_error_rate * 100.0,
                    b.max_p99
                        .map_or(String::new(), |p| format!(" or a p99 over {}", short(p))),
                )),
                _ => text.push(format!(
                    "    then stop the previous {} container",
                    role.prefix
                )),
            },
            RoleStep::Prune { keep } => {
                // Said on the line of the stop: the stopped container is among those kept.
                let keep = format!(", keep {keep} old ones");
                match lines.last_mut() {
                    Some(last) if last.text.starts_with("    then stop") => {
                        last.text.push_str(&keep);
                        last.steps.push(at);
                        return;
                    }
                    _ => text.push(format!("    then{keep}")),
                }
            }
        }
        // The step is named on its first line; the others detail it.
        let mut at = Some(at);
        lines.extend(text.into_iter().map(|text| Line {
            steps: at.take().into_iter().collect(),
            text,
        }));
    }

    fn render_switch(&self, role: &RolePlan, lines: &mut Vec<String>) {
        let Some(r) = &role.route else {
            return;
        };
        lines.push(format!(
            "    proxy: health-check {}{}:{}{} then switch {} traffic{}; drain up to {}s",
            if role.replicas > 1 {
                "each replica of "
            } else {
                ""
            },
            role.container.name,
            r.app_port,
            r.health.path,
            if r.hosts.is_empty() {
                "all".to_string()
            } else {
                r.hosts.join(", ")
            },
            match (&r.path_prefix, &r.traffic.path_prefixes[..]) {
                (Some(p), _) => format!(" under {p}"),
                (None, []) => String::new(),
                (None, several) => format!(" under {}", several.join(", ")),
            },
            self.drain_timeout.as_secs()
        ));
        if let Some(l) = &r.traffic.rate_limit {
            let burst = if l.burst == 0 { l.requests } else { l.burst };
            lines.push(format!(
                "    rate limit: {} requests per {} ms per client ({}), bursts of {burst}",
                l.requests, l.per_ms, l.by
            ));
        }
        if let Some(c) = &r.traffic.canonical_host {
            lines.push(format!("    redirect the other hosts to {c}"));
        }
        if !r.traffic.error_pages.is_empty() {
            let names: Vec<&str> = r.traffic.error_pages.keys().map(String::as_str).collect();
            lines.push(format!("    error pages: {}", names.join(", ")));
        }
        if r.tls.is_some() {
            lines.push("    https: the certificate files from proxy.ssl_certificate".into());
        } else if r.acme {
            lines.push(format!(
                "    https: the proxy obtains and renews certificates for {} (ACME)",
                r.hosts.join(", ")
            ));
        }
    }
}

/// `2m`, `90s`, `250ms`: a duration as a config would write it.
fn short(d: std::time::Duration) -> String {
    match (d.as_millis(), d.as_secs()) {
        (ms, _) if ms % 1000 != 0 => format!("{ms}ms"),
        (_, s) if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        (_, s) => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use crate::deploy::plan::Movement;
    use crate::deploy::settings::tests::sample;

    #[test]
    fn deploy_text_renders_every_step_per_host() {
        let text = sample().plan("v1", Movement::Deploy, false).describe();
        let expected = "\
Deploy demo version v1 to staging (dhow/demo:v1)
  build locally, send each host the layers it lacks over SSH
  lock demo-staging on h1; boot all hosts at once
h1:
  ensure network dhow and the dhow-proxy container
  receive the layers of dhow/demo:v1 the host lacks over SSH
  web (primary): start demo-web-staging-v1 from dhow/demo:v1
    env: A, TOKEN (secret)
    proxy: health-check demo-web-staging-v1:3000/up then switch demo.test traffic; drain up to 30s
    then stop the previous demo-web-staging container, keep 5 old ones
h2:
  ensure network dhow and the dhow-proxy container
  receive the layers of dhow/demo:v1 the host lacks over SSH
  web (primary): start demo-web-staging-v1 from dhow/demo:v1
    env: A, TOKEN (secret)
    proxy: health-check demo-web-staging-v1:3000/up then switch demo.test traffic; drain up to 30s
    then stop the previous demo-web-staging container, keep 5 old ones
  worker: start demo-worker-staging-v1 from dhow/demo:v1
    env: A, TOKEN (secret)
    not proxied: wait until it runs steadily
    then stop the previous demo-worker-staging container, keep 5 old ones
";
        assert_eq!(text, expected);
    }

    #[test]
    fn redeploy_and_rollback_print_only_what_they_run() {
        let redeploy = sample().plan("v1", Movement::Redeploy, true).describe();
        assert!(
            redeploy.starts_with("Redeploy demo version v1"),
            "{redeploy}"
        );
        assert!(!redeploy.contains("ensure network"), "{redeploy}");
        assert!(!redeploy.contains("build locally"), "{redeploy}");
        assert!(
            redeploy.contains("check that dhow/demo:v1 is on the host"),
            "{redeploy}"
        );
        let rollback = sample().plan("v1", Movement::Rollback, false).describe();
        assert!(
            rollback.starts_with("Roll back demo on staging to version v1"),
            "{rollback}"
        );
        assert!(!rollback.contains("ensure network"), "{rollback}");
        assert!(!rollback.contains("env:"), "{rollback}");
        assert!(
            rollback.contains("start the kept container demo-web-staging-v1"),
            "{rollback}"
        );
    }
}
