//! `cluster`: the members mod_heartmonitor holds, one row (TSV) or object
//! (JSON) each, released slots excluded.

use serde::Serialize;

use super::dump::Format;
use crate::heartbeat::{Kind, Member, Storage};

/// One member as `cluster` shows it.
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    pub ip: &'a str,
    pub ready: u32,
    pub busy: u32,
    pub age_seconds: f64,
    /// The POSTed port; null for multicast senders and for the slotmem.
    pub port: Option<u32>,
    /// Slotmem index; null for the file.
    pub slot: Option<usize>,
    pub source: Kind,
}

impl<'a> Row<'a> {
    pub fn new(m: &'a Member, source: Kind) -> Row<'a> {
        Row {
            ip: &m.ip,
            ready: m.ready,
            busy: m.busy,
            age_seconds: m.age_us as f64 / 1e6,
            port: m.port,
            slot: m.slot,
            source,
        }
    }
}

pub fn render(storage: &Storage, format: Format) -> String {
    let rows: Vec<Row> = storage
        .members
        .iter()
        .map(|m| Row::new(m, storage.kind))
        .collect();
    match format {
        Format::Json => serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n",
        Format::Tsv => {
            let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            rows.iter()
                .map(|r| {
                    format!(
                        "{}\t{}\t{}\t{:.6}\t{}\t{}\t{}\n",
                        r.ip,
                        r.ready,
                        r.busy,
                        r.age_seconds,
                        opt(r.port.map(|p| p.to_string())),
                        opt(r.slot.map(|s| s.to_string())),
                        r.source.name()
                    )
                })
                .collect()
        }
    }
}
