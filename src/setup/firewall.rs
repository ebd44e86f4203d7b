//! `setup.firewall = true`: only SSH, 80 and 443 reach the host. An nftables table of dhow's
//! own (`inet dhow_firewall`) drops other inbound connections to the host and connections to
//! ports Docker published other than 80/443 (Docker's DNAT bypasses the input hook, so the
//! forward hook checks the original port); containers' own traffic is untouched.
//!
//! The SSH session in use is never cut off: established connections stay allowed, the port
//! sshd answers this session on is allowed along with 22, the rules are loaded atomically, and
//! a watchdog on the host removes them after 60 s unless dhow confirms them over a *new* SSH
//! connection. The table is persisted through /etc/nftables.conf's include.

use super::run_script;
use crate::host::remote::Exec;

/// How long the host waits for dhow's confirmation before removing the rules again.
pub const WATCHDOG_SECS: u32 = 60;

pub(super) const SCRIPT: &str = r#"SSH_PORT=$(echo "${SSH_CONNECTION:-}" | awk '{print $4}')
case "$SSH_PORT" in ''|*[!0-9]*) SSH_PORT=22 ;; esac
if ! command -v nft >/dev/null 2>&1; then apt_install nftables; echo "step=nftables installed"; fi
TMP="$WORK/firewall.nft"
cat >"$TMP" <<EOF
# Written by dhow setup (setup.firewall = true): only SSH, 80 and 443 reach this host.
table inet dhow_firewall
delete table inet dhow_firewall
table inet dhow_firewall {
  chain input {
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct state established,related accept
    ct state invalid drop
    meta l4proto { icmp, ipv6-icmp } accept
    iifname "docker0" accept
    iifname "br-*" accept
    tcp dport { 22, $SSH_PORT, WEB_PORTS } accept
  }
  chain forward {
    type filter hook forward priority -1; policy accept;
    ct state established,related accept
    iifname "docker0" accept
    iifname "br-*" accept
    ct status dnat meta l4proto tcp ct original proto-dst != { WEB_PORTS } drop
    ct status dnat meta l4proto != tcp drop
  }
}
EOF
if $SUDO cmp -s "$TMP" /etc/dhow/firewall.nft && $SUDO nft list table inet dhow_firewall >/dev/null 2>&1; then
  rm -f "$TMP"
  echo "step=firewall already on (SSH $SSH_PORT, WEB_PORTS open)"
  exit 0
fi
$SUDO nft -c -f "$TMP" >"$WORK/nft.log" 2>&1 || { sed 's/^/nft: /' "$WORK/nft.log"; rm -f "$TMP"; exit 20; }
$SUDO mkdir -p /etc/dhow
$SUDO cp "$TMP" /etc/dhow/firewall.nft
rm -f "$TMP"
$SUDO rm -f /run/dhow-firewall-ok
$SUDO nft -f /etc/dhow/firewall.nft || exit 21
$SUDO sh -c 'nohup sh -c "sleep WATCHDOG; [ -e /run/dhow-firewall-ok ] || nft delete table inet dhow_firewall" </dev/null >/dev/null 2>&1 &'
if [ -f /etc/nftables.conf ] && ! grep -q '/etc/dhow/firewall.nft' /etc/nftables.conf; then
  echo 'include "/etc/dhow/firewall.nft"' | $SUDO tee -a /etc/nftables.conf >/dev/null
fi
if [ -d /run/systemd/system ]; then $SUDO systemctl enable nftables >/dev/null 2>&1 || true; fi
echo "changed=1"
echo "step=firewall on: only SSH ($SSH_PORT) and WEB_PORTS open; other Docker-published ports closed"
"#;

/// What applying the firewall reported.
#[derive(Debug, Default)]
pub struct Applied {
    pub steps: Vec<String>,
    /// New rules were loaded: they need confirming over a new SSH connection.
    pub changed: bool,
}

/// Load the rules (the watchdog starts if they changed); `web_ports` are the ports the proxy
/// publishes (80 and 443 by default).
pub async fn apply(host: &str, shell: &dyn Exec, web_ports: &[u16]) -> anyhow::Result<Applied> {
    let ports: Vec<String> = web_ports.iter().map(u16::to_string).collect();
    let ports = if ports.is_empty() {
        "80, 443".to_string()
    } else {
        ports.join(", ")
    };
    let script = SCRIPT
        .replace("WATCHDOG", &WATCHDOG_SECS.to_string())
        .replace("WEB_PORTS", &ports);
    let out = run_script(host, shell, &script, "firewall", |code| match code {
        20 | 21 => Some(
            "firewall: nftables refused the rules (is this a container without NET_ADMIN, \
             or a kernel without nf_tables?); nothing was changed"
                .to_string(),
        ),
        _ => None,
    })
    .await?;
    Ok(Applied {
        steps: super::steps(&out),
        changed: out.lines().any(|l| l == "changed=1"),
    })
}

/// Run over a new SSH connection: keeps the rules (stops the watchdog from removing them).
pub const CONFIRM: &str = "if [ \"$(id -u)\" = 0 ]; then touch /run/dhow-firewall-ok; \
                           else sudo -n touch /run/dhow-firewall-ok; fi";

#[cfg(test)]
mod tests {
    #[test]
    fn the_script_is_valid_sh() {
        crate::setup::assert_valid_sh(&super::SCRIPT.replace("WEB_PORTS", "80, 443"));
    }
}
