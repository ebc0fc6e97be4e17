//! Issue 9's reproductions, as acceptance tests: a copy of the binary with
//! the package's file capability (`cap_dac_read_search,cap_ipc_owner+ep`),
//! run as `nagios` (in the allowed group) and as `nobody` (not in it), and
//! the binary run as root (the sudo mode), against a live httpd holding a
//! request with a secret in its query string and root-only files and a SysV
//! segment holding secrets. Nothing secret may reach stdout; every attempt
//! ends as one UNKNOWN line (exit 3) or the documented output.
//!
//! The allowlist lives in /etc/apache-scoreboard, which these tests never
//! touch on the host: every run that needs it happens in a private mount
//! namespace (`unshare --mount`) where /etc is an overlay on a tmpfs
//! ([`confined`]). The same [`attacks`] run against the installed package in
//! `package.rs`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::hostile::{SysvSegment, TempDir};
use crate::support::{require_apache, Httpd, HttpdConfig, Mpm};
use crate::util::{spawn, wait_bounded, RemovedOnDrop, Run, BIN};

/// The secret in the held request's query string.
pub const QUERY_SECRET: &str = "SECRETq7Zx3";
/// The secret in root-only files and the SysV segment.
pub const FILE_SECRET: &str = "SECRETf1Le9";

/// `name` in the system's bin directories.
pub fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// `id FLAG USER`, trimmed.
pub fn id(flag: &str, user: &str) -> Option<String> {
    let out = Command::new("id").args([flag, user]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A local account the tests run as.
#[derive(Clone, Debug)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

impl User {
    pub fn get(name: &'static str) -> Option<User> {
        Some(User {
            uid: id("-u", name)?.parse().ok()?,
            gid: id("-g", name)?.parse().ok()?,
        })
    }
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// How a [`confined`] run is set up.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// The text of /etc/apache-scoreboard/scoreboards, root's, 0644; `None`:
    /// no /etc/apache-scoreboard at all.
    pub allowlist: Option<String>,
    /// `ulimit -n` for the run.
    pub nofile: Option<u32>,
    /// /etc/apache-scoreboard/no-capability exists (the packages' opt-out).
    pub opt_out: bool,
}

impl Setup {
    pub fn allow(text: &str) -> Setup {
        Setup {
            allowlist: Some(text.to_string()),
            ..Setup::default()
        }
    }
}

/// Runs `program args` (argv[0] = `program`) as `user` (`None`: root), in a
/// private mount namespace whose /etc is an overlay on a tmpfs holding
/// `setup`'s allowlist: the host's /etc is never written.
pub fn confined(setup: &Setup, user: Option<&User>, program: &Path, args: &[OsString]) -> Run {
    let scratch = TempDir::new("priv-ns");
    let full = confined_argv(setup, &scratch.0, user, &[], program, args);
    let run = wait_bounded(
        spawn(tool("unshare").expect("unshare"), &full),
        &format!("confined {} {args:?}", program.display()),
    );
    drop(scratch);
    run
}

/// The arguments of `unshare` for a [`confined`] run (`scratch`: an empty
/// directory for the namespace's tmpfs; `setpriv`: more setpriv options).
pub fn confined_argv(
    setup: &Setup,
    scratch: &Path,
    user: Option<&User>,
    setpriv: &[&str],
    program: &Path,
    args: &[OsString],
) -> Vec<OsString> {
    let script = r#"set -e
t=$1; allow=$2; opt_out=$3; shift 3
mount -t tmpfs -o mode=0700 tmpfs "$t"
mkdir "$t/u" "$t/w"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$t/u,workdir=$t/w" /etc
rm -rf /etc/apache-scoreboard
if [ "$allow" != "-" ]; then
  mkdir -m 0755 /etc/apache-scoreboard
  printf '%s' "${allow#+}" > /etc/apache-scoreboard/scoreboards
  chmod 0644 /etc/apache-scoreboard/scoreboards
fi
if [ "$opt_out" = yes ]; then
  mkdir -p -m 0755 /etc/apache-scoreboard
  : > /etc/apache-scoreboard/no-capability
fi
exec "$@"
"#;
    let mut full: Vec<OsString> = vec![
        "--mount".into(),
        "--propagation".into(),
        "private".into(),
        "sh".into(),
        "-c".into(),
        script.into(),
        "sh".into(),
        scratch.as_os_str().into(),
        setup
            .allowlist
            .as_ref()
            .map_or("-".into(), |a| format!("+{a}"))
            .into(),
        if setup.opt_out { "yes" } else { "no" }.into(),
    ];
    if let Some(u) = user {
        full.extend(
            [
                tool("setpriv").expect("setpriv").display().to_string(),
                format!("--reuid={}", u.uid),
                format!("--regid={}", u.gid),
                "--init-groups".into(),
            ]
            .map(OsString::from),
        );
        full.extend(setpriv.iter().map(OsString::from));
        full.push("--".into());
    }
    // Through sh: setpriv keeps root's capabilities up to its exec (they
    // would let that exec ignore the file's mode); sh runs without them.
    // The limit comes after setpriv too, which needs descriptors of its own.
    let limit = setup
        .nofile
        .map_or(String::new(), |n| format!("ulimit -n {n}; "));
    full.extend(["/bin/sh", "-c", &format!("{limit}exec \"$@\""), "sh"].map(OsString::from));
    full.push(program.as_os_str().into());
    full.extend(args.iter().cloned());
    full
}

fn chown(path: &Path, user: &User) {
    std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid)).expect("chown");
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// One attempt that must not succeed: one UNKNOWN line, exit 3, and none
/// of the secrets; `expect` is part of the line.
#[track_caller]
pub fn assert_refused(what: &str, run: &Run, expect: &str) {
    assert_eq!(run.code, 3, "{what}: {}", run.stdout);
    assert_eq!(run.stdout.lines().count(), 1, "{what}: {}", run.stdout);
    assert!(
        run.stdout.starts_with("SCOREBOARD UNKNOWN - ") && run.stdout.contains(expect),
        "{what}: expected {expect:?} in {}",
        run.stdout
    );
    assert!(run.stderr.is_empty(), "{what}: stderr {}", run.stderr);
    assert_no_secret(what, run);
}

#[track_caller]
pub fn assert_no_secret(what: &str, run: &Run) {
    // Also the first 4 bytes of secret.txt and of /etc/shadow ("root") as
    // a little-endian ServerLimit, as the issue saw them.
    let head = |b: &[u8; 4]| format!("ServerLimit {}", i32::from_le_bytes(*b));
    let heads = [head(b"SECR"), head(b"root")];
    for secret in [QUERY_SECRET, FILE_SECRET, &heads[0], &heads[1]] {
        assert!(
            !run.stdout.contains(secret),
            "{what}: {secret} leaked: {}",
            run.stdout
        );
    }
}

/// Bytes that look like a scoreboard's start and carry [`FILE_SECRET`].
fn secret_bytes() -> Vec<u8> {
    let mut bytes = FILE_SECRET.repeat(200).into_bytes();
    bytes.truncate(2048);
    bytes
}

/// What the attacks need: a live httpd holding a request with a secret,
/// root-only files and a root-only SysV segment, and a place of the
/// attacker's own.
pub struct Scene {
    pub dir: TempDir,
    pub sbf: PathBuf,
    pub shm: PathBuf,
    /// A root 0700 directory with `secret.txt` (0600) and a root-only file
    /// `run/apache2/apache_scoreboard` at depth.
    pub private: PathBuf,
    /// Owned by the attacker (`nagios`).
    pub home: PathBuf,
    pub sysv: SysvSegment,
}

impl Scene {
    pub fn new(h: &Httpd, attacker: &User) -> Scene {
        let dir = TempDir::new("priv-scene");
        let private = dir.path("private");
        fs::create_dir_all(private.join("run/apache2")).expect("mkdir");
        fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).expect("chmod");
        for f in ["secret.txt", "run/apache2/apache_scoreboard"] {
            fs::write(private.join(f), secret_bytes()).expect("write secret");
            fs::set_permissions(private.join(f), fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let home = dir.path("home");
        fs::create_dir_all(home.join("a/b/c/d")).expect("mkdir");
        for p in ["", "a", "a/b", "a/b/c", "a/b/c/d"] {
            chown(&home.join(p), attacker);
        }
        let mut sysv = SysvSegment::new(&secret_bytes());
        sysv.detach();
        Scene {
            sbf: h.scoreboard_file(),
            shm: h.shm_path(),
            dir,
            private,
            home,
            sysv,
        }
    }

    /// The allowlist naming the live scoreboard (`details`: show-details).
    pub fn allowlist(&self, details: bool) -> Setup {
        Setup::allow(&format!(
            "# test\n{}{}\n",
            self.sbf.display(),
            if details { " show-details" } else { "" }
        ))
    }
}

/// Issue 9's reproductions 1, 3, 4 and 5 with the capability, through
/// `program` (the binary or a symlink named like a check), as `allowed` (a
/// member of the allowed group) and `outsider` (not one; `outsider_runs`:
/// the file lets him run it, else the kernel refuses the exec).
pub fn attacks(program: &Path, h: &Httpd, allowed: &User, outsider: &User, outsider_runs: bool) {
    let outsider_refused = |what: &str, run: &Run| {
        if outsider_runs {
            assert_refused(what, run, "none of the groups allowed");
        } else {
            assert!(
                run.code != 0 && run.stdout.is_empty() && run.stderr.contains("Permission denied"),
                "{what}: the outsider ran it: {run:?}"
            );
        }
    };
    let held = h.hold("lab.test", 60, QUERY_SECRET);
    let scene = Scene::new(h, allowed);
    let sbf = scene.sbf.display().to_string();
    let shm = scene.shm.display().to_string();
    let shm_name = scene.shm.file_name().expect("name").to_os_string();
    let allow = scene.allowlist(false);

    // 1. argv[0] that is not UTF-8, or carries control bytes: the same
    // binary, the same rules.
    let bin_dir = scene.home.join("bin");
    fs::create_dir_all(&bin_dir).expect("mkdir");
    chown(&bin_dir, allowed);
    let mut names = vec![program.to_path_buf()];
    for name in [&b"\xff"[..], b"\x1b[31m\nx\tcheck_stuck_requests", b"httpd"] {
        let link = bin_dir.join(OsStr::from_bytes(name));
        symlink(program, &link).expect("symlink");
        names.push(link);
    }
    let shadow_like = scene.private.join("secret.txt").display().to_string();
    let deep = scene
        .private
        .join("run/apache2/apache_scoreboard")
        .display()
        .to_string();
    let snapshot_out = scene.home.join("x");
    for name in &names {
        let what = |w: &str| format!("{} {w}", name.display());
        for (args, expect) in [
            (vec!["dump", "--scoreboard", &sbf], "refusing to read"),
            (vec!["status", "--scoreboard", &shm], "refusing to read"),
            (
                vec!["dump", "--scoreboard", "shmid:0"],
                "refusing --scoreboard",
            ),
            (
                vec!["dump", "--scoreboard", "/etc/shadow"],
                "refusing --scoreboard",
            ),
            (
                vec!["dump", "--scoreboard", &shadow_like],
                "refusing --scoreboard",
            ),
            (
                vec!["check_scoreboard_busy", "--scoreboard", &deep],
                "refusing --scoreboard",
            ),
        ] {
            let run = confined(&allow, Some(allowed), name, &os(&args));
            assert_refused(&what(&args.join(" ")), &run, expect);
            let run = confined(&allow, Some(outsider), name, &os(&args));
            outsider_refused(&what(&args.join(" ")), &run);
        }
        let sysv = format!("shmid:{}", scene.sysv.id);
        let run = confined(
            &allow,
            Some(allowed),
            name,
            &os(&["dump", "--scoreboard", &sysv]),
        );
        assert_refused(&what("dump shmid"), &run, "refusing --scoreboard");
        let out = snapshot_out.display().to_string();
        let run = confined(
            &allow,
            Some(allowed),
            name,
            &os(&["snapshot", &out, "--scoreboard", &shm]),
        );
        assert_refused(&what("snapshot"), &run, "refusing to read");
        assert!(!snapshot_out.exists(), "snapshot written");
    }
    // ulimit -n small: no fd to spare for anything, still closed (with 3,
    // the dynamic loader fails before any code of ours runs).
    for nofile in [4, 5, 6] {
        let setup = Setup {
            nofile: Some(nofile),
            ..allow.clone()
        };
        for args in [
            vec!["dump", "--scoreboard", "/etc/shadow"],
            vec!["dump", "--scoreboard", &sbf],
            vec!["check_stuck_requests", "-w", "0", "--scoreboard", &sbf],
        ] {
            let run = confined(&setup, Some(allowed), &names[1], &os(&args));
            assert_no_secret(&format!("ulimit -n {nofile} {args:?}"), &run);
            assert!(
                (0..=3).contains(&run.code) && run.stdout.lines().count() <= 12,
                "ulimit -n {nofile} {args:?}: {}",
                run.stdout
            );
            if args[0] == "dump" {
                assert_refused(&format!("ulimit -n {nofile} {args:?}"), &run, "");
            }
        }
    }

    // 3. `..` after the caller's symlink, absolute and relative: refused,
    // in the same words whether the path exists or not.
    symlink(scene.home.join("a/b/c/d"), scene.home.join("L")).expect("symlink");
    chown(&scene.home.join("L"), allowed);
    let w = scene.home.join("w");
    fs::create_dir_all(&w).expect("mkdir");
    chown(&w, allowed);
    symlink(scene.private.join("run"), w.join("run")).expect("symlink");
    let up = format!(
        "{}/L/../../../../w/run/apache2/apache_scoreboard",
        scene.home.display()
    );
    let up_missing = format!(
        "{}/L/../../../../w/run/apache2/nothing",
        scene.home.display()
    );
    let relative = format!("{}/../../..{}", shm_name.to_string_lossy(), deep);
    let via_dir_link = format!("{}/w/run/apache2/apache_scoreboard", scene.home.display());
    for spec in [
        &up,
        &up_missing,
        &relative,
        &via_dir_link,
        &format!("{sbf}/."),
        &format!("/{sbf}"),
    ] {
        let run = confined(
            &allow,
            Some(allowed),
            &names[1],
            &os(&["check_scoreboard_busy", "--scoreboard", spec]),
        );
        assert_refused(spec, &run, "refusing --scoreboard");
    }
    let said = |spec: &str| {
        confined(
            &allow,
            Some(allowed),
            program,
            &os(&["check_scoreboard_busy", "--scoreboard", spec]),
        )
        .stdout
        .replace(spec, "PATH")
    };
    assert_eq!(said(&up), said(&up_missing));
    assert_eq!(said(&deep), said(&format!("{deep}.missing")));

    // A squatting object of the caller's where a listed scoreboard's
    // derived object belongs: not root's, refused before a byte is read.
    let squat_sbf = scene.dir.path("not-running/apache_status");
    let squat = crate::support::httpd::posix_shm_path(&squat_sbf);
    fs::write(&squat, secret_bytes()).expect("squat");
    chown(&squat, allowed);
    let squat_allow = Setup::allow(&format!("{}\n{sbf}\n", squat_sbf.display()));
    for spec in [squat_sbf.display().to_string(), squat.display().to_string()] {
        let run = confined(
            &squat_allow,
            Some(allowed),
            program,
            &os(&["check_scoreboard_busy", "--scoreboard", &spec]),
        );
        assert_refused(&spec, &run, "not root");
    }
    let _ = fs::remove_file(&squat);

    // 4. The checks for the allowed group: the live scoreboard, its query
    // strings as `?…`, no clients, --show-query/--show-clients ignored.
    for args in [
        vec!["check_scoreboard_busy", "--scoreboard", &sbf],
        vec!["check_stuck_requests", "-w", "0", "--scoreboard", &sbf],
        vec![
            "check_stuck_requests",
            "-w",
            "0",
            "--show-query",
            "--show-clients",
            "-vvv",
            "--scoreboard",
            &shm,
        ],
        vec![
            "check_vhost_saturation",
            "-w",
            "90",
            "-c",
            "99",
            "--scoreboard",
            &sbf,
        ],
        vec!["check_stuck_requests", "-w", "0"],
    ] {
        let run = confined(&allow, Some(allowed), &names[1], &os(&args));
        assert!(
            run.code < 3 && run.stdout.starts_with("SCOREBOARD "),
            "{args:?}: {}",
            run.stdout
        );
        assert_no_secret(&format!("{args:?}"), &run);
        assert!(
            !run.stdout.contains("127.0.0.1"),
            "{args:?}: {}",
            run.stdout
        );
        if args[0] == "check_stuck_requests" {
            assert!(
                run.stdout.contains("sleep.cgi?…"),
                "{args:?}: {}",
                run.stdout
            );
        }
        let run = confined(&allow, Some(outsider), &names[1], &os(&args));
        outsider_refused(&format!("outsider {args:?}"), &run);
    }
    // `top` as the checks: query strings as `?…`, no clients, whatever
    // it is asked; the outsider refused.
    let top = os(&[
        "top",
        "--once",
        "--show-query",
        "--show-clients",
        "--scoreboard",
        &sbf,
    ]);
    let run = confined(&allow, Some(allowed), program, &top);
    assert_eq!(run.code, 0, "top: {}", run.stdout);
    assert!(run.stdout.contains("sleep.cgi?…"), "top: {}", run.stdout);
    assert!(
        !run.stdout.contains("127.0.0.1") && !run.stdout.contains("CLIENT"),
        "top: {}",
        run.stdout
    );
    assert_no_secret("top", &run);
    let run = confined(&allow, Some(outsider), program, &top);
    outsider_refused("outsider top", &run);
    // A query string cannot be probed through --exclude-request globs.
    let count = |glob: &str| {
        let run = confined(
            &allow,
            Some(allowed),
            program,
            &os(&[
                "check_stuck_requests",
                "-w",
                "0",
                "--exclude-request",
                glob,
                "--scoreboard",
                &sbf,
            ]),
        );
        crate::util::perfdata(&run.stdout)["inflight"]
    };
    assert_eq!(
        count(&format!("*{QUERY_SECRET}*")),
        count("*no-such-request*")
    );
    // With show-details, the group sees what root sees: the secret is
    // really there (so the assertions above are not vacuous).
    let details = scene.allowlist(true);
    let run = confined(
        &details,
        Some(allowed),
        program,
        &os(&["dump", "--scoreboard", &sbf]),
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains(QUERY_SECRET), "{}", run.stdout);
    let run = confined(
        &details,
        Some(allowed),
        program,
        &os(&[
            "check_stuck_requests",
            "-w",
            "0",
            "--show-query",
            "--scoreboard",
            &sbf,
        ]),
    );
    assert!(run.stdout.contains(QUERY_SECRET), "{}", run.stdout);
    let run = confined(&details, Some(allowed), program, &top);
    assert!(
        run.stdout.contains(QUERY_SECRET) && run.stdout.contains("CLIENT"),
        "top with show-details: {}",
        run.stdout
    );
    let run = confined(
        &details,
        Some(outsider),
        program,
        &os(&["dump", "--scoreboard", &sbf]),
    );
    outsider_refused("outsider dump", &run);

    // No allowlist, or one not root's alone: nothing is opened.
    let run = confined(
        &Setup::default(),
        Some(allowed),
        program,
        &os(&["check_scoreboard_busy"]),
    );
    assert_refused("no allowlist", &run, "is missing");

    // 5. manpage and instances hold no capability: a root-only directory
    // answers the same whether a path in it exists or not.
    let said = |dir: &Path| {
        let d = dir.display().to_string();
        let run = confined(
            &allow,
            Some(allowed),
            program,
            &os(&["manpage", "--dir", &d]),
        );
        run.stdout.replace(&d, "DIR")
    };
    fs::create_dir_all(scene.private.join("exists")).expect("mkdir");
    assert_eq!(
        said(&scene.private.join("exists")),
        said(&scene.private.join("missing"))
    );
    assert!(fs::read_dir(scene.private.join("exists"))
        .expect("dir")
        .next()
        .is_none());
    let run = confined(&allow, Some(allowed), program, &os(&["instances"]));
    assert!(
        !run.stdout.contains("\n  segment "),
        "instances read a segment: {}",
        run.stdout
    );
    assert_no_secret("instances", &run);
    drop(held);
}

/// A copy of the binary with the package's capability, runnable by anyone.
fn capable_copy(dir: &Path) -> PathBuf {
    let bin = dir.join("apache-scoreboard");
    crate::util::install_binary(&bin);
    let ok = Command::new(tool("setcap").expect("setcap"))
        .args(["cap_dac_read_search,cap_ipc_owner+ep"])
        .arg(&bin)
        .status()
        .expect("setcap");
    assert!(ok.success(), "setcap failed");
    bin
}

/// Users for the attacks, or why the test cannot run.
pub fn attackers() -> Option<(User, User)> {
    let missing = ["setcap", "setpriv", "unshare"]
        .into_iter()
        .find(|t| tool(t).is_none());
    let users = (User::get("nagios"), User::get("nobody"));
    match (missing, users) {
        (None, (Some(nagios), Some(nobody))) => Some((nagios, nobody)),
        (missing, _) => {
            let why = format!(
                "{} missing (apt-get install libcap2-bin util-linux; packaging/ci-deps.sh --install for user nagios)",
                missing.unwrap_or("user nagios or nobody")
            );
            assert!(!ci(), "CI=true but {why}");
            eprintln!("skipping: {why}");
            None
        }
    }
}

/// [`attackers`], when a live httpd can run too.
fn live_attackers() -> Option<(User, User)> {
    if !require_apache() {
        return None;
    }
    attackers()
}

#[test]
fn capability_cannot_be_turned_against_the_host() {
    let Some((nagios, nobody)) = live_attackers() else {
        return;
    };
    let dir = TempDir::new("priv-bin");
    let bin = capable_copy(&dir.0);
    let h = Httpd::start(HttpdConfig::new(Mpm::Prefork)).expect("start apache2");

    // The capability does its job: the listed scoreboard, by its path, by
    // its derived object and by discovery (the allowlist's one entry).
    let sbf = h.scoreboard_file().display().to_string();
    let allow = Setup::allow(&format!("{sbf}\n"));
    for args in [
        vec!["check_scoreboard_busy", "--scoreboard", &sbf],
        vec![
            "check_scoreboard_busy",
            "--scoreboard",
            &h.shm_path().display().to_string(),
        ],
        vec!["check_scoreboard_busy"],
    ] {
        let run = confined(&allow, Some(&nagios), &bin, &os(&args));
        assert_eq!(run.code, 0, "{args:?}: {}", run.stdout);
        assert!(run.stdout.starts_with("SCOREBOARD OK - "), "{}", run.stdout);
        assert!(run.stderr.is_empty(), "{}", run.stderr);
    }
    // Without it: the kernel's permission denied, and what to do.
    let run = confined(
        &allow,
        Some(&nagios),
        Path::new(BIN),
        &os(&["check_scoreboard_busy", "--scoreboard", &sbf]),
    );
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(
        run.stdout.contains("permission denied")
            && run
                .stdout
                .contains("run via sudo or install with the capability; see README"),
        "{}",
        run.stdout
    );
    attacks(&bin, &h, &nagios, &nobody, true);
    drop(h);
    drop(dir);
}

/// A process named `httpd` (a copy of this test binary running
/// [`fake_httpd`], which maps a file and waits) run as `user` from `dir`.
struct FakeHttpd {
    child: Child,
}

impl FakeHttpd {
    fn start(dir: &Path, user: Option<&User>, maps: &Path) -> FakeHttpd {
        let exe = dir.join("httpd");
        // By install(1), not from this process (see util::install_binary).
        let ok = Command::new("install")
            .args(["-m", "0755"])
            .arg(std::env::current_exe().expect("test binary"))
            .arg(&exe)
            .status()
            .expect("run install(1)")
            .success();
        assert!(ok, "install {}", exe.display());
        let mut cmd = match user {
            Some(u) => {
                let mut c = Command::new(tool("setpriv").expect("setpriv"));
                c.arg(format!("--reuid={}", u.uid))
                    .arg(format!("--regid={}", u.gid))
                    .arg("--clear-groups")
                    .arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let mut child = cmd
            .args([
                "--exact",
                "privilege::fake_httpd",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(FAKE_HTTPD, maps)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("fake httpd");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        while !line.contains("mapped") {
            line.clear();
            assert!(
                out.read_line(&mut line).expect("read") > 0,
                "the fake httpd did not map {}",
                maps.display()
            );
        }
        FakeHttpd { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for FakeHttpd {
    fn drop(&mut self) {
        // Closing stdin ends it; then reap it by its pid.
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FAKE_HTTPD: &str = "APACHE_SCOREBOARD_TEST_FAKE_HTTPD";

/// Not a test: the body of [`FakeHttpd`] (does nothing unless started as
/// one). Maps the file named by the environment and waits for stdin.
#[test]
fn fake_httpd() {
    let Some(path) = std::env::var_os(FAKE_HTTPD) else {
        return;
    };
    let file = fs::File::open(&path).expect("open");
    let len = file.metadata().expect("stat").len() as usize;
    // SAFETY: a shared read-only mapping of an open file, never read here.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        )
    };
    assert_ne!(addr, libc::MAP_FAILED);
    println!("mapped");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// `instances`' block for one httpd: from its `httpd pid N` line (at the
/// start of a line: a capacity error inside a block may name the pid too)
/// to the next block.
fn instance_block(instances: &str, pid: u32) -> Option<String> {
    format!("\n{instances}")
        .split("\nhttpd pid ")
        .find(|b| b.starts_with(&format!("{pid}\n")))
        .map(str::to_owned)
}

/// Reproduction 2: as root (the sudo mode), discovery trusts only httpd
/// parents that run as root from root's executables in root's directories,
/// and no open follows a symlink.
#[test]
fn root_trusts_only_roots_httpd() {
    let Some((nagios, _)) = live_attackers() else {
        return;
    };
    let h = Httpd::start(HttpdConfig::new(Mpm::Prefork)).expect("start apache2");
    let held = h.hold("lab.test", 60, QUERY_SECRET);
    let scene = Scene::new(&h, &nagios);
    // The user's object, mapped by the user's `httpd`, then swapped for a
    // symlink to a root-only file.
    let object = PathBuf::from(format!(
        "/dev/shm/ShM.{:x}H{:x}",
        std::process::id(),
        0xfeed_u32
    ));
    let _object = RemovedOnDrop(object.clone());
    fs::write(&object, secret_bytes()).expect("object");
    chown(&object, &nagios);
    let user_bin = scene.home.join("bin");
    for d in ["", "u", "r"] {
        fs::create_dir_all(user_bin.join(d)).expect("mkdir");
        chown(&user_bin.join(d), &nagios);
    }
    let fake_user = FakeHttpd::start(&user_bin.join("u"), Some(&nagios), &object);
    // Root's process, but from a directory the user may write.
    let fake_root = FakeHttpd::start(&user_bin.join("r"), None, &object);
    fs::remove_file(&object).expect("swap");
    symlink(scene.private.join("secret.txt"), &object).expect("symlink");

    let root = Setup::default();
    let instances = confined(&root, None, Path::new(BIN), &os(&["instances", "-t", "60"])).stdout;
    for fake in [&fake_user, &fake_root] {
        let block = instance_block(&instances, fake.pid())
            .unwrap_or_else(|| panic!("fake {} not listed:\n{instances}", fake.pid()));
        assert!(
            block.contains("not trusted by root") && !block.contains("\n  segment "),
            "{block}"
        );
    }
    // Root's own httpd is trusted and read.
    let lab = instance_block(&instances, h.pid())
        .unwrap_or_else(|| panic!("httpd {} not listed:\n{instances}", h.pid()));
    assert!(
        !lab.contains("not trusted")
            && lab.contains("\n  segment ")
            && lab.contains("/dev/shm/ShM."),
        "{lab}"
    );
    // Discovery ignores both; the named object is refused.
    let run = confined(
        &root,
        None,
        Path::new(BIN),
        &os(&["check_stuck_requests", "-w", "0"]),
    );
    assert_no_secret("root discovery", &run);
    assert!(
        !run.stdout.contains(&object.display().to_string()),
        "{}",
        run.stdout
    );
    let spec = object.display().to_string();
    let run = confined(
        &root,
        None,
        Path::new(BIN),
        &os(&["dump", "--scoreboard", &spec]),
    );
    assert_refused(
        "root, symlinked object",
        &run,
        "without following a symlink",
    );
    // Root opens nothing through a symlinked directory or `..`, and nothing
    // not root's.
    let linked_dir = scene.home.join("w");
    fs::create_dir_all(&linked_dir).expect("mkdir");
    symlink(scene.private.join("run"), linked_dir.join("run")).expect("symlink");
    let own = scene.home.join("own.bin");
    fs::write(&own, secret_bytes()).expect("write");
    chown(&own, &nagios);
    for (spec, expect) in [
        (
            linked_dir
                .join("run/apache2/apache_scoreboard")
                .display()
                .to_string(),
            "without following a symlink",
        ),
        (
            format!("{}/a/../../private/secret.txt", scene.home.display()),
            "`..`",
        ),
        (own.display().to_string(), "not root"),
    ] {
        let run = confined(
            &root,
            None,
            Path::new(BIN),
            &os(&["dump", "--scoreboard", &spec]),
        );
        assert_refused(&spec, &run, expect);
    }
    // Root itself still reads everything: the secret is there.
    let run = confined(
        &root,
        None,
        Path::new(BIN),
        &os(&[
            "dump",
            "--scoreboard",
            &h.scoreboard_file().display().to_string(),
        ]),
    );
    assert!(run.stdout.contains(QUERY_SECRET), "{}", run.stdout);
    drop(fake_user);
    drop(fake_root);
    drop(held);
    drop(h);
}
