//! `dump`: the ftss view, one line (TSV) or object (JSON) per worker slot.

use serde::Serialize;

use crate::plugin::text::escape_bytes;
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
        }
    }
}

fn seconds(us: i64) -> f64 {
    us as f64 / 1e6
}

/// The rows `dump` prints: slots that are not dead, or all with `all`.
pub fn rows(loaded: &Loaded, all: bool) -> Vec<Row> {
    loaded
        .scoreboard
        .workers()
        .filter(|(_, w)| all || w.status() != status::DEAD)
        .map(|(p, w)| Row::new(&p, &w, loaded.now))
        .collect()
}

const TSV_HEADER: &str = "#pid\tstatus\tclient\tvhost\trequest\tslot\tgeneration\tin_flight\tage_s\tss\taccesses\tbytes\tprotocol";

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
                    "{}\t{}\t{}\t{}\t{}\t{}-{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
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
                    r.protocol
                ));
            }
            out
        }
    }
}
