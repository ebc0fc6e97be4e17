//! Busy workers per vhost, by the one busy rule ([`Rules::count`]), so the
//! vhost totals always add up to the pool's busy count.

use std::collections::HashMap;

use crate::scoreboard::{Counted, Loaded};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    /// ServerName:port as the scoreboard records it
    Vhost,
    /// The name without the port
    Host,
}

/// One vhost's (or host's) share of the busy workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VhostLoad {
    /// The name as the segment has it (raw bytes; empty for slots without
    /// one, e.g. `R`).
    pub name: Vec<u8>,
    pub busy: usize,
    /// Age of its oldest request in flight (µs).
    pub oldest: Option<i64>,
}

/// Busy workers of counted processes, grouped by vhost or host, in no
/// particular order.
pub fn busy_by_vhost(loaded: &Loaded, group_by: GroupBy) -> Vec<VhostLoad> {
    let rules = loaded.rules();
    let generation = loaded.scoreboard.global().running_generation;
    let mut groups: HashMap<&[u8], VhostLoad> = HashMap::new();
    for (p, w) in loaded.scoreboard.workers() {
        if !p.is_counted() || rules.count(w.status(), p.generation == generation) != Counted::Busy {
            continue;
        }
        let vhost = w.vhost();
        let key = match group_by {
            GroupBy::Vhost => vhost,
            GroupBy::Host => host_part(vhost).unwrap_or(vhost),
        };
        let g = groups.entry(key).or_default();
        g.busy += 1;
        g.oldest = g.oldest.max(w.request_age_us(loaded.now));
    }
    groups
        .into_iter()
        .map(|(name, g)| VhostLoad {
            name: name.to_vec(),
            ..g
        })
        .collect()
}

/// A vhost without its trailing `:port` (`None` when it has none, e.g. a
/// name cut at 31 bytes).
pub fn host_part(vhost: &[u8]) -> Option<&[u8]> {
    let colon = vhost.iter().rposition(|&b| b == b':')?;
    let port = &vhost[colon + 1..];
    (!port.is_empty() && port.iter().all(u8::is_ascii_digit)).then_some(&vhost[..colon])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_split() {
        assert_eq!(host_part(b"a.test:80"), Some(&b"a.test"[..]));
        assert_eq!(host_part(b"[::1]:8080"), Some(&b"[::1]"[..]));
        assert_eq!(host_part(b"very-long-virtual-host-name.exa"), None);
    }
}
