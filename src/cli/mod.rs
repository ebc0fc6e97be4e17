//! The multi-call front end: one binary, `apache-scoreboard`, also run
//! through symlinks named after each check. [`args`] holds the argument
//! groups the subcommands share, [`runtime`] turns every outcome (a check
//! result, bad arguments, `--help`, an error, a timeout, a signal, even a
//! panic) into one report on stdout and an exit code 0-3, [`man`] renders
//! the man pages. This file is the dispatch: the subcommands and what each
//! one runs. Nothing outside `cli` imports it.

pub mod args;
pub mod man;
pub mod runtime;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser};

use crate::checks::{self, busy, cluster as cluster_check, stuck, vhost};
use crate::commands::{cluster, dump, instances, metrics, snapshot, status};
use crate::measure::tenants::GroupBy;
use crate::plugin::output::{Outcome, OutputLimits};
use crate::scoreboard::ReadOptions;
use crate::shm::privilege;

pub use args::{
    CapacityArgs, PluginArgs, PrometheusArgs, RunArgs, SourceArgs, StorageArgs, ThresholdArgs,
};
pub use man::{man_pages, ManpageArgs};
pub use runtime::{unknown_line, Report, SERVICE};

const BINARY: &str = "apache-scoreboard";

#[derive(Args, Debug)]
pub struct BusyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub plugin: PluginArgs,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    #[command(flatten)]
    pub busy: busy::Options,
    #[command(flatten)]
    pub capacity: CapacityArgs,
}

#[derive(Args, Debug)]
pub struct StuckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub plugin: PluginArgs,
    #[command(flatten)]
    pub stuck: stuck::Options,
}

#[derive(Args, Debug)]
pub struct VhostArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub plugin: PluginArgs,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    #[command(flatten)]
    pub vhost: vhost::Options,
    #[command(flatten)]
    pub capacity: CapacityArgs,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Every slot, dead ones included
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value = "tsv")]
    pub format: dump::Format,
    /// Start TSV output with a commented header line
    #[arg(long)]
    pub header: bool,
    /// One row per group instead of per slot: the tenant check's table
    /// (active, idle, max, AVAIL), least room first
    #[arg(long, value_enum)]
    pub group_by: Option<GroupBy>,
    #[command(flatten)]
    pub tenancy: vhost::TenancyArgs,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub capacity: CapacityArgs,
}

#[derive(Args, Debug)]
pub struct MetricsArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub capacity: CapacityArgs,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// Write to FILE atomically (a temporary file beside it, then renamed;
    /// name it *.prom for node_exporter's textfile collector) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExporterArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub capacity: CapacityArgs,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// Address to serve /metrics and /probe on (apache_exporter's port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9117")]
    pub listen: String,
}

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// Where to write the segment (POSIX form); must not exist yet
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    /// Replace OUT if it exists (a symlink at OUT is replaced, never followed)
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct ClusterCheckArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// At most N long-output lines [default: 10, within 1000 bytes in all]
    #[arg(long, value_name = "N")]
    pub max_lines: Option<usize>,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    #[command(flatten)]
    pub cluster: cluster_check::Options,
}

#[derive(Args, Debug)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[arg(long, value_enum, default_value = "tsv")]
    pub format: dump::Format,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub capacity: CapacityArgs,
    /// Refresh every DURATION (e.g. 1s, 250ms, 2s)
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: std::time::Duration,
    /// Print one plain-text frame and exit, even on a terminal (the frame
    /// printed whenever stdout is not a terminal)
    #[arg(long)]
    pub once: bool,
    /// Show request lines with their query strings (shown as `?…` by
    /// default); only for root, the caller's own segment or a show-details
    /// scoreboard (README, "Running without root")
    #[arg(long)]
    pub show_query: bool,
    /// Show client addresses (left out by default); same condition as
    /// --show-query
    #[arg(long)]
    pub show_clients: bool,
}

/// A humantime duration of at least [`crate::top::MIN_INTERVAL`].
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid interval '{s}': {e} (e.g. 1s, 250ms)"))?;
    if d < crate::top::MIN_INTERVAL {
        return Err(format!(
            "invalid interval '{s}': at least {}",
            humantime::format_duration(crate::top::MIN_INTERVAL)
        ));
    }
    Ok(d)
}

#[derive(Args, Debug)]
pub struct InstancesArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

/// A parsed subcommand (the table `SUBCOMMANDS` names them; each is also
/// an argv[0]).
#[derive(Debug)]
pub enum Cmd {
    Busy(BusyArgs),
    Stuck(StuckArgs),
    Vhost(VhostArgs),
    ClusterCheck(ClusterCheckArgs),
    Dump(DumpArgs),
    Status(StatusArgs),
    Metrics(MetricsArgs),
    Exporter(ExporterArgs),
    Snapshot(SnapshotArgs),
    Top(TopArgs),
    Instances(InstancesArgs),
    Cluster(ClusterArgs),
    Manpage(ManpageArgs),
}

/// One subcommand of the table: its name (also an argv[0]), the line
/// `--help` and the man pages give it, its arguments, and how a parse of
/// them becomes a [`Cmd`].
struct Subcommand {
    name: &'static str,
    about: &'static str,
    /// Left out of `--help` and the man pages (and without `--version`).
    hidden: bool,
    args: fn(clap::Command) -> clap::Command,
    read: fn(&mut ArgMatches) -> Result<Cmd, clap::Error>,
}

macro_rules! subcommand {
    ($name:literal, $about:literal, $args:ty, $variant:path) => {
        Subcommand {
            name: $name,
            about: $about,
            hidden: false,
            args: <$args as Args>::augment_args,
            read: |m| <$args as FromArgMatches>::from_arg_matches_mut(m).map($variant),
        }
    };
}

/// The subcommands, in the order `--help` lists them. A run builds clap's
/// command for the one its argv names, not the tree of all of them (see
/// [`parse`]).
const SUBCOMMANDS: [Subcommand; 13] = [
    subcommand!(
        "check_scoreboard_busy",
        "How full the worker pool is",
        BusyArgs,
        Cmd::Busy
    ),
    subcommand!(
        "check_stuck_requests",
        "Requests that have been running too long",
        StuckArgs,
        Cmd::Stuck
    ),
    subcommand!(
        "check_vhost_saturation",
        "Which site or tenant is eating the worker pool, and which has no room left",
        VhostArgs,
        Cmd::Vhost
    ),
    subcommand!(
        "check_heartbeat_cluster",
        "Are the origins mod_heartmonitor hears from alive, and how busy",
        ClusterCheckArgs,
        Cmd::ClusterCheck
    ),
    subcommand!(
        "dump",
        "Every worker slot (pid, status, client, vhost, request, ...)",
        DumpArgs,
        Cmd::Dump
    ),
    subcommand!(
        "status",
        "mod_status ?auto lines computed from the segment",
        StatusArgs,
        Cmd::Status
    ),
    subcommand!(
        "metrics",
        "Prometheus metrics (apache_exporter's names) from the segment, once",
        MetricsArgs,
        Cmd::Metrics
    ),
    subcommand!(
        "exporter",
        "Serve Prometheus metrics from the segment (apache_exporter's names) until SIGTERM",
        ExporterArgs,
        Cmd::Exporter
    ),
    subcommand!(
        "snapshot",
        "Save the live segment to a file",
        SnapshotArgs,
        Cmd::Snapshot
    ),
    subcommand!(
        "top",
        "Live view of the workers, refreshed from the segment (q quits)",
        TopArgs,
        Cmd::Top
    ),
    subcommand!(
        "instances",
        "List running httpd instances and their scoreboards",
        InstancesArgs,
        Cmd::Instances
    ),
    subcommand!(
        "cluster",
        "The members mod_heartmonitor holds (ip, ready, busy, age, port, slot)",
        ClusterArgs,
        Cmd::Cluster
    ),
    Subcommand {
        hidden: true,
        ..subcommand!(
            "manpage",
            "Print the man page (roff)",
            ManpageArgs,
            Cmd::Manpage
        )
    },
];

impl Subcommand {
    /// The subcommand of the table named `name`.
    fn named(name: &str) -> Option<&'static Subcommand> {
        SUBCOMMANDS.iter().find(|s| s.name == name)
    }

    /// Its clap command; the arguments are added only when clap builds it
    /// (a parse builds the one it runs, `--help` of the binary none).
    fn command(&self) -> clap::Command {
        let command = clap::Command::new(self.name)
            .defer(self.args)
            .about(self.about);
        if self.hidden {
            command.hide(true)
        } else {
            command.version(VERSION)
        }
    }
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// argv[0] selects the applet: a subcommand's name, or `apache-scoreboard`
/// followed by one.
#[derive(Debug)]
pub enum Applet {
    Main { cmd: Cmd },
    Direct(Cmd),
}

/// The multicall root: `apache-scoreboard` with the subcommands
/// `under_main` (left out when there are none), and `applets` as argv[0]
/// names of their own.
fn applet(under_main: &[&Subcommand], applets: &[&Subcommand]) -> clap::Command {
    let mut root = clap::Command::new(BINARY)
        .subcommand_required(true)
        .arg_required_else_help(true);
    if !under_main.is_empty() {
        root = root.subcommand(
            clap::Command::new(BINARY)
                .subcommands(under_main.iter().map(|s| s.command()))
                .subcommand_required(true)
                .arg_required_else_help(true)
                .version(VERSION)
                .about(
                    "Nagios/Icinga checks that read Apache httpd's scoreboard from shared memory",
                ),
        );
    }
    root.subcommands(applets.iter().map(|s| s.command()))
        .multicall(true)
        // No environment variable may change what a run prints: no colour,
        // and a fixed help width (clap would otherwise take it from $COLUMNS).
        .color(clap::ColorChoice::Never)
        .term_width(100)
}

/// The whole tree: every applet, `apache-scoreboard` with every subcommand.
impl clap::CommandFactory for Applet {
    fn command() -> clap::Command {
        let all: Vec<&Subcommand> = SUBCOMMANDS.iter().collect();
        applet(&all, &all)
    }
    fn command_for_update() -> clap::Command {
        Self::command()
    }
}

impl FromArgMatches for Applet {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut m.clone())
    }
    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, clap::Error> {
        let (name, mut sub) = m.remove_subcommand().ok_or_else(no_subcommand)?;
        if name == BINARY {
            let (name, mut sub) = sub.remove_subcommand().ok_or_else(no_subcommand)?;
            Ok(Applet::Main {
                cmd: read_subcommand(&name, &mut sub)?,
            })
        } else {
            Ok(Applet::Direct(read_subcommand(&name, &mut sub)?))
        }
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Parser for Applet {}

fn read_subcommand(name: &str, m: &mut ArgMatches) -> Result<Cmd, clap::Error> {
    let Some(sub) = Subcommand::named(name) else {
        return Err(clap::Error::raw(
            clap::error::ErrorKind::InvalidSubcommand,
            format!("The subcommand '{name}' wasn't recognized"),
        ));
    };
    (sub.read)(m)
}

fn no_subcommand() -> clap::Error {
    clap::Error::raw(
        clap::error::ErrorKind::MissingSubcommand,
        "A subcommand is required but one was not provided.",
    )
}

impl Cmd {
    /// Whether the command opens a segment (the only use of a capability).
    fn reads_segment(&self) -> bool {
        !matches!(self, Cmd::Instances(_) | Cmd::Manpage(_))
    }

    fn run_args(&self) -> Option<&RunArgs> {
        match self {
            Cmd::Busy(a) => Some(&a.plugin.run),
            Cmd::Stuck(a) => Some(&a.plugin.run),
            Cmd::Vhost(a) => Some(&a.plugin.run),
            Cmd::ClusterCheck(a) => Some(&a.run),
            Cmd::Cluster(a) => Some(&a.run),
            Cmd::Dump(a) => Some(&a.run),
            Cmd::Status(a) => Some(&a.run),
            Cmd::Metrics(a) => Some(&a.run),
            Cmd::Exporter(_) | Cmd::Top(_) => None,
            Cmd::Snapshot(a) => Some(&a.run),
            Cmd::Instances(a) => Some(&a.run),
            Cmd::Manpage(_) => None,
        }
    }
}

/// Runs the program (see [`runtime::run`]) and returns its exit code
/// (0-3). Before anything else, who runs
/// it is decided from the kernel and the effective capabilities cleared
/// (see [`privilege`]); a command that reads no segment, and a parse that
/// fails (usage error, `--help`), gives up every capability.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    privilege::at_startup();
    runtime::run(args, |argv| {
        let parsed = parse(argv);
        if !parsed.as_ref().is_ok_and(Cmd::reads_segment) {
            privilege::renounce();
        }
        parsed
    })
}

/// The subcommand `argv` asks for, as `Applet::try_parse_from` would parse
/// it, with clap's command built for that subcommand alone when argv names
/// one (argv[0], or argv[1] after `apache-scoreboard`): the tree of all of
/// them, with the root's settings propagated into each, was a fifth of a
/// check's parse. Anything else (`--help`, `-V`, a typo clap lists or
/// suggests subcommands for) gets the whole tree. Nothing is freed: the
/// process ends soon, and freeing clap's tree and matches took more
/// instructions than the parse (a quarter of a check's).
fn parse(argv: Vec<OsString>) -> Result<Cmd, clap::Error> {
    let argv = normalize_argv0(argv);
    let named = |i: usize| {
        argv.get(i)
            .and_then(|a| a.to_str())
            .and_then(Subcommand::named)
    };
    let mut applet = match (named(0), named(1)) {
        (Some(sub), _) => applet(&[], &[sub]),
        (None, Some(sub)) => applet(&[sub], &[]),
        (None, None) => Applet::command(),
    };
    let parsed = applet
        .try_get_matches_from_mut(&argv)
        .and_then(|mut matches| {
            // As clap's try_parse_from renders a conversion error (a usage
            // error comes rendered).
            let applet_parsed =
                Applet::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut applet));
            std::mem::forget(matches);
            applet_parsed
        });
    let parsed = parsed.map(|(Applet::Main { cmd } | Applet::Direct(cmd))| cmd);
    std::mem::forget(applet);
    parsed
}

impl runtime::Job for Cmd {
    /// `-t` for every subcommand that has it; the man page has none.
    fn deadline(&self) -> Option<u64> {
        self.run_args().map(|r| r.timeout)
    }

    fn verbose(&self) -> u8 {
        self.run_args().map_or(0, |r| r.verbose)
    }

    fn handles_signals(&self) -> bool {
        match self {
            Cmd::Exporter(_) => true,
            // The live view ends cleanly on SIGTERM and restores the
            // terminal; its plain frame keeps the watchdog.
            Cmd::Top(a) => a.options().interactive(),
            _ => false,
        }
    }

    fn execute(self) -> anyhow::Result<Report> {
        execute(self)
    }
}

/// A renamed binary still works: any argv[0] that is not an applet name is
/// taken as `apache-scoreboard`.
fn normalize_argv0(mut argv: Vec<OsString>) -> Vec<OsString> {
    let name = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let known = name == BINARY || Subcommand::named(&name).is_some();
    if argv.is_empty() {
        argv.push(BINARY.into());
    } else if !known {
        argv[0] = BINARY.into();
    } else {
        argv[0] = name.into();
    }
    argv
}

fn execute(cmd: Cmd) -> anyhow::Result<Report> {
    match cmd {
        Cmd::Busy(a) => Ok(a.run()),
        Cmd::Stuck(a) => Ok(a.run()),
        Cmd::Vhost(a) => Ok(a.run()),
        Cmd::ClusterCheck(a) => Ok(a.run()),
        Cmd::Dump(a) => a.run(),
        Cmd::Status(a) => a.run(),
        Cmd::Metrics(a) => a.run(),
        Cmd::Exporter(a) => a.run(),
        Cmd::Snapshot(a) => a.run(),
        Cmd::Top(a) => Ok(Report::Text(crate::top::run(a.options())?)),
        Cmd::Instances(_) => Ok(Report::Text(instances::render())),
        Cmd::Cluster(a) => a.run(),
        Cmd::Manpage(a) => a.run(),
    }
}

// The checks: each a plugin report.

impl BusyArgs {
    fn run(self) -> Report {
        let capacity = self.capacity.capacity();
        plugin_report(&self.source, &self.plugin, Some(capacity), |l| {
            busy::check(l, &self.busy, &self.thresholds.thresholds(), capacity)
        })
    }
}

impl StuckArgs {
    fn run(self) -> Report {
        plugin_report(&self.source, &self.plugin, None, |l| {
            stuck::check(l, &self.stuck)
        })
    }
}

impl VhostArgs {
    fn run(self) -> Report {
        let capacity = self.capacity.capacity();
        plugin_report(&self.source, &self.plugin, Some(capacity), |l| {
            vhost::check(l, &self.vhost, &self.thresholds.thresholds(), capacity)
        })
    }
}

impl ClusterCheckArgs {
    fn run(self) -> Report {
        let outcome = cluster_check::run(
            &self.storage.options(),
            &self.cluster,
            &self.thresholds.thresholds(),
            self.run.verbose,
        );
        Report::Plugin(outcome, OutputLimits::for_max_lines(self.max_lines))
    }
}

// The commands that show a segment: text for stdout.

impl DumpArgs {
    fn run(self) -> anyhow::Result<Report> {
        let loaded = checks::load(&ReadOptions::from(&self.source).with_details())?;
        if let Some(by) = self.group_by {
            let request = self.tenancy.request(by);
            return Ok(Report::Text(dump::render_groups(
                &loaded,
                &request,
                self.format,
            )?));
        }
        Ok(Report::Text(dump::render(
            &loaded,
            self.all,
            self.format,
            self.header,
        )))
    }
}

impl StatusArgs {
    fn run(self) -> anyhow::Result<Report> {
        let mut loaded = checks::load(&ReadOptions::from(&self.source).with_details())?;
        let capacity = self.capacity.capacity();
        checks::know_the_server(&mut loaded, Some(capacity), self.run.verbose);
        // The async connection lines are event's alone, as mod_status's.
        loaded.learn_mpm();
        let limits = capacity.limits(&loaded);
        Ok(Report::Text(status::render(&loaded, limits)))
    }
}

impl SnapshotArgs {
    fn run(self) -> anyhow::Result<Report> {
        let mut loaded = checks::load(&ReadOptions::from(&self.source).with_details())?;
        // The `--mpm` its evaluation should be given.
        loaded.learn_mpm();
        Ok(Report::Text(snapshot::write(
            &loaded, &self.out, self.force,
        )?))
    }
}

impl ClusterArgs {
    fn run(self) -> anyhow::Result<Report> {
        let storage = crate::heartbeat::load(&self.storage.options())?;
        Ok(Report::Text(cluster::render(&storage, self.format)))
    }
}

// Prometheus: once, or served until SIGTERM.

impl MetricsArgs {
    fn run(self) -> anyhow::Result<Report> {
        let e = metrics::scrape(
            &ReadOptions::from(&self.source),
            self.capacity.capacity(),
            self.prometheus.max_vhosts,
            checks::load,
        );
        Ok(Report::Text(metrics::emit(&e, self.output.as_deref())?))
    }
}

impl ExporterArgs {
    fn run(self) -> anyhow::Result<Report> {
        let exporter = crate::exporter::Exporter::new(
            ReadOptions::from(&self.source),
            self.capacity.capacity(),
            self.prometheus.max_vhosts,
        )?;
        crate::exporter::serve::serve(exporter, &self.listen)?;
        Ok(Report::Text(String::new()))
    }
}

impl TopArgs {
    fn options(&self) -> crate::top::Options {
        crate::top::Options {
            read: ReadOptions::from(&self.source),
            capacity: self.capacity.capacity(),
            interval: self.interval,
            once: self.once,
            privacy: crate::top::Privacy {
                show_query: self.show_query,
                show_clients: self.show_clients,
            },
        }
    }
}

impl ManpageArgs {
    /// apache-scoreboard.1 on stdout, or every page into `--dir`.
    fn run(self) -> anyhow::Result<Report> {
        let pages = man_pages(Applet::command(), BINARY)?;
        let Some(dir) = self.dir else {
            return Ok(Report::Text(pages.into_iter().next().unwrap_or_default().1));
        };
        let mut names = Vec::new();
        for (name, text) in pages {
            let path = dir.join(&name);
            std::fs::write(&path, text)
                .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
            names.push(name);
        }
        Ok(Report::Text(names.join("\n") + "\n"))
    }
}

/// A check's run: probe, judge with `check`, and the output limits.
fn plugin_report(
    source: &SourceArgs,
    plugin: &PluginArgs,
    capacity: Option<crate::measure::Capacity>,
    check: impl FnOnce(&crate::scoreboard::Loaded) -> Outcome,
) -> Report {
    let outcome = checks::run(
        &ReadOptions::from(source),
        checks::Policies {
            stale: plugin.stale,
            frozen: plugin.frozen,
        },
        plugin.run.verbose,
        capacity,
        check,
    );
    Report::Plugin(outcome, plugin.limits())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Applet::command().debug_assert();
    }

    #[test]
    fn man_pages_list_every_option() {
        let pages = man_pages(Applet::command(), BINARY).expect("render");
        let page = |name: &str| {
            pages
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, text)| text.as_str())
                .unwrap_or_else(|| panic!("no page {name}"))
        };
        // roff escapes every `-`.
        let roff = |option: &str| format!("\\fB\\-\\-{}\\fR", option.replace('-', "\\-"));
        let mut app = Applet::command().mut_subcommand(BINARY, |c| c.disable_help_subcommand(true));
        app.build();
        let main = app.find_subcommand(BINARY).expect("main").clone();
        let mut checked = 0;
        for sub in main.get_subcommands().filter(|c| !c.is_hide_set()) {
            let name = sub.get_name();
            let file = if name.starts_with("check_") {
                assert_eq!(
                    page(&format!("{BINARY}-{name}.1")),
                    format!(".so man1/{name}.1\n")
                );
                format!("{name}.1")
            } else {
                format!("{BINARY}-{name}.1")
            };
            let text = page(&file);
            let longs: Vec<&str> = sub.get_arguments().filter_map(|a| a.get_long()).collect();
            // Deferred arguments not built would leave only --help (the
            // long-running exporter has no timeout).
            assert!(
                longs.contains(&"timeout")
                    || longs.contains(&"listen")
                    || longs.contains(&"interval"),
                "{name}: {longs:?}"
            );
            if name == "cluster" || name == "check_heartbeat_cluster" {
                assert!(text.contains(&roff("storage")), "{file}");
            } else if name != "instances" {
                assert!(text.contains(&roff("scoreboard")), "{file}");
            }
            for section in [
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH DESCRIPTION",
                ".SH OPTIONS",
                ".SH \"EXIT STATUS\"",
                ".SH EXAMPLES",
                ".SH FILES",
                ".SH \"SEE ALSO\"",
            ] {
                assert!(text.contains(section), "{file} lacks {section}");
            }
            // The synopsis names each option's argument.
            let synopsis = &text[text.find(".SH SYNOPSIS").expect("synopsis")..];
            let synopsis = &synopsis[..synopsis.find("\n.SH D").expect("end")];
            for arg in sub.get_arguments() {
                let named = arg.get_action().takes_values() && arg.get_possible_values().is_empty();
                if let (Some(long), Some([value]), true) =
                    (arg.get_long(), arg.get_value_names(), named)
                {
                    let shown = format!(
                        "{} \\fI{}\\fR",
                        roff(long),
                        value.as_str().replace('-', "\\-")
                    );
                    assert!(synopsis.contains(&shown), "{file}: {shown} in {synopsis}");
                }
            }
            // -V/--version on every subcommand.
            assert!(sub.get_version().is_some(), "{name} has no --version");
            for long in longs {
                assert!(text.contains(&roff(long)), "{file} lacks --{long}");
            }
            assert!(page(&format!("{BINARY}.1")).contains(&name.replace('-', "\\-")));
            checked += 1;
        }
        assert_eq!(checked, 12);
        assert!(!pages
            .iter()
            .any(|(n, _)| n.contains("help") || n.contains("manpage")));
    }
    #[test]
    fn unknown_argv0_is_the_main_binary() {
        let argv = normalize_argv0(vec![
            "/usr/lib/nagios/plugins/apache-scoreboard-1.0".into(),
            "status".into(),
        ]);
        assert_eq!(argv[0], OsString::from(BINARY));
        let argv = normalize_argv0(vec!["/x/check_stuck_requests".into()]);
        assert_eq!(argv[0], OsString::from("check_stuck_requests"));
    }
}
