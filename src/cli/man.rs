//! The man pages, rendered from the clap definitions.

use std::path::PathBuf;

use clap::Args;

// Options of the hidden `manpage` subcommand.
#[derive(Args, Debug)]
pub struct ManpageArgs {
    /// Write every page (see man_pages) into this directory instead of
    /// printing apache-scoreboard.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The man pages of the multi-call `applet` whose main subcommand is
/// `binary`, as (file name, roff), apache-scoreboard.1 first: one for
/// the binary, one per check under its command name (check_scoreboard_busy.1,
/// ...; the name it is installed and run as, through its symlink), one per
/// other subcommand (apache-scoreboard-dump.1, ...), and for each check an
/// `apache-scoreboard-check_*.1` that sources the check's page, the name the
/// main page refers to.
pub fn man_pages(applet: clap::Command, binary: &str) -> std::io::Result<Vec<(String, String)>> {
    // Subcommands are deferred (`defer = true`): build the whole tree, or
    // their pages would list no option.
    let mut applet = applet.mut_subcommand(binary, |c| c.disable_help_subcommand(true));
    applet.build();
    let main = applet.find_subcommand(binary).cloned().unwrap_or(applet);
    let version = main.get_version().unwrap_or_default().to_string();
    let render = |cmd: clap::Command, title: &str| -> std::io::Result<String> {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .title(title)
            .source(format!("{binary} {version}"))
            .manual(binary)
            .render(&mut out)?;
        let page = String::from_utf8_lossy(&out).into_owned();
        Ok(complete(page, &cmd, title, binary))
    };
    let mut pages = vec![(format!("{binary}.1"), render(main.clone(), binary)?)];
    for sub in main.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = sub.get_name().to_string();
        if name.starts_with("check_") {
            let cmd = sub.clone().display_name(&name).bin_name(&name);
            pages.push((format!("{name}.1"), render(cmd, &name)?));
            pages.push((format!("{binary}-{name}.1"), format!(".so man1/{name}.1\n")));
        } else {
            let title = format!("{binary}-{name}");
            let cmd = sub
                .clone()
                .display_name(&title)
                .bin_name(format!("{binary} {name}"));
            pages.push((format!("{title}.1"), render(cmd, &title)?));
        }
    }
    Ok(pages)
}

/// clap_mangen's page with a SYNOPSIS that names every option's argument,
/// and EXIT STATUS, EXAMPLES, FILES and SEE ALSO before VERSION.
fn complete(page: String, cmd: &clap::Command, title: &str, binary: &str) -> String {
    let mut page = page;
    let name = cmd.get_name();
    if let Some(start) = page.find(".SH SYNOPSIS\n") {
        let end = page[start + 1..]
            .find("\n.SH ")
            .map_or(page.len(), |i| start + 2 + i);
        page.replace_range(start..end, &synopsis(cmd));
    }
    let mut extra = String::new();
    let check = name.starts_with("check_");
    extra.push_str(".SH \"EXIT STATUS\"\n");
    let codes: &[(&str, &str)] = if check {
        &[
            ("0", "OK."),
            ("1", "WARNING: the \\fB\\-w\\fR range was crossed, or frozen processes with \\fB\\-\\-frozen warning\\fR."),
            ("2", "CRITICAL: the \\fB\\-c\\fR range was crossed; httpd is not running (no scoreboard and no httpd process, or a stale scoreboard; see \\fB\\-\\-stale\\fR); or its processes are frozen (stopped, in uninterruptible sleep, their parent gone) or hung (connections wait in the listen queue while workers are idle; see \\fB\\-\\-frozen\\fR)."),
            ("3", "UNKNOWN: bad arguments, \\fB\\-\\-help\\fR, \\fB\\-V\\fR/\\fB\\-\\-version\\fR, a scoreboard that cannot be read or decoded (the line names the file and what is wrong), a timeout (\\fB\\-t\\fR), SIGTERM or SIGINT."),
        ]
    } else if name == "top" {
        &[
            ("0", "Quit with \\fBq\\fR, Ctrl\\-C, SIGTERM, SIGINT, SIGHUP or SIGQUIT (the terminal restored), or the plain frame printed (stdout not a terminal, or \\fB\\-\\-once\\fR)."),
            ("3", "Bad arguments, \\fB\\-\\-help\\fR, \\fB\\-V\\fR/\\fB\\-\\-version\\fR, or a scoreboard that cannot be opened or read at the start, reported as one \\fBSCOREBOARD UNKNOWN\\fR line on stdout (later failures are shown in the header while it runs)."),
        ]
    } else {
        &[
            ("0", "Success: the output is on stdout."),
            ("3", "Bad arguments, \\fB\\-\\-help\\fR, \\fB\\-V\\fR/\\fB\\-\\-version\\fR, or an error, reported as one \\fBSCOREBOARD UNKNOWN\\fR line on stdout."),
        ]
    };
    for (code, meaning) in codes {
        extra.push_str(&format!(".TP\n{code}\n{meaning}\n"));
    }
    extra.push_str(".PP\nNothing is ever written to stderr.\n");
    extra.push_str(".SH EXAMPLES\n");
    for (what, command) in examples(name, binary) {
        extra.push_str(&format!(
            ".PP\n{}\n.PP\n.nf\n.RS 4\n{}\n.RE\n.fi\n",
            roff_text(what),
            roff_text(&command)
        ));
    }
    extra.push_str(".SH FILES\n");
    for (file, what) in FILES {
        extra.push_str(&format!(
            ".TP\n\\fI{}\\fR\n{}\n",
            roff_text(file),
            roff_text(what)
        ));
    }
    extra.push_str(".SH \"SEE ALSO\"\n");
    let mut see: Vec<String> = [
        binary.to_string(),
        "check_scoreboard_busy".into(),
        "check_stuck_requests".into(),
        "check_vhost_saturation".into(),
    ]
    .into_iter()
    .chain(["dump", "status", "snapshot", "top", "instances"].map(|s| format!("{binary}-{s}")))
    .filter(|page| page != title)
    .map(|page| format!("\\fB{}\\fR(1)", roff_text(&page)))
    .collect();
    see.extend([
        "\\fBapache2\\fR(8)".to_string(),
        "\\fBhttpd\\fR(8)".to_string(),
    ]);
    extra.push_str(&see.join(",\n"));
    extra.push_str(",\nthe README in /usr/share/doc/apache\\-scoreboard/, and Apache's mod_status documentation.\n");
    match page.find(".SH VERSION") {
        Some(at) => page.insert_str(at, &extra),
        None => page.push_str(&extra),
    }
    page
}

/// `name [-w|--warning RANGE] ... ARG`: every option with its argument.
fn synopsis(cmd: &clap::Command) -> String {
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    let mut line = format!(".SH SYNOPSIS\n\\fB{}\\fR", roff_text(name));
    if cmd.has_subcommands() {
        line.push_str(" \\fISUBCOMMAND\\fR [\\fIOPTIONS\\fR]");
    }
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
    {
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("\\fB\\-{s}\\fR|\\fB\\-\\-{}\\fR", roff_text(l)),
            (Some(s), None) => format!("\\fB\\-{s}\\fR"),
            (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", roff_text(l)),
            (None, None) => continue,
        };
        let value = if arg.get_action().takes_values() {
            let possible: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            let shown = if possible.is_empty() {
                arg.get_value_names()
                    .map(|names| {
                        names
                            .iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_else(|| arg.get_id().to_string().to_uppercase())
            } else {
                possible.join("|")
            };
            format!(" \\fI{}\\fR", roff_text(&shown))
        } else {
            String::new()
        };
        let repeat = if matches!(arg.get_action(), clap::ArgAction::Count) {
            "..."
        } else {
            ""
        };
        line.push_str(&format!(" [{flag}{value}]{repeat}"));
    }
    for arg in cmd.get_positionals() {
        let shown = arg
            .get_value_names()
            .and_then(|n| n.first().map(|n| n.to_string()))
            .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
        line.push_str(&format!(" \\fI{}\\fR", roff_text(&shown)));
    }
    line.push('\n');
    line
}

/// Text for a roff line: `\` and `-` escaped, no leading `.` or `'`.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// The files every page lists.
const FILES: [(&str, &str); 5] = [
    (
        "/run/apache2/apache_scoreboard",
        "The ScoreBoardFile the README suggests (set in the httpd configuration; by default httpd keeps its scoreboard in anonymous memory that no other process can read). With Debian's APR no file appears there: the segment is the POSIX object /dev/shm/ShM.<hash> derived from the path.",
    ),
    ("/dev/shm/ShM.*", "Named scoreboard segments (POSIX shared memory), readable by root only."),
    (
        "/etc/apache-scoreboard/scoreboards",
        "One ScoreBoardFile path per line: the only scoreboards the binary reads while it holds its file capabilities.",
    ),
    (
        "/etc/apache-scoreboard/no-capability",
        "When present, the package does not give the binary its file capabilities (use sudo instead).",
    ),
    (
        "/proc/PID/stat, /proc/PID/fd, /proc/PID/net/tcp, /proc/PID/net/tcp6",
        "Whether httpd runs, which of its processes are stopped or stuck, and the listen queue of the sockets its parent listens on (the descriptors need root).",
    ),
];

/// (what it does, the command) for the page of `name`.
fn examples(name: &str, binary: &str) -> Vec<(&'static str, String)> {
    let sb = "--scoreboard /run/apache2/apache_scoreboard";
    match name {
        "check_scoreboard_busy" => vec![
            ("Warn at 80% and alert at 95% of MaxRequestWorkers:", format!("check_scoreboard_busy {sb} -w 80 -c 95")),
            ("Alert when connections pile up unaccepted in the listen queue:", format!("check_scoreboard_busy {sb} --metric queue -w 10 -c 50")),
            ("Alert on too few idle workers:", format!("check_scoreboard_busy {sb} --metric idle -w 5: -c 2:")),
        ],
        "check_stuck_requests" => vec![
            ("Requests running longer than a minute warn, longer than five minutes alert, websockets left out:", format!("check_stuck_requests {sb} -w 60s -c 5m --exclude-request 'GET /ws/*'")),
        ],
        "check_vhost_saturation" => vec![
            ("Alert when one site holds more than 80% of the workers:", format!("check_vhost_saturation {sb} -w 50 -c 80 --group-by host")),
            ("Alert when a tenant (one per AssignUserID user of the running mpm-itk) has no room left under MaxClientsVHost:", format!("check_vhost_saturation {sb} --group-by environment --metric avail_pct -w 25: -c 1:")),
            ("The same with the tenants of a file and a limit of 20 workers for one of them:", format!("check_vhost_saturation {sb} --group-by environment --environments /etc/nagios/environments --limit shop=20 --metric avail_pct -c 1:")),
        ],
        "dump" => vec![
            ("Every busy slot as JSON:", format!("{binary} dump {sb} --format json")),
            ("The tenants' table (active, idle, max, AVAIL) per serving user:", format!("{binary} dump {sb} --group-by user")),
        ],
        "status" => vec![("mod_status's ?auto lines without an HTTP request:", format!("{binary} status {sb}"))],
        "snapshot" => vec![
            ("Save the segment for a bug report (never overwrites without --force):", format!("{binary} snapshot /tmp/scoreboard.bin {sb}")),
        ],
        "top" => vec![
            ("The workers, refreshed every second (q quits):", format!("{binary} top {sb}")),
            ("One plain frame of a saved snapshot, as of when it was saved:", format!("{binary} top --scoreboard /tmp/scoreboard.bin --at 2026-11-21T00:46:33Z --once")),
        ],
        "instances" => vec![("The running httpd instances and their scoreboards:", format!("{binary} instances"))],
        _ => vec![
            ("How full the pool is:", format!("{binary} check_scoreboard_busy {sb} -w 80 -c 95")),
            ("The running httpd instances:", format!("{binary} instances")),
        ],
    }
}
