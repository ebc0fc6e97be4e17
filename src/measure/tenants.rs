//! Tenants (issue 13): the busy workers grouped by vhost, host, the user
//! that serves them or environment, with each group's limit and its
//! availability (AVAIL, as the peruser MPM showed it), measured once for
//! `check_vhost_saturation` and `dump --group-by`.
//!
//! A group's `active` workers are busy by mod_status's rule
//! ([`crate::scoreboard::Rules::count`]), so the groups add up to the
//! pool's busy count. What counts against a limit is what mpm-itk counts
//! when it enforces `MaxClientsVHost` ([`counts_against_limit`]), so AVAIL
//! reaches 0% exactly when mpm-itk starts answering 503.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::httpd::conf::Parsed;
use crate::httpd::VirtualHost;
use crate::scoreboard::{status, Counted, Loaded, Mpm, Worker};

use super::environments::{self, environment_of, Environment};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    /// ServerName:port as the scoreboard records it
    Vhost,
    /// The name without the port
    Host,
    /// The user that serves the request (live only; under mpm-itk the
    /// user of the child serving the connection)
    User,
    /// --environments FILE, else one per AssignUserID user of the running
    /// httpd (mpm-itk); a vhost in none is a group of its own
    Environment,
}

/// What groups the workers and limits them.
#[derive(Clone, Debug)]
pub struct Request {
    pub by: GroupBy,
    /// `--environments FILE`.
    pub environments: Option<PathBuf>,
    /// `--limit NAME=N`, in the order given (a later one for the same name
    /// wins).
    pub limits: Vec<(String, usize)>,
}

/// Where a group's limit comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitSource {
    /// `--limit NAME=N`.
    CommandLine,
    /// `limit=N` in the environments file.
    EnvironmentsFile,
    /// mpm-itk's `MaxClientsVHost` of one vhost, from the running httpd's
    /// configuration.
    MaxClientsVHost,
}

/// A limit and the workers counted against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max: usize,
    /// Workers counted against it ([`counts_against_limit`]).
    pub held: usize,
    /// The vhost it applies to (`MaxClientsVHost`); `None`: the group's
    /// total.
    pub vhost: Option<Vec<u8>>,
    pub source: LimitSource,
}

impl Limit {
    pub fn avail_pct(&self) -> f64 {
        avail_pct(self.max, self.held)
    }
}

/// 100 × (limit − held) / limit: 100% with nothing held, 0% at the limit
/// and beyond it (and for a limit of 0, which never admits a request).
pub fn avail_pct(max: usize, held: usize) -> f64 {
    if max == 0 || held >= max {
        0.0
    } else {
        100.0 * (max - held) as f64 / max as f64
    }
}

/// One group's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    /// The vhost (raw bytes as the segment has them; empty for slots
    /// without one, e.g. `R`), host, user or environment name.
    pub name: Vec<u8>,
    /// Busy workers by mod_status's rule.
    pub active: usize,
    /// Idle workers, where they belong to a group: by user, on an MPM whose
    /// idle workers run as their process's user (not mpm-itk, where an idle
    /// slot's process runs as httpd's `User` and only a busy slot's
    /// per-connection child runs as the tenant).
    pub idle: Option<usize>,
    /// Age of its oldest request in flight (µs).
    pub oldest: Option<i64>,
    /// The limit that leaves it the least room (lowest AVAIL): its total's
    /// or, under mpm-itk, its worst vhost's.
    pub limit: Option<Limit>,
}

impl Group {
    /// AVAIL: `None` for a group without a limit.
    pub fn avail_pct(&self) -> Option<f64> {
        self.limit.as_ref().map(Limit::avail_pct)
    }
}

/// Whether a slot counts against a limit as mpm-itk counts it when it
/// enforces `MaxClientsVHost` (mpm-itk by Steinar H. Gunderson,
/// <http://mpm-itk.sesse.net/>, `mpm_itk.c` `itk_post_perdir_config`, seen
/// in the mirror github.com/Gregy/apache2-mpm-itk at 26242a9, lines
/// 281-303): for every process slot `i` below ServerLimit, worker `[i][0]`
/// whose `status >= SERVER_BUSY_READ` (so `K`, `C`, `G` and `I` too) and
/// whose vhost equals `ServerName:port` as `strcmp` compares them. No pid,
/// generation or quiescing is looked at. mpm-itk runs on prefork only,
/// where thread 0 is every slot; on a threaded MPM, where no mpm-itk counts,
/// the same test applies to every worker (a `--limit` on event).
pub fn counts_against_limit(w: &Worker<'_>, mpm: Mpm) -> bool {
    (mpm != Mpm::Prefork || w.thread_slot == 0) && w.status() >= status::BUSY_READ
}

/// What the grouping needs besides the segment: the environments, the
/// limits, and the serving user of each process (by user).
#[derive(Clone, Debug, Default)]
pub struct Tenancy {
    pub environments: Vec<Environment>,
    /// `--limit` and the environments file's limits, by group name.
    pub limits: HashMap<Vec<u8>, (usize, LimitSource)>,
    /// `MaxClientsVHost` by vhost as the scoreboard records it.
    pub vhost_limits: Vec<(Vec<u8>, usize)>,
    /// The serving user's name by pid (by user).
    pub users: HashMap<i32, String>,
    /// Whether idle workers belong to their process's user.
    pub idle_by_user: bool,
}

impl Tenancy {
    /// The environments file (read with the caller's rights), else the
    /// running httpd's AssignUserID users; `MaxClientsVHost` of the running
    /// mpm-itk; the serving users for `user`. An error is the one UNKNOWN
    /// line.
    pub fn resolve(loaded: &Loaded, request: &Request) -> Result<Tenancy, String> {
        // mpm-itk (MaxClientsVHost, AssignUserID) is a prefork MPM: a
        // threaded segment's server has neither, and its configuration is
        // read only for environments it must make up without a file.
        let itk_possible = loaded.mpm_guess() == Mpm::Prefork;
        let wants_conf =
            itk_possible || (request.by == GroupBy::Environment && request.environments.is_none());
        let server = wants_conf.then(|| super::running_httpd(loaded)).flatten();
        let conf = server
            .as_ref()
            .and_then(|s| s.as_ref().as_ref().ok())
            .map(|c| &c.conf);
        if request.environments.is_some() && request.by != GroupBy::Environment {
            return Err("--environments applies to --group-by environment only".into());
        }
        let width = vhost_width(loaded);
        let mut t = Tenancy::default();
        if let Some(conf) = conf.filter(|c| c.itk) {
            t.vhost_limits = conf
                .vhosts
                .iter()
                .filter_map(|v| Some((vhost_string(conf, v, width)?, limit_of(v)?)))
                .collect();
        }
        match (request.by, &request.environments, conf) {
            (GroupBy::Environment, Some(file), _) => t.environments = environments::load(file)?,
            (GroupBy::Environment, None, Some(conf)) => {
                t.environments = assigned_environments(conf, width);
            }
            (GroupBy::Environment, None, None) => {
                return Err(format!(
                    "--group-by environment needs --environments FILE: {} has no running \
                     httpd whose AssignUserID users would make the environments",
                    loaded.shown
                ))
            }
            (GroupBy::User, _, _) => {
                if !is_live(loaded) {
                    return Err(format!(
                        "--group-by user needs a live server: {} is a snapshot or no \
                         running httpd names it",
                        loaded.shown
                    ));
                }
                t.users = serving_users(loaded);
                t.idle_by_user = match conf {
                    Some(conf) => !conf.itk,
                    None => loaded.mpm_guess() != Mpm::Prefork,
                };
            }
            _ => {}
        }
        for e in &t.environments {
            if let Some(n) = e.limit {
                t.limits.insert(
                    e.name.as_bytes().to_vec(),
                    (n, LimitSource::EnvironmentsFile),
                );
            }
        }
        for (name, n) in &request.limits {
            t.limits
                .insert(name.as_bytes().to_vec(), (*n, LimitSource::CommandLine));
        }
        Ok(t)
    }
}

/// The groups, in no particular order: every group a busy worker belongs
/// to, and every one a limit or an environment names (idle ones too).
pub fn measure(loaded: &Loaded, by: GroupBy, t: &Tenancy) -> Vec<Group> {
    let rules = loaded.rules();
    let mpm = loaded.mpm_guess();
    let generation = loaded.scoreboard.global().running_generation;
    // Keys borrow from the segment or the tenancy: no allocation per slot;
    // a vhost's environment is looked up once (a hoster's file may have
    // thousands of patterns).
    let mut environments: HashMap<&[u8], Option<&[u8]>> = HashMap::new();
    let mut key = |vhost, pid| match by {
        GroupBy::Environment => *environments
            .entry(vhost)
            .or_insert_with(|| group_key(by, t, vhost, pid)),
        _ => group_key(by, t, vhost, pid),
    };
    // Counted against a limit only where there is one.
    let (by_vhost, by_group) = (!t.vhost_limits.is_empty(), !t.limits.is_empty());
    let mut groups: HashMap<&[u8], Group> = HashMap::new();
    let mut held_by_group: HashMap<&[u8], usize> = HashMap::new();
    let mut held_by_vhost: HashMap<&[u8], usize> = HashMap::new();
    for (p, w) in loaded.scoreboard.workers() {
        let vhost = w.vhost();
        let counted = if p.is_counted() {
            rules.count(w.status(), p.generation == generation)
        } else {
            Counted::Neither
        };
        let against_limit = (by_vhost || by_group) && counts_against_limit(&w, mpm);
        if against_limit && by_vhost {
            *held_by_vhost.entry(vhost).or_default() += 1;
        }
        let grouped = counted == Counted::Busy || (counted == Counted::Idle && t.idle_by_user);
        if !(grouped || against_limit && by_group) {
            continue;
        }
        let Some(k) = key(vhost, w.pid()) else {
            continue;
        };
        if against_limit && by_group {
            *held_by_group.entry(k).or_default() += 1;
        }
        if !grouped {
            continue;
        }
        let g = groups.entry(k).or_default();
        if counted == Counted::Busy {
            g.active += 1;
            g.oldest = g.oldest.max(w.request_age_us(loaded.now));
        } else {
            *g.idle.get_or_insert(0) += 1;
        }
    }
    let vhost_groups: Vec<(&[u8], &[u8], usize)> = match by {
        GroupBy::User => Vec::new(),
        _ => t
            .vhost_limits
            .iter()
            .filter_map(|(v, max)| Some((key(v, 0)?, v.as_slice(), *max)))
            .collect(),
    };
    // Groups a limit or an environment names, busy or not.
    let named = t
        .limits
        .keys()
        .map(Vec::as_slice)
        .chain(t.environments.iter().map(|e| e.name.as_bytes()))
        .chain(vhost_groups.iter().map(|&(k, _, _)| k));
    for k in named {
        groups.entry(k).or_default();
    }
    groups
        .into_iter()
        .map(|(name, mut g)| {
            let total = t.limits.get(name).map(|&(max, source)| Limit {
                max,
                held: held_by_group.get(name).copied().unwrap_or(0),
                vhost: None,
                source,
            });
            let per_vhost =
                vhost_groups
                    .iter()
                    .filter(|&&(k, _, _)| k == name)
                    .map(|&(_, v, max)| Limit {
                        max,
                        held: held_by_vhost.get(v).copied().unwrap_or(0),
                        vhost: Some(v.to_vec()),
                        source: LimitSource::MaxClientsVHost,
                    });
            g.limit = total.into_iter().chain(per_vhost).reduce(|worst, l| {
                if l.avail_pct() < worst.avail_pct() {
                    l
                } else {
                    worst
                }
            });
            if t.idle_by_user && g.idle.is_none() {
                g.idle = Some(0);
            }
            Group {
                name: name.to_vec(),
                ..g
            }
        })
        .collect()
}

/// The group of a slot with `vhost` in the process `pid`; `None` for a
/// process whose user is unknown (by user).
fn group_key<'a>(by: GroupBy, t: &'a Tenancy, vhost: &'a [u8], pid: i32) -> Option<&'a [u8]> {
    Some(match by {
        GroupBy::Vhost => vhost,
        GroupBy::Host => host_part(vhost).unwrap_or(vhost),
        GroupBy::Environment => match environment_of(&t.environments, vhost) {
            Some(e) if !vhost.is_empty() => e.name.as_bytes(),
            _ => vhost,
        },
        GroupBy::User => t.users.get(&pid)?.as_bytes(),
    })
}

/// Whether the segment is a running httpd's, whose processes /proc shows
/// (not a snapshot read with `--at`).
pub fn is_live(loaded: &Loaded) -> bool {
    !loaded.at_given && loaded.live.as_ref().and_then(|l| l.parent).is_some()
}

/// The serving user of each process of the segment, by name (`#UID` for
/// a uid `/etc/passwd` does not name). /proc is read beside the watchdog:
/// a process hung in the kernel can block the read.
pub fn serving_users(loaded: &Loaded) -> HashMap<i32, String> {
    let pids: Vec<i32> = loaded.scoreboard.processes().map(|p| p.pid).collect();
    crate::watchdog::guard(|| crate::process::users::serving_user_names(pids))
}

/// The longest vhost the segment records, without its NUL.
fn vhost_width(loaded: &Loaded) -> usize {
    loaded
        .scoreboard
        .layout()
        .worker
        .vhost
        .width
        .saturating_sub(1)
}

/// mpm-itk's limit of a vhost: `MaxClientsVHost` above 0 (mpm-itk enforces
/// none for 0 or less).
fn limit_of(v: &VirtualHost) -> Option<usize> {
    v.max_clients_vhost
        .filter(|&n| n > 0)
        .and_then(|n| usize::try_from(n).ok())
}

/// A vhost as the scoreboard records it and mpm-itk compares it:
/// `server_hostname:port`, cut to the field. The name is its ServerName's
/// host (no scheme or port), else the main server's, as httpd fills it in;
/// the port its address's, else the one port httpd listens on.
pub fn vhost_string(conf: &Parsed, v: &crate::httpd::VirtualHost, width: usize) -> Option<Vec<u8>> {
    let name = v
        .server_name
        .as_deref()
        .or(conf.server_name.as_ref().map(|f| f.value.as_str()))?;
    let port = match v.port() {
        Some(p) => p,
        None => match listen_ports(conf).as_slice() {
            [one] => *one,
            _ => return None,
        },
    };
    Some(recorded(name, port, width))
}

/// The ports httpd listens on, each once.
fn listen_ports(conf: &Parsed) -> Vec<u16> {
    let mut ports: Vec<u16> = conf
        .listen
        .iter()
        .filter_map(|l| crate::httpd::parse_listen(&l.value).map(|(_, p)| p))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// `host:port` as the scoreboard records a server: the ServerName's host
/// (no scheme or port), cut to the field.
fn recorded(server_name: &str, port: u16, width: usize) -> Vec<u8> {
    let name = server_name
        .split_once("://")
        .map_or(server_name, |(_, rest)| rest);
    let mut s = host_part(name.as_bytes())
        .unwrap_or(name.as_bytes())
        .to_vec();
    s.extend_from_slice(format!(":{port}").as_bytes());
    s.truncate(width);
    s
}

/// The default environments under mpm-itk: one per `AssignUserID` user,
/// named after it, with its vhosts (exactly as the scoreboard records them).
/// A vhost without its own AssignUserID runs as the server-level one (mpm-itk
/// merges it per directory), and so does the main server on each port it
/// listens on, unless a vhost is recorded the same way.
pub fn assigned_environments(conf: &Parsed, width: usize) -> Vec<Environment> {
    let global = conf.assign_user_id.as_ref().map(|(user, _)| user);
    let vhosts: Vec<(Option<&String>, Vec<u8>)> = conf
        .vhosts
        .iter()
        .filter_map(|v| {
            let user = v.assign_user_id.as_ref().map(|(user, _)| user).or(global);
            Some((user, vhost_string(conf, v, width)?))
        })
        .collect();
    let main_server = match (&conf.assign_user_id, &conf.server_name) {
        (Some(_), Some(name)) => listen_ports(conf)
            .into_iter()
            .map(|port| recorded(&name.value, port, width))
            .filter(|s| vhosts.iter().all(|(_, v)| v != s))
            .collect(),
        _ => Vec::new(),
    };
    let served = vhosts
        .iter()
        .map(|(user, v)| (*user, v))
        .chain(main_server.iter().map(|s| (global, s)));
    let mut envs: Vec<Environment> = Vec::new();
    for (user, vhost) in served {
        let Some(user) = user else { continue };
        let pattern = String::from_utf8_lossy(vhost).into_owned();
        match envs.iter_mut().find(|e| &e.name == user) {
            Some(e) if e.patterns.contains(&pattern) => {}
            Some(e) => e.patterns.push(pattern),
            None => envs.push(Environment {
                name: user.clone(),
                patterns: vec![pattern],
                limit: None,
            }),
        }
    }
    envs
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
    fn avail() {
        assert_eq!(avail_pct(4, 0), 100.0);
        assert_eq!(avail_pct(4, 1), 75.0);
        assert_eq!(avail_pct(4, 4), 0.0);
        assert_eq!(avail_pct(4, 9), 0.0);
        assert_eq!(avail_pct(0, 0), 0.0);
        assert!((avail_pct(3, 1) - 66.666_666).abs() < 1e-3);
    }

    #[test]
    fn ports_split() {
        assert_eq!(host_part(b"a.test:80"), Some(&b"a.test"[..]));
        assert_eq!(host_part(b"[::1]:8080"), Some(&b"[::1]"[..]));
        assert_eq!(host_part(b"very-long-virtual-host-name.exa"), None);
    }

    fn vhost(
        name: Option<&str>,
        address: &str,
        user: Option<&str>,
        max: Option<i64>,
    ) -> VirtualHost {
        VirtualHost {
            addresses: vec![address.into()],
            server_name: name.map(String::from),
            aliases: Vec::new(),
            assign_user_id: user.map(|u| (u.into(), u.into())),
            max_clients_vhost: max,
            source: crate::httpd::Source::Default,
        }
    }

    /// The strings mpm-itk compares (`server_hostname:local port`, cut to
    /// the 31 bytes the scoreboard keeps) and the environments of the
    /// AssignUserID users.
    #[test]
    fn vhosts_and_environments_of_the_configuration() {
        let conf = Parsed {
            server_name: Some(crate::httpd::Figure::default("main.test".to_string())),
            listen: vec![crate::httpd::Figure::default("8080".to_string())],
            vhosts: vec![
                vhost(Some("shop.test"), "*:80", Some("shop"), Some(2)),
                vhost(
                    Some("https://www.shop.test:443"),
                    "192.0.2.1:443",
                    Some("shop"),
                    None,
                ),
                vhost(None, "*", Some("blog"), Some(0)),
                vhost(
                    Some("a-very-long-virtual-host-name.example.test"),
                    "*:80",
                    None,
                    None,
                ),
            ],
            itk: true,
            ..Parsed::default()
        };
        let s = |i: usize| {
            vhost_string(&conf, &conf.vhosts[i], 31).map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(s(0).as_deref(), Some("shop.test:80"));
        assert_eq!(s(1).as_deref(), Some("www.shop.test:443"));
        // No ServerName: the main server's; no port: the one Listen port.
        assert_eq!(s(2).as_deref(), Some("main.test:8080"));
        assert_eq!(s(3).as_deref(), Some("a-very-long-virtual-host-name.e"));
        let envs = assigned_environments(&conf, 31);
        assert_eq!(envs.len(), 2);
        assert_eq!(envs[0].name, "shop");
        assert_eq!(envs[0].patterns, ["shop.test:80", "www.shop.test:443"]);
        assert!(envs[0].takes(b"shop.test:80") && !envs[0].takes(b"shop.test:8080"));
        assert_eq!(envs[1].name, "blog");
        // MaxClientsVHost 0 is no limit to mpm-itk.
        assert_eq!(limit_of(&conf.vhosts[0]), Some(2));
        assert_eq!(limit_of(&conf.vhosts[2]), None);
    }

    /// A server-level AssignUserID is the user of every vhost without its
    /// own and of the main server on each Listen port (mpm-itk merges it per
    /// directory); a vhost recorded as the main server is not listed twice.
    #[test]
    fn the_server_level_user_reaches_vhosts_and_the_main_server() {
        let conf = Parsed {
            server_name: Some(crate::httpd::Figure::default("main.test:8080".to_string())),
            listen: vec![
                crate::httpd::Figure::default("8080".to_string()),
                crate::httpd::Figure::default("127.0.0.1:8443".to_string()),
            ],
            assign_user_id: Some(("web".into(), "web".into())),
            vhosts: vec![
                vhost(Some("shop.test"), "*:8080", Some("shop"), None),
                vhost(Some("blog.test"), "*:8080", None, None),
                vhost(None, "*:8443", None, None),
            ],
            itk: true,
            ..Parsed::default()
        };
        let envs = assigned_environments(&conf, 31);
        assert_eq!(envs.len(), 2);
        assert_eq!(
            (envs[0].name.as_str(), &envs[0].patterns[..]),
            ("shop", &["shop.test:8080".to_string()][..])
        );
        assert_eq!(envs[1].name, "web");
        assert_eq!(
            envs[1].patterns,
            ["blog.test:8080", "main.test:8443", "main.test:8080"]
        );
        // Without a server-level AssignUserID, only the vhosts' own count.
        let own = Parsed {
            assign_user_id: None,
            ..conf
        };
        let envs = assigned_environments(&own, 31);
        assert_eq!(envs.len(), 1);
        assert_eq!(envs[0].name, "shop");
    }
}
