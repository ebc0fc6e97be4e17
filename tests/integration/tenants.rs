//! The tenant check (issue 13) on the real captures: `--limit` and
//! `--metric avail_pct`, `--group-by environment` with an environments
//! file, its hostile forms (one UNKNOWN line naming the file and the
//! line), `--group-by user` on a snapshot, and `dump --group-by`; then on a
//! live event server, AVAIL 0% under `--limit` while slow CGIs hold the
//! limited vhost.

use std::path::PathBuf;

use serde_json::Value;

use crate::fixtures::Fixture;
use crate::support::{auto_value, require_apache, Httpd, HttpdConfig, Mpm};
use crate::util::{perfdata, run_bin};

fn check(f: &Fixture, extra: &[&str]) -> crate::util::Run {
    let mut args = vec!["check_vhost_saturation".to_string()];
    args.extend(f.source_args());
    args.extend(f.limit_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    run_bin(&args)
}

/// mpm-itk's count against a limit, on a segment the test writes (prefork,
/// 2.4.63+ layout): every process's worker 0 whose status is at least
/// BUSY_READ and whose vhost is exactly `shop.test:80` (mpm_itk.c,
/// itk_post_perdir_config), whatever the process; mod_status's busy count
/// (the `active` column) leaves out `I` and quiescing processes.
#[test]
fn limits_count_as_mpm_itk_counts() {
    use apache_scoreboard::scoreboard::encode::{
        ProcessValues, SegmentBuilder, WorkerValues, DEFAULT_RESTART_TIME,
    };
    use apache_scoreboard::scoreboard::{status, Abi, Layout, Revision};
    let layout = Layout::new(Revision::H, Abi::Lp64).expect("layout");
    let slots: [(u8, &[u8], u32); 8] = [
        (status::BUSY_WRITE, b"shop.test:80", 0),
        (status::BUSY_KEEPALIVE, b"shop.test:80", 0),
        (status::IDLE_KILL, b"shop.test:80", 0),
        (status::GRACEFUL, b"shop.test:80", 1),
        (status::READY, b"shop.test:80", 0),
        (status::STARTING, b"shop.test:80", 0),
        (status::BUSY_WRITE, b"shop.test:8080", 0),
        (status::BUSY_READ, b"SHOP.test:80", 0),
    ];
    let mut b = SegmentBuilder::new(layout, slots.len(), 1);
    b.global(0, DEFAULT_RESTART_TIME);
    for (i, (st, vhost, quiescing)) in slots.iter().enumerate() {
        b.process(
            i,
            &ProcessValues {
                pid: 4000 + i as i32,
                quiescing: *quiescing,
                ..ProcessValues::default()
            },
        );
        b.worker(
            i,
            0,
            &WorkerValues {
                status: *st,
                vhost: vhost.to_vec(),
                start_time: DEFAULT_RESTART_TIME + 1_000_000,
                ..WorkerValues::default()
            },
        );
    }
    let file = environments_file("itk-count", &b.posix());
    let at = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH
            + std::time::Duration::from_micros(DEFAULT_RESTART_TIME as u64 + 60_000_000),
    )
    .to_string();
    let mut args: Vec<String> = [
        "check_vhost_saturation",
        "--scoreboard",
        file.to_str().expect("utf-8"),
        "--at",
        &at,
        "--mpm",
        "prefork",
        "--httpd-version",
        "2.4.71",
        "--max-workers",
        "8",
        "--metric",
        "avail_pct",
        "-c",
        "1:",
        "--limit",
        "shop.test:80=5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = run_bin(&args);
    assert_eq!(out.code, 0, "{}", out.stdout);
    // W, K, I and the quiescing process's G: 4 of 5.
    assert!(
        out.stdout
            .starts_with("SCOREBOARD OK - shop.test:80 AVAIL 20.0%: 4/5 workers (--limit) |"),
        "{}",
        out.stdout
    );
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(2)
        .expect("row")
        .split_whitespace()
        .collect();
    // mod_status: W and K busy (2.4.58+: G apart, and its process quiesces).
    assert_eq!(row[..5], ["shop.test:80", "2", "-", "5", "20.0%"]);
    args.extend(["--limit".into(), "shop.test:80=4".into()]);
    let full = run_bin(&args);
    assert_eq!(full.code, 2, "{}", full.stdout);
    assert!(
        full.stdout.contains("AVAIL 0.0%: 4/4 workers"),
        "{}",
        full.stdout
    );
    std::fs::remove_dir_all(file.parent().expect("dir")).ok();
}

/// A file of `text` in a fresh directory of its own.
fn environments_file(name: &str, text: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tenants-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("environments");
    std::fs::write(&path, text).expect("write environments");
    path
}

/// prefork-mixed: a.test 2 busy (W, K), c.test 2 (W, K), b.test, lab.test
/// and the cut long name 1 each (meta.json `vhost_busy`).
#[test]
fn limits_give_avail_and_the_worst_group_is_judged() {
    let f = Fixture::load("prefork-mixed");
    let busy = &f.expected()["vhost_busy"];
    assert_eq!(busy["a.test:18081"], 2);
    assert_eq!(busy["c.test:18081"], 2);
    let out = check(
        &f,
        &[
            "--metric",
            "avail_pct",
            "-w",
            "50:",
            "-c",
            "1:",
            "--limit",
            "a.test:18081=4",
            "--limit",
            "c.test:18081=2",
            "--limit",
            "idle.test:80=3",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout
            .starts_with("SCOREBOARD CRITICAL - c.test:18081 AVAIL 0.0%: 2/2 workers (--limit) |"),
        "{}",
        out.stdout
    );
    let perf = perfdata(&out.stdout);
    assert_eq!(perf["worst_avail_pct"], 0.0);
    assert_eq!(perf["avail_a_test_18081"], 50.0);
    assert_eq!(perf["avail_c_test_18081"], 0.0);
    assert!(
        out.stdout.contains("worst_avail_pct=0%;50:;1:;0;100"),
        "{}",
        out.stdout
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[1], "c.test:18081: avail_pct 0 is less than 1");
    // The table: worst first, a limited idle vhost at 100%, unlimited last.
    assert!(lines[2].starts_with("vhost "), "{}", out.stdout);
    let row = |i: usize| lines[i].split_whitespace().collect::<Vec<_>>();
    assert_eq!(row(3), ["c.test:18081", "2", "-", "2", "0.0%", "2.1s"]);
    assert_eq!(row(4)[..5], ["a.test:18081", "2", "-", "4", "50.0%"]);
    assert_eq!(row(5)[..5], ["idle.test:80", "0", "-", "3", "100.0%"]);
    assert_eq!(row(6)[3..5], ["-", "-"]);

    // Room left everywhere: OK, and -w 50: warns at exactly half.
    let ok = check(
        &f,
        &[
            "--metric",
            "avail_pct",
            "-c",
            "1:",
            "--limit",
            "c.test:18081=3",
        ],
    );
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    assert!(
        ok.stdout.contains("AVAIL 33.3%: 2/3 workers"),
        "{}",
        ok.stdout
    );
    let warn = check(
        &f,
        &[
            "--metric",
            "avail_pct",
            "-w",
            "51:",
            "--limit",
            "a.test:18081=4",
        ],
    );
    assert_eq!(warn.code, 1, "{}", warn.stdout);

    // No limit anywhere: avail_pct cannot be judged.
    let none = check(&f, &["--metric", "avail_pct", "-c", "1:"]);
    assert_eq!(none.code, 3, "{}", none.stdout);
    assert!(
        none.stdout
            .starts_with("SCOREBOARD UNKNOWN - avail_pct needs a limit"),
        "{}",
        none.stdout
    );
    // A limit of 0 is a usage error.
    let zero = check(&f, &["--limit", "a.test:18081=0"]);
    assert_eq!(zero.code, 3, "{}", zero.stdout);
    assert_eq!(zero.stdout.lines().count(), 1, "{}", zero.stdout);
}

#[test]
fn environments_group_vhosts_and_limit_their_total() {
    let f = Fixture::load("prefork-mixed");
    let file = environments_file(
        "ok",
        b"# the shop: a and c\nshop a.test c.test:18081 limit=5\n\
          blog B.TEST:* # case and port ignored\nquiet quiet.test limit=2\n",
    );
    let shown = file.display().to_string();
    let by_environment = |more: &[&str]| {
        let mut args = vec![
            "--group-by",
            "environment",
            "--environments",
            &shown,
            "--metric",
            "avail_pct",
            "-c",
            "1:",
        ];
        args.extend(more);
        check(&f, &args)
    };
    let out = by_environment(&["-w", "25:"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.starts_with(
            "SCOREBOARD WARNING - shop AVAIL 20.0%: 4/5 workers (environments file) |"
        ),
        "{}",
        out.stdout
    );
    let perf = perfdata(&out.stdout);
    assert_eq!(perf["env_shop"], 4.0);
    assert_eq!(perf["env_blog"], 1.0);
    assert_eq!(perf["avail_quiet"], 100.0);
    // A vhost in no environment is a group of its own, named.
    assert_eq!(perf["env_lab_test_18081"], 1.0);
    let table: Vec<&str> = out.stdout.lines().skip(2).collect();
    assert!(table[0].starts_with("environment "), "{}", out.stdout);
    assert!(table[1].starts_with("shop "), "{}", out.stdout);
    assert!(table[2].starts_with("quiet "), "{}", out.stdout);
    // A later --limit overrides the file's.
    let out = by_environment(&["--limit", "shop=4"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("shop AVAIL 0.0%: 4/4 workers (--limit)"),
        "{}",
        out.stdout
    );
    std::fs::remove_dir_all(file.parent().expect("dir")).ok();
}

#[test]
fn hostile_environments_files_are_one_unknown_line() {
    let f = Fixture::load("prefork-mixed");
    let with_file = |path: &str| check(&f, &["--group-by", "environment", "--environments", path]);
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "zero",
            b"a a.test\nb b.test limit=0\n",
            ":2: environment 'b' has limit=0",
        ),
        (
            "dup",
            b"a a.test\n\na c.test\n",
            ":3: environment 'a' is already defined on line 1",
        ),
        (
            "bad",
            b"a a.test\nroot:x:0:0:secret:/root:/bin/sh\n",
            ":2: expected an environment name",
        ),
        ("utf8", b"a a.test\nb \xff\n", ":2: is not UTF-8"),
        (
            "nopattern",
            b"lonely # nothing\n",
            ":1: environment 'lonely' names no vhost pattern",
        ),
    ];
    for (name, text, want) in cases {
        let file = environments_file(name, text);
        let shown = file.display().to_string();
        let out = with_file(&shown);
        assert_eq!(out.code, 3, "{name}: {}", out.stdout);
        assert_eq!(out.stdout.lines().count(), 1, "{name}: {}", out.stdout);
        assert!(
            out.stdout
                .starts_with(&format!("SCOREBOARD UNKNOWN - {shown}{want}")),
            "{name}: {}",
            out.stdout
        );
        assert!(!out.stdout.contains("secret"), "{}", out.stdout);
        std::fs::remove_dir_all(file.parent().expect("dir")).ok();
    }
    let out = with_file("/nonexistent/envs");
    assert_eq!(out.code, 3);
    assert_eq!(
        out.stdout,
        "SCOREBOARD UNKNOWN - /nonexistent/envs: cannot be opened: No such file or directory\n"
    );
    // A FIFO is never waited on; as root (the sudo mode) no symlink is
    // followed, as with every open root makes.
    let dir = environments_file("special", b"a a.test\n");
    let fifo = dir.with_file_name("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let out = with_file(fifo.to_str().expect("utf-8"));
    assert_eq!(
        out.stdout,
        format!(
            "SCOREBOARD UNKNOWN - {}: is not a regular file\n",
            fifo.display()
        )
    );
    let link = dir.with_file_name("link");
    std::os::unix::fs::symlink(&dir, &link).expect("symlink");
    let out = with_file(link.to_str().expect("utf-8"));
    let root =
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").expect("/proc/self"))
            == 0;
    if root {
        assert_eq!(
            out.stdout,
            format!(
                "SCOREBOARD UNKNOWN - {}: is a symlink (root follows none)\n",
                link.display()
            )
        );
    } else {
        assert_eq!(out.code, 0, "{}", out.stdout);
    }
    std::fs::remove_dir_all(dir.parent().expect("dir")).ok();
    // Without a file and without a running httpd there are no environments.
    let out = check(&f, &["--group-by", "environment"]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(
        out.stdout.contains("needs --environments FILE"),
        "{}",
        out.stdout
    );
    let out = check(&f, &["--environments", "/nonexistent/envs"]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(
        out.stdout.contains("--group-by environment only"),
        "{}",
        out.stdout
    );
}

#[test]
fn user_needs_a_live_server() {
    let f = Fixture::load("event-slow");
    let out = check(&f, &["--group-by", "user"]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(
        out.stdout
            .starts_with("SCOREBOARD UNKNOWN - --group-by user needs a live server"),
        "{}",
        out.stdout
    );
}

/// On a live event server: `--limit` on b.test, two requests held there,
/// AVAIL 0% and CRITICAL with `-c 1:`; a.test with its own limit and
/// nothing held at 100%; the busy total is mod_status's at the same
/// instant; `dump --group-by` gives the same figures.
#[test]
fn live_event_limit() {
    if !require_apache() {
        return;
    }
    let h = Httpd::start(HttpdConfig::new(Mpm::Event)).expect("httpd");
    let b = h.hold("b.test", 20, "tenant-b1");
    let b2 = h.hold("b.test", 20, "tenant-b2");
    let port = h.port();
    let source = [
        "--scoreboard".to_string(),
        h.scoreboard_file().display().to_string(),
    ];
    let limited = |extra: &[&str]| {
        let mut args = vec!["check_vhost_saturation".to_string()];
        args.extend(source.iter().cloned());
        args.extend(
            [
                "--metric".to_string(),
                "avail_pct".into(),
                "-w".into(),
                "25:".into(),
                "-c".into(),
                "1:".into(),
                "--limit".into(),
                format!("b.test:{port}=2"),
                "--limit".into(),
                format!("a.test:{port}=3"),
            ]
            .into_iter()
            .chain(extra.iter().map(|s| s.to_string())),
        );
        run_bin(&args)
    };
    // Read while mod_status's own page is held at the instant it counted:
    // the busy total is its BusyWorkers (the status request's W included).
    // A slot in passing (the previous connection logging or closing) may
    // change between the two: such an instant is read again.
    let mut attempts = 0;
    let out = loop {
        let (auto, out) = h
            .synchronized_status(|| limited(&[]))
            .expect("synchronized ?auto");
        let busy: f64 = auto_value(&auto, "BusyWorkers")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no BusyWorkers: {auto}"));
        attempts += 1;
        if perfdata(&out.stdout)["busy"] == busy {
            break out;
        }
        assert!(
            attempts < 10,
            "busy is not mod_status's: {auto}\n{}",
            out.stdout
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout.starts_with(&format!(
            "SCOREBOARD CRITICAL - b.test:{port} AVAIL 0.0%: 2/2 workers (--limit) |"
        )),
        "{}",
        out.stdout
    );
    let perf = perfdata(&out.stdout);
    assert_eq!(perf[&format!("avail_b_test_{port}")], 0.0);
    assert_eq!(perf[&format!("avail_a_test_{port}")], 100.0);
    assert_eq!(perf[&format!("vhost_b_test_{port}")], 2.0);

    let mut dump = vec!["dump".to_string()];
    dump.extend(source.iter().cloned());
    dump.extend(
        ["--group-by", "vhost", "--format", "json", "--limit"]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("b.test:{port}=2")]),
    );
    let out = run_bin(&dump);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let groups: Value = serde_json::from_str(&out.stdout).expect("json");
    let b_group = groups
        .as_array()
        .expect("array")
        .iter()
        .find(|g| g["group"] == format!("b.test:{port}"))
        .unwrap_or_else(|| panic!("no b.test group: {}", out.stdout));
    assert_eq!(b_group["active"], 2);
    assert_eq!(b_group["max"], 2);
    assert_eq!(b_group["avail_pct"], 0.0);
    // dump's user column: the user /proc gives the held requests' process
    // (event: the worker process itself), by its /etc/passwd name.
    let mut dump = vec!["dump".to_string(), "--format".into(), "json".into()];
    dump.extend(source.iter().cloned());
    let rows: Value = serde_json::from_str(&run_bin(&dump).stdout).expect("dump json");
    for held in [&b, &b2] {
        let row = rows
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["request"] == held.request_line())
            .unwrap_or_else(|| panic!("{} not in dump: {rows:#}", held.request_line()));
        let pid = row["process_pid"].as_i64().expect("pid");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|u| u.split_whitespace().next())
            .expect("Uid");
        let passwd = std::fs::read_to_string("/etc/passwd").expect("passwd");
        let name = passwd
            .lines()
            .find(|l| l.split(':').nth(2) == Some(uid))
            .and_then(|l| l.split(':').next())
            .expect("user in /etc/passwd");
        assert_eq!(row["user"], name, "{row:#}");
    }
    drop((b, b2));
}
