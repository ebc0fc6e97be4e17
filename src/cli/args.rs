//! The argument groups several subcommands share, flattened into each:
//! where to read ([`SourceArgs`]), how to run ([`RunArgs`]), how a check
//! reports ([`PluginArgs`]), its thresholds ([`ThresholdArgs`]), the
//! configured pool ([`CapacityArgs`]) and mod_heartmonitor's storage
//! ([`StorageArgs`]). Each turns itself into the domain's
//! own type; nothing below `cli` sees a clap struct.
//!
//! (Plain comments, not doc comments, on every Args struct: under `defer` a
//! doc comment would become the about text of each subcommand.)

use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use clap::{ArgAction, Args};

use crate::checks::{FrozenPolicy, StalePolicy};
use crate::measure::Capacity;
use crate::plugin::output::OutputLimits;
use crate::plugin::range::Range;
use crate::plugin::verdict::Thresholds;
use crate::scoreboard::{HttpdVersion, LayoutSpec, Mpm, ReadOptions};

// How to find and read the segment.
#[derive(Args, Debug, Clone, Default)]
pub struct SourceArgs {
    /// ScoreBoardFile path (a relative one is joined to --server-root), a
    /// /dev/shm/ShM.* object, a snapshot, sysv:KEY or shmid:ID [default: the
    /// running httpd's]
    #[arg(long, value_name = "PATH")]
    pub scoreboard: Option<PathBuf>,
    /// ServerRoot, for a relative ScoreBoardFile path
    #[arg(long, value_name = "DIR")]
    pub server_root: Option<PathBuf>,
    /// Decode as this layout instead of detecting it: an httpd version
    /// (2.4.71, 2.2), optionally with /lp64, /ilp32 or /armhf
    #[arg(long, value_name = "REV")]
    pub layout: Option<LayoutSpec>,
    /// The httpd version (decides mod_status's counting rules) [default:
    /// the running binary's, else the layout's]
    #[arg(long, value_name = "X.Y.Z")]
    pub httpd_version: Option<HttpdVersion>,
    /// The MPM [default: the running server's, else guessed from the segment]
    #[arg(long, value_enum)]
    pub mpm: Option<Mpm>,
    /// Evaluate ages as of this time (RFC 3339, e.g. 2026-11-21T00:46:30.792139Z),
    /// for snapshots; a snapshot read with --at is never stale
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<i64>,
}

/// The one conversion from the command line's source flags to the domain's
/// options (destructured, so a new flag cannot be forgotten here).
impl From<&SourceArgs> for ReadOptions {
    fn from(args: &SourceArgs) -> ReadOptions {
        let SourceArgs {
            scoreboard,
            server_root,
            layout,
            httpd_version,
            mpm,
            at,
        } = args.clone();
        ReadOptions {
            scoreboard,
            server_root,
            layout,
            httpd_version,
            mpm,
            at,
            wants_details: false,
        }
    }
}

// Options every subcommand has.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Give up with UNKNOWN after this many seconds (0 = no limit)
    #[arg(short = 't', long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// More detail in the long output (repeat up to 3 times)
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

// Options every check has besides its thresholds.
#[derive(Args, Debug, Clone)]
pub struct PluginArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// State when httpd is not running (no scoreboard and no httpd process,
    /// or no process named in the scoreboard is alive)
    #[arg(long, value_enum, default_value = "critical")]
    pub stale: StalePolicy,
    /// State when httpd's processes are frozen (stopped by a signal, in
    /// uninterruptible sleep for a second, their parent gone) or hung
    /// (connections wait to be accepted while workers are idle and use no CPU)
    #[arg(long, value_enum, default_value = "critical")]
    pub frozen: FrozenPolicy,
    /// At most N long-output lines [default: 10, within 1000 bytes in all]
    #[arg(long, value_name = "N")]
    pub max_lines: Option<usize>,
}

impl PluginArgs {
    pub fn limits(&self) -> OutputLimits {
        OutputLimits::for_max_lines(self.max_lines)
    }
}

// Where mod_heartmonitor's storage is (the cluster subcommands).
#[derive(Args, Debug, Clone, Default)]
pub struct StorageArgs {
    /// The monitor's storage: its HeartbeatStorage file, a /dev/shm/ShM.*
    /// object, the slotmem name (DefaultRuntimeDir/slotmem-shm-mod_heartmonitor_GEN.shm),
    /// its DefaultRuntimeDir, or a saved copy [default: the running monitor's]
    #[arg(long, value_name = "PATH")]
    pub storage: Option<PathBuf>,
    /// Read as this storage instead of detecting it from the content
    #[arg(long, value_enum, value_name = "KIND")]
    pub storage_format: Option<crate::heartbeat::Kind>,
    /// Evaluate ages as of this time (RFC 3339), for saved copies
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<i64>,
}

impl StorageArgs {
    pub fn options(&self) -> crate::heartbeat::StorageOptions {
        crate::heartbeat::StorageOptions {
            storage: self.storage.clone(),
            format: self.storage_format,
            at: self.at,
        }
    }
}

// -w/-c as Nagios ranges, judging the value --metric names.
#[derive(Args, Debug, Clone, Default)]
pub struct ThresholdArgs {
    /// Warning range for --metric (Nagios range: 80, 5:, @10:20)
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub warning: Option<Range>,
    /// Critical range for --metric
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub critical: Option<Range>,
}

impl ThresholdArgs {
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            warning: self.warning,
            critical: self.critical,
        }
    }
}

// The configured pool, which the segment does not record.
#[derive(Args, Debug, Clone, Default)]
pub struct CapacityArgs {
    /// Capacity: MaxRequestWorkers [default: the running httpd's, read from
    /// the configuration it was started with; a percentage of capacity is
    /// UNKNOWN when that cannot be read, e.g. for a snapshot]
    #[arg(long, value_name = "N", value_parser = positive)]
    pub max_workers: Option<usize>,
    /// ThreadsPerChild: slots beyond the configured limits are dropped as
    /// mod_status does [default: the running httpd's]
    #[arg(long, value_name = "N", value_parser = positive)]
    pub threads_per_child: Option<usize>,
}

impl CapacityArgs {
    pub fn capacity(&self) -> Capacity {
        Capacity {
            max_workers: self.max_workers,
            threads_per_child: self.threads_per_child,
        }
    }
}

/// A count that must be at least 1 (a capacity of 0 is a usage error).
pub fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{s}' is not a whole number of at least 1")),
    }
}

fn parse_time(s: &str) -> Result<i64, String> {
    let t = humantime::parse_rfc3339_weak(s).map_err(|e| {
        format!("invalid time '{s}': {e} (expected RFC 3339, e.g. 2026-11-21T00:46:30.792139Z)")
    })?;
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("invalid time '{s}': before 1970"))?;
    i64::try_from(d.as_micros()).map_err(|_| format!("invalid time '{s}': too far in the future"))
}

// What a Prometheus scrape exposes besides apache_exporter's metrics.
#[derive(Args, Debug, Clone)]
pub struct PrometheusArgs {
    /// At most N vhosts get their own apache_segment_vhost_busy_workers
    /// series; the others are summed as vhost="(other)"
    #[arg(long, value_name = "N", default_value_t = crate::prometheus::DEFAULT_MAX_VHOSTS)]
    pub max_vhosts: usize,
}
