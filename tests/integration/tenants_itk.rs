//! Issue 13 against real mpm-itk: Debian's `libapache2-mpm-itk` (2.4.7-04)
//! on prefork, vhost `a.test` assigned to one test user with
//! `MaxClientsVHost 2`, `b.test` to another with `MaxClientsVHost 3`.
//!
//! The test users exist only where the server and the binary look: the
//! harness runs httpd in a private mount namespace (`unshare --mount`) with
//! copies of /etc/passwd and /etc/group, the two users added, bind-mounted
//! over the originals ([`HttpdConfig::etc`]), and the binary runs in that
//! namespace too ([`Httpd::command`], `nsenter --mount`). mpm-itk resolves
//! `AssignUserID` and our binary reads the names from the same files; the
//! host's /etc is never written.
//!
//! The check's AVAIL for a's environment is 50 % with one request held
//! (mpm-itk still serves another), 0 % and CRITICAL (`-c 1:`) with one
//! held and one kept alive, and with two held, exactly when mpm-itk answers
//! 503 and logs its refusal; b's is 100 %. `--group-by user` and `dump`'s
//! user column name the users the forks switched to (`serving_uids`); the
//! prefork children themselves stay www-data's.
//!
//! mpm-itk's rule (mpm_itk.c, `itk_post_perdir_config`): a request is
//! refused with 503 and "MaxClientsVhost reached for NAME:PORT, refusing
//! client." when the slots `[i][0]` (i below ServerLimit) whose status is at
//! least BUSY_READ and whose vhost is `ServerName:port` number more than the
//! limit, the request's own slot included.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use apache_scoreboard::process::users::serving_uids;
use serde_json::Value;

use crate::support::httpd::{require_apache, Httpd, HttpdConfig, Mpm};
use crate::util::{perfdata, wait_bounded, Run, BIN};

const ITK_MODULE: &str = "/usr/lib/apache2/modules/mpm_itk.so";
/// The tenants: (user and group name, uid and gid, vhost, MaxClientsVHost).
const TENANTS: [(&str, u32, &str, u32); 2] = [
    ("sb-tenant-a", 59_401, "a.test", 2),
    ("sb-tenant-b", 59_402, "b.test", 3),
];
/// Debian's apache2 user, which serves the other vhosts.
const WWW_DATA: u32 = 33;
/// The tenant check's AVAIL per environment, CRITICAL without room.
const AVAIL_BY_ENVIRONMENT: [&str; 6] = [
    "--group-by",
    "environment",
    "--metric",
    "avail_pct",
    "-c",
    "1:",
];
/// mod_status's letters for the statuses at least BUSY_READ.
const AT_LEAST_BUSY_READ: &str = "RWKLDCGI";

/// mpm-itk is installed (and a server can run), else a skip note; under
/// `CI=true` a panic instead (.ci/run installs it).
fn require_itk() -> bool {
    if !require_apache() {
        return false;
    }
    if Path::new(ITK_MODULE).is_file() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("CI=true but {ITK_MODULE} is missing (apt-get install libapache2-mpm-itk)");
    }
    eprintln!("skipping mpm-itk test: {ITK_MODULE} is missing");
    false
}

/// The host's `/etc/<file>` without entries that clash with the tenants
/// (by name or id), the tenants appended.
fn with_tenants(file: &str, entry: impl Fn(&str, u32) -> String) -> String {
    let host = std::fs::read_to_string(Path::new("/etc").join(file)).expect(file);
    let clashes = |line: &str| {
        let mut fields = line.split(':');
        let name = fields.next().unwrap_or_default();
        let id = fields.nth(1).unwrap_or_default();
        TENANTS
            .iter()
            .any(|(n, i, ..)| name == *n || id == i.to_string())
    };
    let mut text: String = host
        .lines()
        .filter(|l| !clashes(l))
        .map(|l| format!("{l}\n"))
        .collect();
    for (name, id, ..) in TENANTS {
        text.push_str(&entry(name, id));
    }
    text
}

fn itk_config() -> HttpdConfig {
    let passwd = with_tenants("passwd", |n, id| {
        format!("{n}:x:{id}:{id}:tenant test user:/nonexistent:/usr/sbin/nologin\n")
    });
    let group = with_tenants("group", |n, id| format!("{n}:x:{id}:\n"));
    HttpdConfig {
        vhost_conf: TENANTS
            .iter()
            .map(|(user, _, vhost, max)| {
                (
                    vhost.to_string(),
                    format!("AssignUserID {user} {user}\nMaxClientsVHost {max}"),
                )
            })
            .collect(),
        etc: vec![("passwd".into(), passwd), ("group".into(), group)],
        ..HttpdConfig::new(Mpm::Itk)
    }
}

/// Runs the binary in the server's mount namespace; stderr must stay empty.
fn run_inside(h: &Httpd, args: &[&str]) -> Run {
    let child = h
        .command(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nsenter apache-scoreboard");
    let run = wait_bounded(child, &format!("{args:?}"));
    assert!(run.stderr.is_empty(), "{args:?}: stderr: {}", run.stderr);
    run
}

/// `dump --format json`: every live slot.
fn dump(h: &Httpd) -> Vec<Value> {
    let scoreboard = h.scoreboard_file().display().to_string();
    let run = run_inside(
        h,
        &["dump", "--scoreboard", &scoreboard, "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    match serde_json::from_str(&run.stdout) {
        Ok(Value::Array(rows)) => rows,
        other => panic!("dump: {other:?}\n{}", run.stdout),
    }
}

/// The slots mpm-itk counts against `vhost`'s MaxClientsVHost: `[i][0]`,
/// status at least BUSY_READ, vhost string `vhost:port`.
fn itk_counted<'a>(rows: &'a [Value], vhost: &str, port: u16) -> Vec<&'a Value> {
    let own = format!("{vhost}:{port}");
    rows.iter()
        .filter(|r| r["thread_slot"] == 0 && r["vhost"] == own.as_str())
        .filter(|r| {
            r["status"]
                .as_str()
                .is_some_and(|s| AT_LEAST_BUSY_READ.contains(s))
        })
        .collect()
}

fn itk_count(rows: &[Value], vhost: &str, port: u16) -> usize {
    itk_counted(rows, vhost, port).len()
}

/// `GET /ok.txt` on `vhost` over a fresh connection: the status code.
fn status_of(h: &Httpd, vhost: &str) -> u16 {
    match h.get(vhost, "/ok.txt", Duration::from_secs(10)) {
        Ok(_) => 200,
        Err(e) => e
            .split_whitespace()
            .find_map(|w| w.parse::<u16>().ok().filter(|c| (100..600).contains(c)))
            .unwrap_or_else(|| panic!("GET /ok.txt on {vhost}: {e}")),
    }
}

/// A connection that got one answer on `vhost` and stays open
/// (keep-alive): mpm-itk's fork waits on it in state `K`.
fn kept_alive(h: &Httpd, vhost: &str) -> TcpStream {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, h.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET /ok.txt HTTP/1.1\r\nHost: {vhost}\r\n\r\n").expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"\r\n\r\nok\n") {
        let n = stream.read(&mut buf).expect("keep-alive answer");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    stream
}

/// Polls `dump` until `ready` holds for its rows (slot updates trail the
/// client by a moment), at most 10 s.
fn dump_until(h: &Httpd, what: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = dump(h);
        if ready(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "{what}: {rows:#?}\n{}", h.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tenants_on_mpm_itk_avail_and_users_agree_with_its_refusals() {
    if !require_itk() {
        return;
    }
    let h = Httpd::start(itk_config()).unwrap_or_else(|e| panic!("{e}"));
    let port = h.port();
    let [(user_a, uid_a, a, max_a), (user_b, uid_b, b, _)] = TENANTS;
    assert_eq!(max_a, 2);

    // One held: the limit still has room for another request (its own
    // slot makes two).
    let first = h.hold(a, 60, "a0");
    assert_eq!(status_of(&h, a), 200, "{}", h.logs());
    let refused = format!("MaxClientsVhost reached for {a}:{port}, refusing client.");
    let refusals = || {
        let log = std::fs::read_to_string(h.error_log()).expect("error log");
        log.matches(&refused).count()
    };

    // That request's slot counts until it leaves C (closing) for _: after
    // a `Connection: close` answer the client may be faster than httpd.
    dump_until(&h, "the answered request's slot to be free", |rows| {
        itk_count(rows, a, port) == 1
    });

    let avail_a = || {
        let env = tenant_check(&h, &AVAIL_BY_ENVIRONMENT);
        (env.code, perfdata(&env.stdout)["avail_sb_tenant_a"])
    };
    assert_eq!(avail_a(), (0, 50.0));

    // A kept-alive connection counts (K is above BUSY_READ): with one held
    // request and one in keep-alive, the next is refused, and the check
    // already said there was no room.
    let idle_connection = kept_alive(&h, a);
    dump_until(&h, "a keep-alive slot on a.test", |rows| {
        itk_count(rows, a, port) == 2
            && rows
                .iter()
                .any(|r| r["status"] == "K" && r["vhost"] == format!("{a}:{port}").as_str())
    });
    assert_eq!(avail_a(), (2, 0.0));
    assert_eq!(status_of(&h, a), 503, "{}", h.logs());
    assert_eq!(refusals(), 1, "{}", h.logs());
    drop(idle_connection);
    dump_until(&h, "the keep-alive slot to end", |rows| {
        itk_count(rows, a, port) == 1
    });

    // Two held: the slots say 2 of 2, and mpm-itk refuses the next one.
    let second = h.hold(a, 60, "a1");
    let rows = dump_until(&h, "two held requests on a.test", |rows| {
        itk_count(rows, a, port) == 2
    });
    assert_eq!(status_of(&h, a), 503, "{}", h.logs());
    assert_eq!(refusals(), 2, "{}", h.logs());
    // The other tenant's vhost is not limited by a's slots.
    assert_eq!(status_of(&h, b), 200, "{}", h.logs());
    dump_until(&h, "b's answered request's slot to be free", |rows| {
        itk_count(rows, b, port) == 0
    });

    // The tenant check agrees: a's environment (its AssignUserID user,
    // from the running configuration) has no room, b's all of it.
    let env = tenant_check(&h, &AVAIL_BY_ENVIRONMENT);
    assert_eq!(env.code, 2, "{}", env.stdout);
    let worst = format!(
        "SCOREBOARD CRITICAL - {user_a} AVAIL 0.0%: 2/2 workers (MaxClientsVHost of {a}:{port}) |"
    );
    assert!(env.stdout.starts_with(&worst), "{}", env.stdout);
    let perf = perfdata(&env.stdout);
    assert_eq!(perf["avail_sb_tenant_a"], 0.0, "{}", env.stdout);
    assert_eq!(perf["avail_sb_tenant_b"], 100.0, "{}", env.stdout);
    assert_eq!(
        table_row(&env.stdout, user_a)[..5],
        [user_a, "2", "-", "2", "0.0%"]
    );
    assert_eq!(
        table_row(&env.stdout, user_b),
        [user_b, "0", "-", "3", "100.0%", "-"]
    );
    // The held requests run in mpm-itk's per-connection forks as a's user;
    // the slots' own processes are www-data's.
    let held_pids: Vec<i32> = itk_counted(&rows, a, port)
        .iter()
        .filter_map(|r| r["process_pid"].as_i64().map(|p| p as i32))
        .collect();
    assert_eq!(held_pids.len(), 2, "{rows:#?}");
    let uids = serving_uids(held_pids.iter().copied());
    for pid in &held_pids {
        assert_eq!(
            uids.get(pid),
            Some(&uid_a),
            "pid {pid} ({user_a}): {uids:?}"
        );
        let own = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        assert!(own.contains(&format!("\nUid:\t{WWW_DATA}\t")), "{own}");
    }
    let idle: Vec<i32> = rows
        .iter()
        .filter(|r| r["status"] == "_")
        .filter_map(|r| r["process_pid"].as_i64().map(|p| p as i32))
        .collect();
    assert!(!idle.is_empty(), "{rows:#?}");
    let idle_uids = serving_uids(idle.iter().copied());
    assert!(idle_uids.values().all(|&u| u == WWW_DATA), "{idle_uids:?}");

    // One request held on b: --group-by user names both tenants, and
    // dump's user column the user of each busy slot.
    let third = h.hold(b, 60, "b0");
    let rows = dump_until(&h, "a request held on b.test", |rows| {
        itk_count(rows, b, port) == 1
    });
    for (user, vhost, busy) in [(user_a, a, 2), (user_b, b, 1)] {
        let own = format!("{vhost}:{port}");
        let users: Vec<&str> = rows
            .iter()
            .filter(|r| r["vhost"] == own.as_str() && r["status"] == "W")
            .filter_map(|r| r["user"].as_str())
            .collect();
        assert_eq!(users, vec![user; busy], "{rows:#?}");
    }
    let by_user = tenant_check(&h, &["--group-by", "user"]);
    assert_eq!(by_user.code, 0, "{}", by_user.stdout);
    let perf = perfdata(&by_user.stdout);
    assert_eq!(perf["user_sb_tenant_a"], 2.0, "{}", by_user.stdout);
    assert_eq!(perf["user_sb_tenant_b"], 1.0, "{}", by_user.stdout);
    assert_eq!(table_row(&by_user.stdout, user_a)[..2], [user_a, "2"]);
    assert_eq!(table_row(&by_user.stdout, user_b)[..2], [user_b, "1"]);
    let held_b = serving_uids(
        itk_counted(&rows, b, port)
            .iter()
            .filter_map(|r| r["process_pid"].as_i64().map(|p| p as i32)),
    );
    assert_eq!(
        held_b.values().collect::<Vec<_>>(),
        vec![&uid_b],
        "{held_b:?}"
    );
    drop((first, second, third));
}

/// `check_vhost_saturation` on the server's segment, in its namespace.
fn tenant_check(h: &Httpd, args: &[&str]) -> Run {
    let scoreboard = h.scoreboard_file().display().to_string();
    let mut all = vec!["check_vhost_saturation", "--scoreboard", &scoreboard];
    all.extend(args);
    run_inside(h, &all)
}

/// The long output's table row of `group`, split at blanks.
fn table_row<'a>(stdout: &'a str, group: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&group))
        .unwrap_or_else(|| panic!("no row of {group}: {stdout}"))
}
