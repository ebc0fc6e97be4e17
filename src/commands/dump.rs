//! `dump`: the ftss view, one line (TSV) or object (JSON) per worker slot,
//! with the user serving it on a live server; with `--group-by`, the tenant
//! check's table instead, one line or object per group.

use std::collections::HashMap;

use serde::Serialize;

use crate::checks::vhost::{ranked, table, VhostMetric};
use crate::measure::tenants::{self, Group, LimitSource, Request, Tenancy};
use crate::plugin::text::{escape_bytes, escape_str};
use crate::scoreboard::{status, Loaded, Process, Worker};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Tsv,
    Json,
}

/// One slot as `dump` shows it. Strings are escaped (`\xNN` for control
/// bytes, `|`, `\` and invalid UTF-8).
#[derive(Debug, Serialize)]
pub struct Row {
    pub process_slot: usize,
    pub thread_slot: usize,
    pub pid: i32,
    pub generation: i32,
    pub status: String,
    pub client: String,
    pub vhost: String,
    pub request: String,
    pub protocol: String,
    pub in_flight: bool,
    pub age_seconds: Option<f64>,
    pub idle_seconds: Option<f64>,
    pub access_count: u64,
    pub bytes_served: u64,
    pub conn_count: u16,
    pub conn_bytes: u64,
    pub duration_ms: Option<i64>,
    pub process_pid: i32,
    pub process_generation: i32,
    pub quiescing: bool,
    /// The user serving the slot's process, escaped (live only; see
    /// [`tenants::serving_users`]).
    pub user: Option<String>,
}

impl Row {
    pub fn new(p: &Process, w: &Worker<'_>, now: i64) -> Row {
        Row {
            process_slot: w.process_slot,
            thread_slot: w.thread_slot,
            pid: w.pid(),
            generation: w.generation(),
            status: w.status_char().to_string(),
            client: escape_bytes(w.client()),
            vhost: escape_bytes(w.vhost()),
            request: escape_bytes(w.request()),
            protocol: escape_bytes(w.protocol()),
            in_flight: w.in_flight(),
            age_seconds: w.request_age_us(now).map(seconds),
            idle_seconds: w.idle_for_us(now).map(seconds),
            access_count: w.access_count(),
            bytes_served: w.bytes_served(),
            conn_count: w.conn_count(),
            conn_bytes: w.conn_bytes(),
            duration_ms: w.duration().map(|d| d / 1000),
            process_pid: p.pid,
            process_generation: p.generation,
            quiescing: p.quiescing != 0,
            user: None,
        }
    }
}

fn seconds(us: i64) -> f64 {
    us as f64 / 1e6
}

/// The rows `dump` prints: slots that are not dead, or all with `all`.
pub fn rows(loaded: &Loaded, all: bool) -> Vec<Row> {
    let users: HashMap<i32, String> = if tenants::is_live(loaded) {
        tenants::serving_users(loaded)
    } else {
        HashMap::new()
    };
    loaded
        .scoreboard
        .workers()
        .filter(|(_, w)| all || w.status() != status::DEAD)
        .map(|(p, w)| Row {
            user: users.get(&p.pid).map(|u| escape_str(u)),
            ..Row::new(&p, &w, loaded.now)
        })
        .collect()
}

const TSV_HEADER: &str = "#pid\tstatus\tclient\tvhost\trequest\tslot\tgeneration\tin_flight\tage_s\tss\taccesses\tbytes\tprotocol\tuser";

/// One group as `dump --group-by --format json` shows it.
#[derive(Debug, Serialize)]
pub struct GroupRow {
    pub group: String,
    pub active: usize,
    pub idle: Option<usize>,
    /// The limit that leaves the group the least room.
    pub max: Option<usize>,
    /// Workers counted against it, as mpm-itk counts.
    pub held: Option<usize>,
    pub avail_pct: Option<f64>,
    /// `--limit`, `environments file` or `MaxClientsVHost`.
    pub limit_source: Option<&'static str>,
    /// The vhost a MaxClientsVHost limit is on.
    pub limit_vhost: Option<String>,
    pub oldest_seconds: Option<f64>,
}

impl GroupRow {
    fn new(name: &str, g: &Group) -> GroupRow {
        let l = g.limit.as_ref();
        GroupRow {
            group: name.to_string(),
            active: g.active,
            idle: g.idle,
            max: l.map(|l| l.max),
            held: l.map(|l| l.held),
            avail_pct: g.avail_pct(),
            limit_source: l.map(|l| match l.source {
                LimitSource::CommandLine => "--limit",
                LimitSource::EnvironmentsFile => "environments file",
                LimitSource::MaxClientsVHost => "MaxClientsVHost",
            }),
            limit_vhost: l.and_then(|l| l.vhost.as_deref()).map(escape_bytes),
            oldest_seconds: g.oldest.map(seconds),
        }
    }
}

/// `dump --group-by`: the groups, least room first, as the check's table
/// (TSV) or as objects (JSON); an error is the one line the resolution
/// gives (a bad environments file, `user` on a snapshot).
pub fn render_groups(loaded: &Loaded, request: &Request, format: Format) -> anyhow::Result<String> {
    let tenancy = Tenancy::resolve(loaded, request).map_err(|e| anyhow::anyhow!(e))?;
    let groups = ranked(
        tenants::measure(loaded, request.by, &tenancy),
        VhostMetric::AvailPct,
    );
    Ok(match format {
        Format::Json => {
            let rows: Vec<GroupRow> = groups.iter().map(|(n, g)| GroupRow::new(n, g)).collect();
            serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
        }
        Format::Tsv => table(request.by, &groups).join("\n") + "\n",
    })
}

pub fn render(loaded: &Loaded, all: bool, format: Format, header: bool) -> String {
    let rows = rows(loaded, all);
    match format {
        Format::Json => serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n",
        Format::Tsv => {
            let mut out = String::new();
            if header {
                out.push_str(TSV_HEADER);
                out.push('\n');
            }
            let opt = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{s:.6}"));
            for r in rows {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}-{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    r.pid,
                    r.status,
                    r.client,
                    r.vhost,
                    r.request,
                    r.process_slot,
                    r.thread_slot,
                    r.generation,
                    u8::from(r.in_flight),
                    opt(r.age_seconds),
                    r.idle_seconds
                        .map_or("-".to_string(), |s| format!("{}", s.floor())),
                    r.access_count,
                    r.bytes_served,
                    r.protocol,
                    r.user.unwrap_or_default()
                ));
            }
            out
        }
    }
}
