//! Capacity from the running httpd's own configuration, against real
//! servers: Debian's installed `/etc/apache2` tree copied with its structure
//! intact (event, worker, prefork switched with a2dismod/a2enmod inside the
//! copy), a MaxRequestWorkers httpd itself adjusts at start-up, a RHEL-style
//! tree with the reader's edge cases, `status` without flags against the
//! live mod_status, and a stock configuration saturated with no capacity
//! argument, as the shipped Nagios and Icinga 2 definitions run the check.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::httpd::Tree;
use crate::support::{auto_value, require_apache, Httpd, HttpdConfig, Mpm};
use crate::util::{perfdata, run_bin, run_program};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn on(h: &Httpd, cmd: &str, more: &[&str]) -> Vec<String> {
    let mut a = args(&[
        cmd,
        "--scoreboard",
        &h.scoreboard_file().display().to_string(),
    ]);
    a.extend(args(more));
    a
}

/// The line of `file` that sets `directive` (1-based), as `-v` cites it.
fn line_of(file: &Path, directive: &str) -> usize {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    1 + text
        .lines()
        .position(|l| l.trim_start().starts_with(directive))
        .unwrap_or_else(|| panic!("{directive} not in {}", file.display()))
}

/// mod_status's Scoreboard string has one character per enabled slot:
/// MaxRequestWorkers as httpd runs with it (AP_MPMQ_MAX_DAEMONS x
/// ThreadsPerChild), the server's own answer to what the capacity is.
fn mod_status_capacity(h: &Httpd) -> usize {
    let body = h
        .get("lab.test", "/server-status?auto", Duration::from_secs(5))
        .expect("?auto");
    auto_value(&body, "Scoreboard").expect("Scoreboard").len()
}

fn debian(mpm: Mpm, edits: &[(&str, &str)]) -> HttpdConfig {
    HttpdConfig {
        tree: Tree::Debian {
            edits: edits
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        },
        ..HttpdConfig::new(mpm)
    }
}

/// Debian's stock tree for each MPM (MaxRequestWorkers 150 in each
/// mods-available/mpm_*.conf), and MaxRequestWorkers 70 that httpd rounds
/// down to 50 for ThreadsPerChild 25, saying so at start-up (worker
/// AH00316, event AH00513): the check's capacity is the server's, and `-v`
/// cites the file and line.
#[test]
fn debian_tree_capacity_is_what_httpd_runs_with() {
    if !require_apache() {
        return;
    }
    let adjusted = "StartServers 2\nMinSpareThreads 25\nMaxSpareThreads 75\nThreadLimit 64\n\
                    ThreadsPerChild 25\nMaxRequestWorkers 70\nMaxConnectionsPerChild 0\n";
    /// (MPM, mpm_*.conf written over Debian's, MaxRequestWorkers and
    /// ThreadsPerChild httpd runs with, what httpd says at start-up)
    type Case<'a> = (Mpm, Option<&'a str>, usize, usize, Option<&'a str>);
    let cases: [Case; 5] = [
        (Mpm::Event, None, 150, 25, None),
        (Mpm::Worker, None, 150, 25, None),
        (Mpm::Prefork, None, 150, 1, None),
        (
            Mpm::Worker,
            Some(adjusted),
            50,
            25,
            Some("AH00316: WARNING: MaxRequestWorkers of 70 is not an integer multiple of ThreadsPerChild of 25, decreasing to nearest multiple 50"),
        ),
        (
            Mpm::Event,
            Some(adjusted),
            50,
            25,
            Some("AH00513: WARNING: MaxRequestWorkers of 70 is not an integer multiple of ThreadsPerChild of 25, decreasing to nearest multiple 50"),
        ),
    ];
    for (mpm, conf, workers, tpc, said) in cases {
        let file = format!("mods-available/mpm_{}.conf", mpm.name());
        let edits: Vec<(&str, &str)> = conf.map(|c| (file.as_str(), c)).into_iter().collect();
        let h = Httpd::start(debian(mpm, &edits)).unwrap_or_else(|e| panic!("{mpm:?}: {e}"));
        let what = format!(
            "{mpm:?} {}",
            if conf.is_some() { "adjusted" } else { "stock" }
        );
        assert_eq!(mod_status_capacity(&h), workers, "{what}: mod_status");
        if let Some(said) = said {
            assert!(
                h.logs().contains(said),
                "{what}: httpd did not say {said:?}:\n{}",
                h.logs()
            );
        }

        let r = run_bin(&on(
            &h,
            "check_scoreboard_busy",
            &["-v", "--max-lines", "100"],
        ));
        assert_eq!(r.code, 0, "{what}: {}", r.stdout);
        assert!(
            r.stdout.contains(&format!("/{workers} workers busy")),
            "{what}: {}",
            r.stdout
        );
        assert_eq!(perfdata(&r.stdout)["capacity"], workers as f64, "{what}");
        // Cited as httpd read it: through the mods-enabled symlink.
        let conf_file = h
            .tree_root()
            .join(file.replace("mods-available", "mods-enabled"));
        let cited = format!(
            "MaxRequestWorkers {workers} ({} line {}",
            conf_file.display(),
            line_of(&conf_file, "MaxRequestWorkers")
        );
        assert!(
            r.stdout.contains(&cited),
            "{what}: no {cited:?} in\n{}",
            r.stdout
        );
        if let Some(said) = said {
            let code = &said[..7];
            assert!(
                r.stdout.contains(&format!("configured 70, not a multiple of ThreadsPerChild 25: rounded down to 50 ({code})")),
                "{what}: {}",
                r.stdout
            );
        }
        let tpc_cited = if mpm == Mpm::Prefork {
            "ThreadsPerChild 1 (httpd default)".to_string()
        } else {
            format!(
                "ThreadsPerChild {tpc} ({} line {})",
                conf_file.display(),
                line_of(&conf_file, "ThreadsPerChild")
            )
        };
        assert!(
            r.stdout.contains(&tpc_cited),
            "{what}: no {tpc_cited:?} in\n{}",
            r.stdout
        );
        assert!(
            r.stdout
                .contains(&format!("httpd {} (of the binary)", apache_version())),
            "{what}: {}",
            r.stdout
        );

        // `status` without flags drops the disabled slots as mod_status does.
        let s = run_bin(&on(&h, "status", &[]));
        let board = auto_value(&s.stdout, "Scoreboard").expect("our Scoreboard");
        assert_eq!(board.len(), workers, "{what}: {}", s.stdout);

        // instances: the same figures with their sources, the listen address.
        let i = run_bin(&args(&["instances"]));
        let block = instance_block(&i.stdout, h.pid());
        assert!(block.contains(&cited), "{what}: {block}");
        assert!(
            block.contains(&format!(
                "listen        127.0.0.1:{} ({} line 2)",
                h.port(),
                h.tree_root().join("ports.conf").display()
            )),
            "{what}: {block}"
        );
        assert!(
            block.contains(&format!(
                "mpm           {} ({} line",
                mpm.name(),
                h.tree_root()
                    .join(format!("mods-enabled/mpm_{}.load", mpm.name()))
                    .display()
            )),
            "{what}: {block}"
        );
    }
}

/// `instances`' block for one pid.
fn instance_block(out: &str, pid: u32) -> String {
    let head = format!("httpd pid {pid}\n");
    let start = out
        .find(&head)
        .unwrap_or_else(|| panic!("no {head:?} in\n{out}"));
    let rest = &out[start + head.len()..];
    let end = rest.find("httpd pid ").unwrap_or(rest.len());
    rest[..end].to_string()
}

fn apache_version() -> String {
    let out = std::process::Command::new(crate::support::httpd::APACHE2)
        .arg("-v")
        .output()
        .expect("apache2 -v");
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find("Apache/").expect("version") + "Apache/".len();
    text[start..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A RHEL-style tree (conf/httpd.conf, conf.modules.d/*.conf, IncludeOptional
/// conf.d/*.conf) started with `-d`/`-f`/`-D`, with the reader's edge cases:
/// nested IfModule/IfDefine, Define and ${VAR}, a continued line, comments,
/// a glob and a missing IncludeOptional, a relative ScoreBoardFile; the
/// MaxRequestWorkers of 10 is rounded to 8 for ThreadsPerChild 4.
#[test]
fn rhel_style_tree() {
    if !require_apache() {
        return;
    }
    let conf = "# RHEL layout, tests/integration/config.rs\n\
        ServerRoot \"@ROOT@\"\n\
        Include conf.modules.d/*.conf\n\
        Define LAB_POOL 10\n\
        Listen 127.0.0.1:@PORT@\n\
        PidFile @HARNESS@/run/httpd.pid\n\
        ErrorLog @HARNESS@/logs/error.log\n\
        DefaultRuntimeDir @HARNESS@/run\n\
        Mutex file:@HARNESS@/run default\n\
        User www-data\nGroup www-data\nServerName lab.test\n\
        ScoreBoardFile apache_status\n\
        <IfModule !mpm_prefork_module>\n\
        \x20   <IfDefine LAB>\n\
        \x20       <IfModule worker.c>\n\
        \x20           # MaxRequestWorkers 1\n\
        \x20           ServerLimit 4\n\
        \x20           ThreadLimit 8\n\
        \x20           ThreadsPerChild \\\n\
        \x20               4\n\
        \x20           MaxRequestWorkers ${LAB_POOL}\n\
        \x20       </IfModule>\n\
        \x20   </IfDefine>\n\
        \x20   <IfDefine !LAB>\n\
        \x20       MaxRequestWorkers 999\n\
        \x20   </IfDefine>\n\
        </IfModule>\n\
        IncludeOptional conf.d/*.conf\n\
        IncludeOptional not-there.d/*.conf\n";
    let files = [
        ("conf/httpd.conf", conf),
        (
            "conf.modules.d/00-mpm.conf",
            "#LoadModule mpm_event_module @MODULES@/mod_mpm_event.so\n\
             LoadModule mpm_worker_module @MODULES@/mod_mpm_worker.so\n",
        ),
        (
            "conf.modules.d/01-base.conf",
            "LoadModule authz_core_module @MODULES@/mod_authz_core.so\n\
             LoadModule status_module @MODULES@/mod_status.so\n\
             LoadModule alias_module @MODULES@/mod_alias.so\n\
             LoadModule cgid_module @MODULES@/mod_cgid.so\n",
        ),
        (
            "conf.d/lab.conf",
            "<Location /server-status>\n    SetHandler server-status\n</Location>\n\
             ScriptAlias /cgi-bin/ \"@HARNESS@/cgi-bin/\"\n\
             <Directory \"@HARNESS@/cgi-bin\">\n    Options +ExecCGI\n</Directory>\n\
             <VirtualHost 127.0.0.1:@PORT@>\n    ServerName lab.test\n    ServerAlias a.test b.test\n</VirtualHost>\n",
        ),
    ];
    let cfg = HttpdConfig {
        tree: Tree::Files {
            files: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
            conf: "conf/httpd.conf".into(),
            defines: vec!["LAB".into()],
        },
        ..HttpdConfig::new(Mpm::Worker)
    };
    let h = Httpd::start(cfg).expect("RHEL-style tree");
    assert_eq!(mod_status_capacity(&h), 8);
    let said = "AH00316: WARNING: MaxRequestWorkers of 10 is not an integer multiple of ThreadsPerChild of 4, decreasing to nearest multiple 8";
    assert!(h.logs().contains(said), "{}", h.logs());
    let held = h.hold("a.test", 30, "rhel1");
    let r = run_bin(&on(
        &h,
        "check_scoreboard_busy",
        &["-v", "--max-lines", "100"],
    ));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("/8 workers busy"), "{}", r.stdout);
    let conf_file = h.tree_root().join("conf/httpd.conf");
    for cited in [
        format!("MaxRequestWorkers 8 ({} line 22; configured 10, not a multiple of ThreadsPerChild 4: rounded down to 8 (AH00316))", conf_file.display()),
        format!("ThreadsPerChild 4 ({} line 20)", conf_file.display()),
        format!("ServerLimit 4 ({} line 18), ThreadLimit 8 ({} line 19)", conf_file.display(), conf_file.display()),
    ] {
        assert!(r.stdout.contains(&cited), "no {cited:?} in\n{}", r.stdout);
    }
    let i = run_bin(&args(&["instances"]));
    let block = instance_block(&i.stdout, h.pid());
    for want in [
        format!(
            "scoreboard    {} ({} line 13)",
            h.scoreboard_file().display(),
            conf_file.display()
        ),
        format!(
            "vhost         127.0.0.1:{} lab.test alias a.test b.test",
            h.port()
        ),
        format!(
            "configuration {} (ServerRoot {}, 4 files)",
            conf_file.display(),
            h.tree_root().display()
        ),
    ] {
        assert!(block.contains(&want), "no {want:?} in\n{block}");
    }
    drop(held);
}

/// A generated configuration: `status` without any flag prints the
/// Scoreboard string the live mod_status prints, read at the same instant.
#[test]
fn status_without_flags_matches_live_mod_status() {
    if !require_apache() {
        return;
    }
    let h = Httpd::start(HttpdConfig::new(Mpm::Event)).expect("event");
    let _held = h.hold("a.test", 30, "flagless");
    for attempt in 0..=50 {
        let (auto, ours) = h
            .synchronized_status(|| run_bin(&on(&h, "status", &[])))
            .expect("synchronized ?auto");
        let theirs = auto_value(&auto, "Scoreboard").expect("theirs");
        let mine = auto_value(&ours.stdout, "Scoreboard").expect("ours");
        // A slot in a passing state may change between the two reads.
        if theirs != mine
            && attempt < 50
            && (theirs.contains(['R', 'L', 'C', 'S']) || mine.contains(['R', 'L', 'C', 'S']))
        {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        assert_eq!(mine, theirs);
        assert_eq!(
            mine.len(),
            12,
            "MaxRequestWorkers 12 of ServerLimit 4 x ThreadLimit 8"
        );
        break;
    }
}

/// Debian's tree (event; MaxRequestWorkers 10, ThreadsPerChild 5 so that
/// few CGIs fill it) saturated by slow CGIs: `/server-status` no longer
/// answers; the check, with no capacity argument and no thresholds, says
/// CRITICAL, and so do the shipped Nagios command line and the Icinga 2
/// CheckCommand's default thresholds.
#[test]
fn saturated_stock_configuration_is_critical() {
    if !require_apache() {
        return;
    }
    let pool = "StartServers 2\nMinSpareThreads 5\nMaxSpareThreads 10\nThreadLimit 64\n\
                ThreadsPerChild 5\nMaxRequestWorkers 10\nMaxConnectionsPerChild 0\n";
    let h = Httpd::start(debian(
        Mpm::Event,
        &[("mods-available/mpm_event.conf", pool)],
    ))
    .expect("Debian event");
    let held = h.saturate("lab.test", 60, "sat", 10);
    assert!(
        h.get("lab.test", "/server-status?auto", Duration::from_secs(2))
            .is_err(),
        "mod_status still answered with every worker held"
    );
    let r = run_bin(&on(&h, "check_scoreboard_busy", &[]));
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stdout
            .starts_with("SCOREBOARD CRITICAL - 10/10 workers busy (100.0%)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("busy_pct=100%;80;95;0;100"),
        "{}",
        r.stdout
    );

    // The shipped Nagios definition, run by /bin/sh as Nagios runs it.
    let cfg = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/apache-scoreboard.cfg"),
    )
    .expect("checks/apache-scoreboard.cfg");
    let line = cfg
        .split("define command {")
        .find(|d| d.contains("command_name    check_scoreboard_busy"))
        .and_then(|d| {
            d.lines()
                .find_map(|l| l.trim().strip_prefix("command_line"))
        })
        .expect("check_scoreboard_busy command_line")
        .trim();
    let dir = std::env::temp_dir().join(format!("apache-scoreboard-nagios-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("mkdir");
    std::os::unix::fs::symlink(crate::util::BIN, dir.join("check_scoreboard_busy"))
        .expect("symlink");
    let command = line
        .replace("$USER1$", &dir.display().to_string())
        .replace("$ARG1$", "80")
        .replace("$ARG2$", "95")
        .replace(
            "$ARG3$",
            &format!("--scoreboard {}", h.scoreboard_file().display()),
        );
    let nagios = run_program(Path::new("/bin/sh"), &args(&["-c", &command]));
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(nagios.code, 2, "{command}: {}", nagios.stdout);

    // Icinga 2: the CheckCommand's default vars, nothing else set.
    let conf = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/apache-scoreboard.conf"),
    )
    .expect("checks/apache-scoreboard.conf");
    let var = |name: &str| {
        conf.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("vars.{name} = ")))
            .unwrap_or_else(|| panic!("no vars.{name}"))
            .trim()
            .to_string()
    };
    let (w, c) = (
        var("scoreboard_busy_warning"),
        var("scoreboard_busy_critical"),
    );
    let icinga = run_bin(&on(
        &h,
        "check_scoreboard_busy",
        &["--warning", &w, "--critical", &c],
    ));
    assert_eq!(icinga.code, 2, "{}", icinga.stdout);
    let (w, c) = (
        var("vhost_saturation_warning"),
        var("vhost_saturation_critical"),
    );
    let vhost = run_bin(&on(
        &h,
        "check_vhost_saturation",
        &["--warning", &w, "--critical", &c],
    ));
    assert_eq!(vhost.code, 2, "{}", vhost.stdout);
    assert!(
        vhost
            .stdout
            .contains("holds 10/10 workers (100.0% of capacity"),
        "{}",
        vhost.stdout
    );
    drop(held);
}
