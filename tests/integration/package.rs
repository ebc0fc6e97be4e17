//! The Debian package end to end (issue 4): `packaging/build.sh deb` builds
//! the `.deb`, `dpkg -i` installs it, the installed
//! `/usr/lib/nagios/plugins/check_scoreboard_busy` reads a live httpd's
//! scoreboard as user `nagios` through the capability the package set, and
//! `dpkg -r` removes every file it installed and leaves no trace in dpkg's
//! database (no config-files state).
//!
//! The test changes the system, so it refuses to run when the package is
//! already installed, and a guard removes the package however the test
//! ends. Everything from the installation to the removal happens while the
//! test holds its [`Httpd`]: the harness runs one at a time, which keeps
//! this test's allowlist away from `privilege.rs`'s and leaves one httpd
//! for discovery to find. The other tests are not affected by the
//! installed files: the monitoring tests leave out installed copies of the
//! definitions, and nothing else runs the plugins from
//! /usr/lib/nagios/plugins.
//!
//! The release build is shared with `$CARGO_TARGET_DIR` (or `target/`) and
//! runs under `nice`, so that it slows the tests running beside it as little
//! as possible.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use crate::privilege::{assert_no_secret, attackers, attacks, confined, tool, Setup, User};
use crate::support::{require_apache, Httpd, HttpdConfig, Mpm};

const PACKAGE: &str = "apache-scoreboard";
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PLUGINS: &str = "/usr/lib/nagios/plugins";
const CHECKS: [&str; 4] = [
    "check_scoreboard_busy",
    "check_stuck_requests",
    "check_vhost_saturation",
    "check_heartbeat_cluster",
];
/// The Nagios definitions and the link postinst makes to them.
const NAGIOS_CFG: &str = "/usr/share/apache-scoreboard/apache-scoreboard.cfg";
const NAGIOS_LINK: &str = "/etc/nagios-plugins/config/apache-scoreboard.cfg";
const ICINGA_CONF: &str = "/usr/share/icinga2/include/plugins-contrib.d/apache-scoreboard.conf";
// Only looked at on the host (the package must not create its directory);
// the opt-out file and the allowlist are written only inside the private
// mount namespaces of privilege::confined (`unshare --mount`, /etc an
// overlay on a tmpfs).
const OPT_OUT: &str = "/etc/apache-scoreboard/no-capability";
const CAPABILITY: &str = "cap_dac_read_search,cap_ipc_owner=ep";
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips with a note, or fails under `CI=true`.
fn unable(why: &str) {
    assert!(!ci(), "CI=true but the package test cannot run: {why}");
    eprintln!("skipping the package test: {why}");
}

/// Runs a system command with a plain environment; its output.
fn system(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("PATH", PATH)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a system command that must succeed; its stdout.
fn must(program: &str, args: &[&str]) -> String {
    let out = system(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}",
        out.status,
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// dpkg's status of the package (`installed`, `config-files`, ...), or
/// `None` when dpkg has no record of it at all.
fn dpkg_status() -> Option<String> {
    let out = system("dpkg-query", &["-W", "-f=${db:Status-Status}", PACKAGE]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty() && s != "not-installed")
}

/// Removes the package when dropped, whatever happened before.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if dpkg_status().is_some() {
            let out = system("dpkg", &["--purge", PACKAGE]);
            if !out.status.success() {
                eprintln!(
                    "package test: dpkg --purge {PACKAGE} failed:\n{}",
                    text(&out)
                );
            }
        }
    }
}

/// Builds the `.deb` with packaging/build.sh; its path (cargo-deb prints it
/// last).
fn build_deb() -> PathBuf {
    let out = Command::new("nice")
        .args(["-n", "19", "sh"])
        .arg(Path::new(ROOT).join("packaging/build.sh"))
        .arg("deb")
        .stdin(Stdio::null())
        .output()
        .expect("run packaging/build.sh");
    assert!(
        out.status.success(),
        "packaging/build.sh deb failed ({}):\n{}",
        out.status,
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deb = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    assert!(
        deb.extension().is_some_and(|e| e == "deb") && deb.is_file(),
        "no .deb named at the end of build.sh's output:\n{}",
        text(&out)
    );
    deb
}

fn capability() -> String {
    must("getcap", &[&format!("{PLUGINS}/{PACKAGE}")])
}

/// Runs an installed check as nagios with `setup`'s allowlist: exit 0, an
/// OK line with perfdata, nothing on stderr.
fn assert_ok_as_nagios(setup: &Setup, nagios: &User, program: &str, args: &[&str], perf: &str) {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let run = confined(
        setup,
        Some(nagios),
        &Path::new(PLUGINS).join(program),
        &args,
    );
    assert_eq!(run.code, 0, "{program} {args:?}:\n{}", run.stdout);
    let first = run.stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with("SCOREBOARD OK - ") && first.contains(&format!(" | {perf}=")),
        "{program} {args:?}:\n{}",
        run.stdout
    );
    assert!(run.stderr.is_empty(), "{program}: stderr {}", run.stderr);
}

#[test]
fn deb_installs_runs_as_nagios_and_removes_cleanly() {
    let started = Instant::now();
    if !require_apache() {
        return;
    }
    for program in [
        "dpkg",
        "dpkg-query",
        "dpkg-reconfigure",
        "getcap",
        "setpriv",
    ] {
        if tool(program).is_none() {
            return unable(&format!("{program} is missing"));
        }
    }
    let Some((nagios, nobody)) = attackers() else {
        return unable("there is no user nagios (packaging/ci-deps.sh --install)");
    };
    if let Some(status) = dpkg_status() {
        return unable(&format!(
            "{PACKAGE} is already known to dpkg ({status}); the test installs and \
             removes it: dpkg --purge {PACKAGE} first"
        ));
    }

    let deb = build_deb();
    let built = started.elapsed();

    // From here on until the package is gone, the one live httpd is ours.
    let httpd = Httpd::start(HttpdConfig::new(Mpm::Prefork)).expect("start apache2");
    let nagios_dir = Path::new(NAGIOS_LINK).parent().expect("dir");
    let expect_link = nagios_dir.is_dir() && fs::symlink_metadata(NAGIOS_LINK).is_err();
    let etc_dir = Path::new(OPT_OUT).parent().expect("dir");
    let etc_dir_existed = etc_dir.exists();
    let _installed = Installed;
    let deb_arg = deb.display().to_string();
    must("dpkg", &["-i", &deb_arg]);
    assert_eq!(dpkg_status().as_deref(), Some("installed"));
    let installed_at = started.elapsed();

    // What the package installed.
    let listed: Vec<PathBuf> = must("dpkg", &["-L", PACKAGE])
        .lines()
        .map(PathBuf::from)
        .collect();
    let bin = Path::new(PLUGINS).join(PACKAGE);
    let mode = fs::symlink_metadata(&bin).expect("installed binary");
    // Only root and the group nagios may run it (dpkg-statoverride).
    assert!(
        mode.is_file()
            && mode.permissions().mode() & 0o7777 == 0o750
            && mode.uid() == 0
            && mode.gid() == nagios.gid,
        "{:o} {}:{}",
        mode.permissions().mode(),
        mode.uid(),
        mode.gid()
    );
    assert!(must("dpkg-statoverride", &["--list"])
        .contains(&format!("root nagios 750 {}", bin.display())));
    for check in CHECKS {
        let link = Path::new(PLUGINS).join(check);
        assert_eq!(
            fs::read_link(&link).ok(),
            Some(PathBuf::from(PACKAGE)),
            "{}",
            link.display()
        );
    }
    let mut pages = vec![PACKAGE.to_string()];
    for sub in ["dump", "status", "snapshot", "instances"] {
        pages.push(format!("{PACKAGE}-{sub}"));
    }
    for check in CHECKS {
        pages.push(check.to_string());
        pages.push(format!("{PACKAGE}-{check}"));
    }
    for page in &pages {
        let path = format!("/usr/share/man/man1/{page}.1.gz");
        assert!(
            listed.contains(&PathBuf::from(&path)),
            "{path} not installed"
        );
    }
    let roff = must(
        "gzip",
        &["-dc", "/usr/share/man/man1/check_scoreboard_busy.1.gz"],
    );
    assert!(roff.contains(r"\-\-scoreboard"), "{roff}");
    for (installed, source) in [
        (ICINGA_CONF, "checks/apache-scoreboard.conf"),
        (NAGIOS_CFG, "checks/apache-scoreboard.cfg"),
    ] {
        assert_eq!(
            fs::read_to_string(installed).ok(),
            fs::read_to_string(Path::new(ROOT).join(source)).ok(),
            "{installed}"
        );
    }
    if expect_link {
        assert_eq!(
            fs::read_link(NAGIOS_LINK).ok(),
            Some(PathBuf::from(NAGIOS_CFG))
        );
    }
    let examples = Path::new("/usr/share/doc/apache-scoreboard/examples");
    assert!(examples.join("sudoers").is_file());
    assert!(!examples.join("bench-vs-http.sh").exists());
    // Nothing below /etc, hence no conffile that `dpkg -r` would keep.
    let in_etc: Vec<&PathBuf> = listed.iter().filter(|p| p.starts_with("/etc")).collect();
    assert!(in_etc.is_empty(), "{in_etc:?}");
    assert!(
        etc_dir_existed || !etc_dir.exists(),
        "the package created {}",
        etc_dir.display()
    );
    assert!(capability().contains(CAPABILITY), "{}", capability());

    // The installed check, as nagios, on the allowlisted live scoreboard.
    // The allowlist exists only in the private mount namespaces of the
    // runs (see privilege::confined): the host's /etc is not touched.
    let sbf = httpd.scoreboard_file().display().to_string();
    let allow = Setup::allow(&format!("{sbf}\n"));
    for (check, perf) in [
        ("check_scoreboard_busy", "busy"),
        ("check_stuck_requests", "inflight"),
        ("check_vhost_saturation", "top_vhost_pct"),
    ] {
        assert_ok_as_nagios(&allow, &nagios, check, &["--scoreboard", &sbf], perf);
    }
    // Discovery finds the one running httpd, the allowlist's one entry.
    assert_ok_as_nagios(&allow, &nagios, "check_scoreboard_busy", &[], "busy");
    // Anyone else cannot even run it.
    let run = confined(
        &allow,
        Some(&nobody),
        &Path::new(PLUGINS).join("check_scoreboard_busy"),
        &[],
    );
    assert!(
        run.code != 0 && run.stdout.is_empty() && run.stderr.contains("Permission denied"),
        "nobody ran it: {run:?}"
    );
    // Issue 9's reproductions against the installed binary, as nagios; as
    // anyone else they end at the permission above.
    attacks(
        &Path::new(PLUGINS).join(PACKAGE),
        &httpd,
        &nagios,
        &nobody,
        false,
    );

    // The opt-out, applied by dpkg-reconfigure (in a private mount
    // namespace holding the opt-out file), and back.
    let reconfigure = tool("dpkg-reconfigure").expect("dpkg-reconfigure");
    let opted_out = Setup {
        opt_out: true,
        ..Setup::default()
    };
    let run = confined(&opted_out, None, &reconfigure, &[PACKAGE.into()]);
    assert_eq!(run.code, 0, "dpkg-reconfigure: {run:?}");
    assert_eq!(capability().trim(), "", "opt-out: capability still set");
    let run = confined(
        &allow,
        Some(&nagios),
        &Path::new(PLUGINS).join("check_scoreboard_busy"),
        &["--scoreboard".into(), sbf.clone().into()],
    );
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(run.stdout.contains("permission denied"), "{}", run.stdout);
    assert_no_secret("opted out", &run);
    must("dpkg-reconfigure", &[PACKAGE]);
    assert!(capability().contains(CAPABILITY), "{}", capability());
    let checked_at = started.elapsed();

    // Removal: every installed path gone, except directories other
    // packages own too; the link postinst made gone; dpkg keeps no record.
    must("dpkg", &["-r", PACKAGE]);
    let status = system("dpkg", &["-s", PACKAGE]);
    assert!(
        !status.status.success() && text(&status).contains("not installed"),
        "dpkg -s after dpkg -r:\n{}",
        text(&status)
    );
    assert_eq!(dpkg_status(), None, "dpkg keeps a record of {PACKAGE}");
    let left: Vec<&PathBuf> = listed
        .iter()
        .filter(|p| p.as_os_str() != "/." && fs::symlink_metadata(p).is_ok())
        .filter(|p| {
            !(p.is_dir()
                && system("dpkg-query", &["-S", &p.display().to_string()])
                    .status
                    .success())
        })
        .collect();
    assert!(left.is_empty(), "left behind by dpkg -r: {left:?}");
    assert!(
        fs::symlink_metadata(NAGIOS_LINK).is_err() || !expect_link,
        "{NAGIOS_LINK} left behind"
    );
    assert!(
        !must("dpkg-statoverride", &["--list"]).contains(&bin.display().to_string()),
        "dpkg -r left the statoverride"
    );
    drop(httpd);
    eprintln!(
        "package test: build {:.1} s, install {:.1} s, checks {:.1} s, remove {:.1} s",
        built.as_secs_f64(),
        (installed_at - built).as_secs_f64(),
        (checked_at - installed_at).as_secs_f64(),
        (started.elapsed() - checked_at).as_secs_f64()
    );
}
