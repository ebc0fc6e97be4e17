//! check_heartbeat_cluster against real httpds: three Debian apache2 origins
//! with mod_heartbeat and two monitors with mod_heartmonitor (one keeping
//! the flat file, one the slotmem), each server in its own network
//! namespace on a private bridge (support/netns.rs): mod_heartmonitor tells
//! members apart only by source address, so one loopback would make them
//! one member. Walks through: all alive, one origin busy with slow CGIs,
//! one stopped (stale, then missing), the slotmem monitor's graceful
//! restart (the new generation's object found without --storage), both
//! monitors stopped.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apache_scoreboard::heartbeat::locate::slotmem_name;
use apache_scoreboard::shm::apr::{posix_name, HOST_SIGNED_CHAR};

use crate::support::netns::Lab;
use crate::support::{require_apache, Httpd, HttpdConfig, Mpm};
use crate::util::{perfdata, run_bin, Run};

const MODULES: &str = "/usr/lib/apache2/modules";
const GROUP: &str = "239.0.0.1:27999";
const ORIGINS: [&str; 3] = ["192.0.2.11", "192.0.2.12", "192.0.2.13"];
/// How long a state the lab drives to may take to show: polled, so only a
/// failing run waits it out; generous for a loaded 2-core machine running
/// the suite in parallel (heartbeats are sent every second).
const PATIENCE: Duration = Duration::from_secs(60);

fn module(name: &str) -> String {
    format!("LoadModule {name}_module {MODULES}/mod_{name}.so\n")
}

fn server(ns: &str, extra: String) -> Httpd {
    let mut config = HttpdConfig::new(Mpm::Event);
    config.netns = Some(ns.to_string());
    config.extra_conf = extra;
    Httpd::start(config).unwrap_or_else(|e| panic!("start httpd in {ns}: {e}"))
}

fn check(args: &[&str]) -> Run {
    let mut argv = vec!["check_heartbeat_cluster".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let run = run_bin(&argv);
    assert!((0..=3).contains(&run.code), "{run:?}");
    run
}

/// Runs the check every 500 ms until `ok` accepts its output.
fn wait_for(what: &str, timeout: Duration, args: &[&str], ok: impl Fn(&Run) -> bool) -> Run {
    let deadline = Instant::now() + timeout;
    loop {
        let run = check(args);
        if ok(&run) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last: {}",
            run.stdout
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn first(run: &Run) -> &str {
    run.stdout.lines().next().unwrap_or("")
}

/// The `storage:` line of `-v`: what was read (the name given, then the
/// object in parentheses when they differ).
fn storage_read(run: &Run) -> String {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("storage: slotmem "))
        .and_then(|l| l.split(", ").next())
        .unwrap_or_else(|| panic!("no storage line: {}", run.stdout))
        .to_string()
}

fn object_for(runtime_dir: &Path, generation: u32) -> PathBuf {
    let name = slotmem_name(runtime_dir, generation);
    PathBuf::from(format!(
        "/dev/shm{}",
        posix_name(name.as_os_str().as_encoded_bytes(), HOST_SIGNED_CHAR)
    ))
}

/// Held while a lab runs: the check's discovery sees every monitor httpd
/// on the machine, so two runs of this test (two checkouts, two suites)
/// take turns instead of finding each other's monitors.
struct MachineLock {
    _held: fs::File,
}

impl MachineLock {
    fn acquire() -> MachineLock {
        use std::os::fd::AsRawFd;
        let path = std::env::temp_dir().join("apache-scoreboard-heartbeat-lab.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        // SAFETY: flock(2) on a descriptor this File owns; released when it
        // is closed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        MachineLock { _held: file }
    }
}

#[test]
fn heartbeat_cluster_live() {
    if !require_apache() {
        return;
    }
    let _machine = MachineLock::acquire();
    let lab = Lab::new(&[
        "192.0.2.10", // monitor, slotmem
        "192.0.2.9",  // monitor, flat file
        ORIGINS[0],
        ORIGINS[1],
        ORIGINS[2],
    ])
    .unwrap_or_else(|e| panic!("network namespaces: {e}"));
    // The file monitor's child (www-data) must be able to write its file.
    let data =
        std::env::temp_dir().join(format!("apache-scoreboard-hb-live-{}", std::process::id()));
    let _ = fs::remove_dir_all(&data);
    fs::create_dir_all(&data).expect("data dir");
    fs::set_permissions(&data, fs::Permissions::from_mode(0o1777)).expect("chmod");
    let hb = data.join("hb.dat");
    let hb_arg = hb.display().to_string();
    let monitor = |storage: &str| {
        // mod_watchdog is built into Debian's apache2.
        format!(
            "{}{storage}HeartbeatListen {GROUP}\n",
            module("heartmonitor")
        )
    };
    // Servers are declared before `lab`'s end of scope: they stop (by pid)
    // before the namespaces are deleted.
    let mut mon_slot = server(
        lab.host(0),
        monitor(&format!(
            "{}HeartbeatMaxServers 10\n",
            module("slotmem_shm")
        )),
    );
    let mut mon_file = server(
        lab.host(1),
        monitor(&format!(
            "HeartbeatMaxServers 0\nHeartbeatStorage \"{hb_arg}\"\n"
        )),
    );
    let origin_conf = format!("{}HeartbeatAddress {GROUP}\n", module("heartbeat"));
    let mut origins: Vec<Httpd> = (2..5)
        .map(|i| server(lab.host(i), origin_conf.clone()))
        .collect();

    let run_dir = mon_slot.server_root().join("run");
    let slot_arg = run_dir.display().to_string();
    // APR's name for generation 0, as the scoreboard's hashes derive it.
    let gen0 = object_for(&run_dir, 0);
    assert!(gen0.exists(), "no {} for {}", gen0.display(), slot_arg);
    let members: Vec<&str> = ORIGINS.iter().flat_map(|ip| ["--member", *ip]).collect();
    let with = |storage: &str, extra: &[&str]| -> Vec<String> {
        let mut a = vec!["--storage".to_string(), storage.to_string(), "-v".into()];
        a.extend(members.iter().map(|s| s.to_string()));
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let refs = |v: &Vec<String>| v.iter().map(String::clone).collect::<Vec<_>>();
    let args_of = |storage: &str, extra: &[&str]| refs(&with(storage, extra));

    // 1. All alive: OK, three live members in both storages.
    for storage in [&slot_arg, &hb_arg] {
        let args = args_of(storage, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = wait_for("three live members", PATIENCE, &args, |r| {
            r.code == 0 && perfdata(&r.stdout).get("live") == Some(&3.0)
        });
        assert!(
            first(&run).starts_with("SCOREBOARD OK - 3/3 members live"),
            "{}",
            run.stdout
        );
        if storage == &slot_arg {
            assert!(
                storage_read(&run).contains(&gen0.display().to_string()),
                "{}",
                run.stdout
            );
        }
        // The monitor keeping it is known (for its grace after a restart).
        let keeper = if storage == &slot_arg {
            &mon_slot
        } else {
            &mon_file
        };
        assert!(
            run.stdout
                .contains(&format!("monitor: httpd pid {}", keeper.pid())),
            "{}",
            run.stdout
        );
        let perf = perfdata(&run.stdout);
        assert_eq!(perf["missing"], 0.0);
        assert!(perf["ready_192_0_2_12"] > 0.0, "{}", run.stdout);
    }
    // Without --storage, two monitors run: --storage-format picks one, and
    // each is found from its configuration (DefaultRuntimeDir, the
    // scoreboard's generation; HeartbeatMaxServers 0, HeartbeatStorage).
    let mut discover = members.clone();
    discover.extend(["-v", "--storage-format", "slotmem"]);
    let run = check(&discover);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        storage_read(&run).contains(&gen0.display().to_string()),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("monitor: httpd pid {}", mon_slot.pid())),
        "{}",
        run.stdout
    );
    discover.pop();
    discover.push("file");
    let run = check(&discover);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("storage: file {hb_arg},")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("monitor: httpd pid {}", mon_file.pid())),
        "{}",
        run.stdout
    );
    let run = check(&members);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(first(&run).contains("pass --storage"), "{}", run.stdout);

    let idle_pct: Vec<f64> = [&slot_arg, &hb_arg]
        .iter()
        .map(|s| {
            let a = args_of(s, &[]);
            perfdata(&check(&a.iter().map(String::as_str).collect::<Vec<_>>()).stdout)["busy_pct"]
        })
        .collect();

    // 2. Three slow CGIs on origin 2: its busy and the cluster's busy_pct rise.
    let held: Vec<_> = (0..3)
        .map(|i| origins[1].hold("lab.test", 60, &format!("hb{i}")))
        .collect();
    for (storage, before) in [&slot_arg, &hb_arg].into_iter().zip(idle_pct) {
        let args = args_of(storage, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = wait_for("origin 2 busy", PATIENCE, &args, |r| {
            perfdata(&r.stdout)
                .get("busy_192_0_2_12")
                .is_some_and(|&b| b >= 3.0)
        });
        let perf = perfdata(&run.stdout);
        assert!(perf["busy_pct"] > before, "{before} -> {}", run.stdout);
        assert_eq!(run.code, 0, "{}", run.stdout);
    }
    drop(held);

    // 3. Origin 3 stopped: stale after --max-age (3s here), then missing
    // once the monitor drops it (> 30 s silent).
    origins[2].stop().expect("stop origin 3");
    for storage in [&slot_arg, &hb_arg] {
        let args = args_of(storage, &["--max-age", "3s"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = wait_for("192.0.2.13 stale", Duration::from_secs(25), &args, |r| {
            first(r).contains("192.0.2.13 stale (")
        });
        assert_eq!(run.code, 2, "{}", run.stdout);
    }
    for storage in [&slot_arg, &hb_arg] {
        let args = args_of(storage, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = wait_for(
            "192.0.2.13 missing",
            PATIENCE + Duration::from_secs(30),
            &args,
            |r| first(r).contains("192.0.2.13 missing"),
        );
        assert_eq!(run.code, 2, "{}", run.stdout);
        assert_eq!(perfdata(&run.stdout)["missing"], 1.0, "{}", run.stdout);
    }

    // 4. The file monitor stops: its file stays, frozen; then the slotmem
    // monitor restarts gracefully and, the only monitor left, is found
    // without --storage: the new generation's object, members waited for.
    // Timed from before the stop: on a loaded machine stopping takes
    // seconds, and the file's last write may come anywhere in them.
    let stopped = Instant::now();
    mon_file.stop().expect("stop the file monitor");
    mon_slot.graceful();
    let gen1 = object_for(&run_dir, 1);
    let two = ["--member", ORIGINS[0], "--member", ORIGINS[1], "-v"];
    // Named from the configuration's DefaultRuntimeDir and the
    // scoreboard's generation: "<name> (<object>)".
    let gen1_name = slotmem_name(&run_dir, 1).display().to_string();
    let wanted = format!("storage: slotmem {gen1_name} ({}),", gen1.display());
    let run = wait_for("the new generation", PATIENCE, &two, |r| {
        r.stdout.contains(&wanted)
    });
    assert!(!gen0.exists(), "{} outlived the restart", gen0.display());
    if run.stdout.contains("waiting for the first heartbeats") {
        assert_eq!(run.code, 0, "{}", run.stdout);
    }
    let run = wait_for("two live members after the restart", PATIENCE, &two, |r| {
        r.code == 0 && perfdata(&r.stdout).get("live") == Some(&2.0)
    });
    assert!(run.stdout.contains(&wanted), "{}", run.stdout);

    // 5. Monitors stopped: CRITICAL "heartbeat monitor not running".
    let file_args = args_of(&hb_arg, &[]);
    let file_args: Vec<&str> = file_args.iter().map(String::as_str).collect();
    let run = wait_for("the frozen file", PATIENCE, &file_args, |r| {
        first(r).contains("heartbeat monitor not running")
    });
    assert_eq!(run.code, 2, "{}", run.stdout);
    // Written every 5 s, dead after 15 s without a write: never at once
    // (a late write under load may shorten the 10 s the stop leaves).
    assert!(stopped.elapsed() > Duration::from_secs(5), "{}", run.stdout);
    mon_slot.stop().expect("stop the slotmem monitor");
    // (The harness removed the ServerRoot, run/ with it: name the object.)
    let name = slotmem_name(&run_dir, 1).display().to_string();
    for args in [vec!["--storage", name.as_str()], vec![]] {
        let run = check(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(
            first(&run).contains("heartbeat monitor not running"),
            "{}",
            run.stdout
        );
    }
    for o in &mut origins {
        o.stop().expect("stop origin");
    }
    let _ = fs::remove_dir_all(&data);
}
