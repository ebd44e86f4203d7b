//! The typed steps a plan runs, per host and per role, derived from the plan alone (its
//! movement, delivery and routes). `--dry-run` renders this list (`describe.rs`) and the
//! executor walks it (`execute.rs`), so what is printed is what runs.

use super::plan::{Delivery, HostPlan, Movement, Plan, RolePlan};

/// A step on a host, before any role on any host switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostStep {
    /// Create the `dhow` network when missing, and start (or boot) the `dhow-proxy` container.
    EnsureNetworkAndProxy,
    /// Create the `dhow` network when missing (a host with no proxied role).
    EnsureNetwork,
    /// Bring the plan's image to the host, as the plan's [`Delivery`] says.
    Deliver,
}

/// A step of one role on one host, in the order they run there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RoleStep {
    /// Write the role's env file and start a new container from the plan's image (a running
    /// container of the same name is moved aside first: it is the one to replace).
    StartNew,
    /// Start the container the host kept for the plan's version (rollback).
    StartKept,
    /// Upload certificate files when the route has them, then let the proxy health-check the
    /// container and switch traffic to it (it drains the old one before answering).
    ProxySwitch,
    /// `deploy --canary`: let the proxy health-check the new containers and send them the
    /// canary's share of clients, beside the containers serving (which keep running).
    ProxyCanary,
    /// A role that is not proxied: wait until the container runs steadily.
    WaitSteady,
    /// Stop the container(s) that served before.
    StopPrevious,
    /// After every host switched: remove all but the newest `keep` stopped containers.
    Prune { keep: usize },
}

/// Everything that runs on one host.
#[derive(Debug, Clone)]
pub struct HostSteps<'p> {
    pub host: &'p HostPlan,
    /// Phase 0, on every host before anything switches.
    pub prepare: Vec<HostStep>,
    /// Per role, when its boot group comes (primary role first, then the others).
    pub roles: Vec<RoleSteps<'p>>,
}

/// Everything that runs for one role on one host.
#[derive(Debug, Clone)]
pub struct RoleSteps<'p> {
    pub role: &'p RolePlan,
    pub steps: Vec<RoleStep>,
}

impl RoleSteps<'_> {
    /// The steps of the boot phase (all but pruning, which waits for every host).
    pub fn boot(&self) -> impl Iterator<Item = RoleStep> + '_ {
        self.steps
            .iter()
            .copied()
            .filter(|s| !matches!(s, RoleStep::Prune { .. }))
    }

    /// How many stopped containers pruning keeps, when the role is pruned.
    pub fn prune_keep(&self) -> Option<usize> {
        self.steps.iter().find_map(|s| match s {
            RoleStep::Prune { keep } => Some(*keep),
            _ => None,
        })
    }
}

/// A host step or a role step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Host(HostStep),
    Role(RoleStep),
}

/// A step where it runs: the executor's journal and the dry run's lines are lists of these.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct At {
    pub host: String,
    /// `None` for host steps.
    pub role: Option<String>,
    pub step: Step,
}

impl At {
    pub fn host(host: &HostPlan, step: HostStep) -> At {
        At {
            host: host.host.clone(),
            role: None,
            step: Step::Host(step),
        }
    }

    pub fn role(host: &HostPlan, role: &RolePlan, step: RoleStep) -> At {
        At {
            host: host.host.clone(),
            role: Some(role.role.clone()),
            step: Step::Role(step),
        }
    }
}

/// Every step of `steps` in plan order (host steps, then each role's).
#[cfg(test)]
pub fn flatten(steps: &[HostSteps<'_>]) -> Vec<At> {
    let mut all = Vec::new();
    for h in steps {
        all.extend(h.prepare.iter().map(|s| At::host(h.host, *s)));
        for r in &h.roles {
            all.extend(r.steps.iter().map(|s| At::role(h.host, r.role, *s)));
        }
    }
    all
}

impl Plan {
    /// Every host's steps, in plan order.
    pub fn steps(&self) -> Vec<HostSteps<'_>> {
        self.hosts
            .iter()
            .map(|host| HostSteps {
                host,
                prepare: self.host_steps(host),
                roles: host
                    .roles
                    .iter()
                    .map(|role| RoleSteps {
                        role,
                        steps: self.role_steps(role),
                    })
                    .collect(),
            })
            .collect()
    }

    fn host_steps(&self, host: &HostPlan) -> Vec<HostStep> {
        let mut steps = Vec::new();
        if self.movement == Movement::Deploy {
            steps.push(if host.needs_proxy() {
                HostStep::EnsureNetworkAndProxy
            } else {
                HostStep::EnsureNetwork
            });
        }
        if !matches!(self.delivery, Delivery::Nothing) {
            steps.push(HostStep::Deliver);
        }
        steps
    }

    fn role_steps(&self, role: &RolePlan) -> Vec<RoleStep> {
        if self.canary.is_some() {
            return vec![RoleStep::StartNew, RoleStep::ProxyCanary];
        }
        let start = match (self.movement, &role.route) {
            (Movement::Deploy | Movement::Redeploy, _) => RoleStep::StartNew,
            (Movement::Rollback, _) | (Movement::Finish, Some(_)) => RoleStep::StartKept,
            (Movement::Finish, None) => RoleStep::StartNew,
        };
        let gate = match role.route {
            Some(_) => RoleStep::ProxySwitch,
            None => RoleStep::WaitSteady,
        };
        vec![
            start,
            gate,
            RoleStep::StopPrevious,
            RoleStep::Prune { keep: self.retain },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::settings::tests::sample;

    fn prepare_of(plan: &Plan) -> Vec<Vec<HostStep>> {
        plan.steps().into_iter().map(|h| h.prepare).collect()
    }

    #[test]
    fn each_movement_prepares_what_it_needs() {
        use HostStep::*;
        let deploy = sample().plan("v1", Movement::Deploy, false);
        assert_eq!(
            prepare_of(&deploy),
            [
                vec![EnsureNetworkAndProxy, Deliver],
                vec![EnsureNetworkAndProxy, Deliver]
            ]
        );
        let redeploy = sample().plan("v1", Movement::Redeploy, false);
        assert_eq!(prepare_of(&redeploy), [vec![Deliver], vec![Deliver]]);
        let rollback = sample().plan("v1", Movement::Rollback, false);
        assert_eq!(
            prepare_of(&rollback),
            [vec![], vec![]] as [Vec<HostStep>; 2]
        );
    }

    #[test]
    fn a_host_without_proxied_roles_only_gets_the_network() {
        let mut settings = sample();
        settings.roles.retain(|r| r.name == "worker");
        let plan = settings.plan("v1", Movement::Deploy, false);
        assert_eq!(
            prepare_of(&plan),
            [vec![HostStep::EnsureNetwork, HostStep::Deliver]]
        );
    }

    #[test]
    fn roles_start_new_or_kept_and_gate_by_route() {
        use RoleStep::*;
        let steps = |m| {
            let plan = sample().plan("v1", m, false);
            let h2 = &plan.steps()[1];
            h2.roles.iter().map(|r| r.steps.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            steps(Movement::Deploy),
            [
                vec![StartNew, ProxySwitch, StopPrevious, Prune { keep: 5 }],
                vec![StartNew, WaitSteady, StopPrevious, Prune { keep: 5 }],
            ]
        );
        assert_eq!(steps(Movement::Redeploy), steps(Movement::Deploy));
        assert_eq!(
            steps(Movement::Rollback),
            [
                vec![StartKept, ProxySwitch, StopPrevious, Prune { keep: 5 }],
                vec![StartKept, WaitSteady, StopPrevious, Prune { keep: 5 }],
            ]
        );
    }
}
