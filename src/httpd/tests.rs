//! Configuration trees written to a temporary directory and read as a
//! running httpd's would be.

use std::fs;
use std::path::{Path, PathBuf};

use super::conf::{atoi, fnmatch, logical_lines, words, MpmDirective};
use super::process::{BinaryInfo, Started};
use super::*;

/// A temporary ServerRoot, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!(
            "apache-scoreboard-conf-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        Tree(dir)
    }

    fn write(&self, rel: &str, text: &str) -> &Tree {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, text).expect("write");
        self
    }

    /// An httpd started as `binary -d <root> -f <conf> args...`.
    fn started(&self, binary: &str, conf: &str, args: &[&str], env: &[(&str, &str)]) -> Started {
        let mut argv: Vec<Vec<u8>> = vec![
            binary.into(),
            "-d".into(),
            self.0.as_os_str().as_encoded_bytes().to_vec(),
            "-f".into(),
            conf.into(),
        ];
        argv.extend(args.iter().map(|a| a.as_bytes().to_vec()));
        let env = env
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        let mut image = BinaryInfo::assumed(Some(Path::new(binary)));
        image.version = Some(crate::scoreboard::HttpdVersion::new(2, 4, 62));
        Started::from_args(42, Some(binary.into()), Some(image), &argv, env)
    }

    fn read(&self, conf: &str, args: &[&str], env: &[(&str, &str)]) -> RunningConfig {
        RunningConfig::from_started(&self.started("/usr/sbin/apache2", conf, args, env))
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn at(r: &RunningConfig, f: &Figure<usize>) -> String {
    match &f.source {
        Source::File { path, line } => format!(
            "{} {}:{line}",
            f.value,
            path.strip_prefix(&r.conf.server_root)
                .unwrap_or(path)
                .display()
        ),
        other => format!("{} {other}", f.value),
    }
}

/// Debian's layout: mods-enabled/*.load then *.conf, IfModule on symbols.
fn debian(tree: &Tree, mpm: &str, conf: &str) {
    tree.write(
        "apache2.conf",
        "# comment\n\
             Mutex file:${APACHE_LOCK_DIR} default\n\
             PidFile ${APACHE_PID_FILE}\n\
             IncludeOptional mods-enabled/*.load\n\
             IncludeOptional mods-enabled/*.conf\n\
             Include ports.conf\n\
             IncludeOptional conf-enabled/*.conf\n\
             IncludeOptional sites-enabled/*.conf\n\
             ScoreBoardFile run/sb\n",
    );
    tree.write(
        &format!("mods-enabled/mpm_{mpm}.load"),
        &format!("LoadModule mpm_{mpm}_module /usr/lib/apache2/modules/mod_mpm_{mpm}.so\n"),
    );
    tree.write(&format!("mods-enabled/mpm_{mpm}.conf"), conf);
    tree.write(
        "mods-enabled/status.load",
        "LoadModule status_module /usr/lib/apache2/modules/mod_status.so\n",
    );
    tree.write(
        "ports.conf",
        "Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n",
    );
    tree.write(
        "sites-enabled/000-default.conf",
        "<VirtualHost *:80>\n\tServerName www.example.test\n\tServerAlias example.test \\\n\t  alt.example.test\n</VirtualHost>\n",
    );
}

#[test]
fn debian_event_stock() {
    let t = Tree::new("debian-event");
    debian(
        &t,
        "event",
        "<IfModule mpm_event_module>\n\tStartServers 2\n\tThreadLimit 64\n\tThreadsPerChild 25\n\tMaxRequestWorkers 150\n</IfModule>\n",
    );
    let r = t.read(
        "apache2.conf",
        &["-k", "start"],
        &[("APACHE_LOCK_DIR", "/run/lock/apache2")],
    );
    assert_eq!(r.conf.incomplete, Vec::<String>::new());
    assert_eq!(r.conf.mpm.as_ref().map(|m| m.value), Some(Mpm::Event));
    let f = r.capacity().expect("capacity");
    assert_eq!(
        at(&r, &f.max_request_workers),
        "150 mods-enabled/mpm_event.conf:5"
    );
    assert_eq!(
        at(&r, &f.threads_per_child),
        "25 mods-enabled/mpm_event.conf:4"
    );
    assert_eq!(at(&r, &f.server_limit), "16 httpd default");
    assert_eq!(f.max_daemons(), 6);
    assert_eq!(
        r.conf.scoreboard_file.as_ref().map(|s| s.value.clone()),
        Some(t.0.join("run/sb"))
    );
    assert!(
        r.conf.extended_status.value,
        "mod_status loaded: ExtendedStatus on"
    );
    assert_eq!(
        r.conf
            .listen
            .iter()
            .map(|l| l.value.as_str())
            .collect::<Vec<_>>(),
        ["80"]
    );
    assert_eq!(r.conf.vhosts.len(), 1);
    assert_eq!(
        r.conf.vhosts[0].server_name.as_deref(),
        Some("www.example.test")
    );
    assert_eq!(
        r.conf.vhosts[0].aliases,
        ["example.test", "alt.example.test"]
    );
    assert_eq!(r.conf.vhosts[0].port(), Some(80));
    // APACHE_PID_FILE is not in this environment: httpd leaves it as written.
    assert!(
        r.conf
            .notes
            .iter()
            .any(|n| n.contains("${APACHE_PID_FILE}")),
        "{:?}",
        r.conf.notes
    );
    assert_eq!(
        f.max_request_workers.describe(),
        format!(
            "150 ({} line 5)",
            t.0.join("mods-enabled/mpm_event.conf").display()
        )
    );
}

#[test]
fn adjustments_as_httpd_makes_them() {
    let cases: &[(&str, &str, usize, usize, &str)] = &[
        // (mpm, directives, MaxRequestWorkers, ThreadsPerChild, note)
        (
            "event",
            "ThreadsPerChild 25\nMaxRequestWorkers 70\n",
            50,
            25,
            "AH00513",
        ),
        (
            "worker",
            "ThreadsPerChild 25\nMaxRequestWorkers 70\n",
            50,
            25,
            "AH00316",
        ),
        (
            "event",
            "ThreadsPerChild 25\nMaxRequestWorkers 10\n",
            25,
            25,
            "AH00511",
        ),
        (
            "event",
            "ServerLimit 2\nThreadsPerChild 25\nMaxRequestWorkers 150\n",
            50,
            25,
            "AH00515",
        ),
        (
            "worker",
            "ThreadLimit 20\nThreadsPerChild 25\nMaxRequestWorkers 100\n",
            100,
            20,
            "",
        ),
        ("event", "ServerLimit 4\n", 100, 25, "AH00515"),
        ("event", "", 400, 25, ""),
        ("prefork", "", 256, 1, ""),
        (
            "prefork",
            "ServerLimit 100\nMaxClients 150\n",
            100,
            1,
            "AH00180",
        ),
        ("prefork", "MaxRequestWorkers 0\n", 1, 1, "AH00182"),
        (
            "event",
            "ThreadsPerChild 25abc\nMaxRequestWorkers +75\n",
            75,
            25,
            "",
        ),
    ];
    for (mpm, directives, mrw, tpc, note) in cases {
        let t = Tree::new(&format!("adjust-{mpm}"));
        t.write(
            "httpd.conf",
            &format!("LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so\n{directives}"),
        );
        let r = t.read("httpd.conf", &[], &[]);
        let f = r.capacity().expect("capacity");
        assert_eq!(
            (f.max_request_workers.value, f.threads_per_child.value),
            (*mrw, *tpc),
            "{mpm}: {directives:?}"
        );
        let said = f.max_request_workers.adjusted.clone().unwrap_or_default()
            + &f.threads_per_child.adjusted.clone().unwrap_or_default();
        assert!(said.contains(note), "{mpm} {directives:?}: {said}");
        if note.is_empty() {
            assert!(f.max_request_workers.adjusted.is_none(), "{said}");
        }
    }
}

#[test]
fn rhel_tree_with_conditionals_defines_and_globs() {
    let t = Tree::new("rhel");
    t.write(
        "conf/httpd.conf",
        "ServerRoot \"ROOT\"\n\
         Include conf.modules.d/*.conf\n\
         Define POOL 3\n\
         Define SB_DIR run\n\
         <IfDefine !NOPE>\n\
         \x20 <IfModule !mpm_prefork_module>\n\
         \x20   <IfModule mod_mpm_event.c>\n\
         \x20   </IfModule>\n\
         \x20   <IfModule event.c>\n\
         \x20     ThreadsPerChild 10\n\
         \x20     MaxRequestWorkers ${POOL}0\n\
         \x20   </IfModule>\n\
         \x20 </IfModule>\n\
         </IfDefine>\n\
         <IfDefine NOPE>\n  MaxRequestWorkers 999\n  <IfModule x>\n  </IfModule>\n</IfDefine>\n\
         ScoreBoardFile ${SB_DIR}/../run//scoreboard\n\
         # MaxRequestWorkers 1\n\
         Listen 127.0.0.1:8080\n\
         IncludeOptional conf.d/*.conf\n\
         IncludeOptional missing.d/*.conf\n\
         IncludeOptional no-such-file.conf\n\
         <IfFile conf/httpd.conf>\n  ExtendedStatus Off\n</IfFile>\n\
         <IfVersion >= 2.4.60>\n  ServerLimit 5\n</IfVersion>\n"
            .replace("ROOT", &t.0.display().to_string())
            .as_str(),
    );
    t.write(
        "conf.modules.d/00-mpm.conf",
        "#LoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n\
         LoadModule mpm_event_module modules/mod_mpm_event.so\n",
    );
    t.write("conf.modules.d/.hidden.conf", "MaxRequestWorkers 1\n");
    t.write("conf.modules.d/01-x.conf.rpmsave", "MaxRequestWorkers 2\n");
    t.write(
        "conf.d/b.conf",
        "<VirtualHost 192.0.2.1:8443>\nServerName b.test\n</VirtualHost>\n",
    );
    t.write(
        "conf.d/a.conf",
        "<VirtualHost *:8080>\n  ServerName a.test\n  <Directory /x>\n    ServerName inner\n  </Directory>\n</VirtualHost>\n",
    );
    let r = RunningConfig::from_started(&t.started(
        "/usr/sbin/httpd",
        "conf/httpd.conf",
        &["-DFOREGROUND"],
        &[],
    ));
    assert_eq!(r.conf.incomplete, Vec::<String>::new());
    let f = r.capacity().expect("capacity");
    assert_eq!(at(&r, &f.max_request_workers), "30 conf/httpd.conf:11");
    assert_eq!(at(&r, &f.threads_per_child), "10 conf/httpd.conf:10");
    assert_eq!(at(&r, &f.server_limit), "5 conf/httpd.conf:30");
    assert_eq!(
        r.conf.scoreboard_file.as_ref().map(|s| s.value.clone()),
        Some(t.0.join("run/scoreboard"))
    );
    assert!(!r.conf.extended_status.value);
    assert_eq!(
        r.conf
            .vhosts
            .iter()
            .map(|v| (v.server_name.clone().unwrap_or_default(), v.port()))
            .collect::<Vec<_>>(),
        [
            ("a.test".to_string(), Some(8080)),
            ("b.test".to_string(), Some(8443))
        ]
    );
    assert_eq!(r.conf.files.len(), 4, "{:?}", r.conf.files);
}

#[test]
fn what_cannot_be_read_makes_capacity_unknown() {
    let t = Tree::new("incomplete");
    t.write(
        "httpd.conf",
        "LoadModule mpm_worker_module m.so\nInclude sites/*.conf\nInclude loop.conf\n",
    );
    t.write("loop.conf", "Include loop.conf\n");
    fs::create_dir(t.0.join("sites")).expect("mkdir");
    let r = t.read("httpd.conf", &[], &[]);
    let why = r.capacity().expect_err("incomplete").to_string();
    assert!(
        why.contains("no matches for the wildcard '*.conf'"),
        "{why}"
    );
    assert!(
        r.conf
            .incomplete
            .iter()
            .any(|i| i.contains("an Include loop")),
        "{:?}",
        r.conf.incomplete
    );

    let t = Tree::new("nompm");
    t.write("httpd.conf", "Include ${UNSET}/x.conf\n");
    let r = t.read("httpd.conf", &[], &[]);
    assert!(r.capacity().is_err());
    assert!(
        r.conf.incomplete[0].contains("undefined variable"),
        "{:?}",
        r.conf.incomplete
    );

    let t = Tree::new("unclosed");
    t.write(
        "httpd.conf",
        "LoadModule mpm_event_module m.so\n<IfModule nothing>\nMaxRequestWorkers 5\n",
    );
    assert!(t.read("httpd.conf", &[], &[]).capacity().is_err());

    // A FIFO, a directory and invalid UTF-8 neither block nor panic.
    let t = Tree::new("hostile");
    fs::write(
        t.0.join("httpd.conf"),
        b"LoadModule mpm_event_module m.so\nServerName \xff\xfe\nInclude fifo\n",
    )
    .expect("write");
    let made = std::process::Command::new("mkfifo")
        .arg(t.0.join("fifo"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let r = t.read("httpd.conf", &[], &[]);
    assert!(
        r.conf.incomplete[0].contains("not a regular file"),
        "{:?}",
        r.conf.incomplete
    );
}

#[test]
fn command_line_directives_and_defines() {
    let t = Tree::new("cmdline");
    t.write(
        "httpd.conf",
        "LoadModule mpm_event_module m.so\n<IfDefine BIG>\nMaxRequestWorkers 200\n</IfDefine>\n",
    );
    let r = t.read(
        "httpd.conf",
        &[
            "-D",
            "BIG",
            "-c",
            "ThreadsPerChild 50",
            "-C",
            "ServerLimit 3",
        ],
        &[],
    );
    let f = r.capacity().expect("capacity");
    assert_eq!(f.max_request_workers.value, 150);
    assert_eq!(
        f.threads_per_child.source,
        Source::CommandLine("-c #1".into())
    );
    assert_eq!(f.server_limit.source, Source::CommandLine("-C #1".into()));
}

#[test]
fn heartmonitor_storage_as_it_resolves_it() {
    let tree = Tree::new("heartmonitor");
    let root = tree.0.display().to_string();
    tree.write(
        "httpd.conf",
        "DefaultRuntimeDir run\nLoadModule mpm_event_module m.so\n\
         LoadModule heartmonitor_module modules/mod_heartmonitor.so\n\
         HeartbeatListen 239.0.0.1:27999\n",
    );
    let r = tree.read("httpd.conf", &[], &[]);
    let hm = r.conf.heartmonitor.expect("loaded");
    assert_eq!(hm.storage_file.value, tree.0.join("run/hb.dat"));
    assert_eq!(hm.storage_file.source, Source::Default);
    assert_eq!(hm.max_servers.value, 10);
    assert_eq!(hm.runtime_dir, tree.0.join("run"));
    // HeartbeatStorage is relative to the DefaultRuntimeDir of its line;
    // the slotmem name to the last one.
    tree.write(
        "httpd.conf",
        "LoadModule mpm_event_module m.so\n\
         LoadModule heartmonitor_module modules/mod_heartmonitor.so\n\
         HeartbeatStorage data/./x/../hb.dat\nHeartbeatMaxServers 0\n\
         DefaultRuntimeDir /var/run/apache2\n",
    );
    let r = tree.read("httpd.conf", &[], &[]);
    let hm = r.conf.heartmonitor.expect("loaded");
    assert_eq!(
        hm.storage_file.value,
        PathBuf::from(format!("{root}/logs/data/hb.dat"))
    );
    assert_eq!(hm.max_servers.value, 0);
    assert_eq!(hm.runtime_dir, PathBuf::from("/var/run/apache2"));
    tree.write("httpd.conf", "LoadModule mpm_event_module m.so\n");
    assert!(tree
        .read("httpd.conf", &[], &[])
        .conf
        .heartmonitor
        .is_none());
}

#[test]
fn lexing() {
    assert_eq!(
        logical_lines(b"  A b \\\n  c\r\n#x \\\ny\n\tD")
            .into_iter()
            .map(|(n, line)| (n, line.into_owned()))
            .collect::<Vec<_>>(),
        vec![
            (1, b"A b   c".to_vec()),
            (3, b"#x y".to_vec()),
            (5, b"D".to_vec())
        ]
    );
    assert_eq!(
        words(b"Listen \"a b\" 'c\\'d' e"),
        vec![
            b"Listen".to_vec(),
            b"a b".to_vec(),
            b"c'd".to_vec(),
            b"e".to_vec()
        ]
    );
    assert_eq!(atoi(b" 42abc"), 42);
    assert_eq!(atoi(b"-3"), -3);
    assert_eq!(atoi(b"x"), 0);
    assert_eq!(atoi(b"99999999999999"), i64::from(i32::MAX));
    assert!(fnmatch(b"*.conf", b"a.conf"));
    assert!(!fnmatch(b"*.conf", b".a.conf"));
    assert!(fnmatch(b"0[0-9]-*.con?", b"05-x.conf"));
    assert!(!fnmatch(b"[!0-9]*", b"5x"));
    assert!(fnmatch(b"\\*x", b"*x"));
    let _ = MpmDirective {
        name: "ServerLimit",
        value: 1,
        source: Source::Default,
    };
}

#[test]
fn files_changed_since_a_restart() {
    let t = Tree::new("changed");
    t.write(
        "httpd.conf",
        "LoadModule mpm_event_module m.so\nInclude more.conf\n",
    );
    t.write("more.conf", "MaxRequestWorkers 50\n");
    let r = t.read("httpd.conf", &[], &[]);
    assert_eq!(r.changed_since(std::time::UNIX_EPOCH).len(), 2);
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    assert!(r.changed_since(later).is_empty());
    // The segment's restart time is the last full restart: a graceful one
    // since may have applied the file, and the note must not deny it.
    let notes = r.changed_notes(std::time::UNIX_EPOCH);
    assert_eq!(notes.len(), 2);
    assert!(notes[1].ends_with(
        "more.conf changed since httpd's last full restart (a graceful restart since \
         would have applied it): figures are as the file says now"
    ));
    assert!(r.changed_notes(later).is_empty());
}

#[test]
fn listen_addresses() {
    use std::net::IpAddr;
    let v4: IpAddr = "192.0.2.1".parse().expect("v4");
    let v6: IpAddr = "2001:db8::1".parse().expect("v6");
    assert_eq!(super::parse_listen("80"), Some((None, 80)));
    assert_eq!(
        super::parse_listen("192.0.2.1:8080"),
        Some((Some(v4), 8080))
    );
    assert_eq!(
        super::parse_listen("[2001:db8::1]:443 https"),
        Some((Some(v6), 443))
    );
    assert_eq!(super::parse_listen("*:81"), Some((None, 81)));
    assert_eq!(super::parse_listen("name.test:80"), None);
}

#[test]
fn itk_tenants() {
    let t = Tree::new("itk");
    t.write(
        "httpd.conf",
        "LoadModule mpm_prefork_module m/mod_mpm_prefork.so\n\
         LoadModule mpm_itk_module m/mpm_itk.so\n\
         <IfModule mpm_itk.c>\nMaxRequestWorkers 40\n</IfModule>\n\
         AssignUserID web web\nMaxClientsVHost 5\n\
         <Directory /srv/x>\n  AssignUserID dir dir\n</Directory>\n\
         <VirtualHost *:80>\n  ServerName shop.test\n  <IfModule mpm_itk_module>\n    AssignUserID shop shop\n    MaxClientsVHost 10\n  </IfModule>\n</VirtualHost>\n\
         <VirtualHost *:80>\n  ServerName blog.test\n</VirtualHost>\n",
    );
    let r = t.read("httpd.conf", &[], &[]);
    assert!(r.conf.itk);
    assert_eq!(
        r.capacity().expect("capacity").max_request_workers.value,
        40
    );
    let v = &r.conf.vhosts[0];
    assert_eq!(v.assign_user_id, Some(("shop".into(), "shop".into())));
    assert_eq!(v.max_clients_vhost, Some(10));
    // The server-level AssignUserID is kept apart (a <Directory>'s is not
    // the server's); the server-level MaxClientsVHost reaches no vhost.
    assert_eq!(r.conf.assign_user_id, Some(("web".into(), "web".into())));
    let blog = &r.conf.vhosts[1];
    assert_eq!(
        (&blog.assign_user_id, blog.max_clients_vhost),
        (&None, None)
    );
}

/// Random configurations from the syntax's pieces (sections opened and
/// closed anyhow, Includes of themselves and of globs, variables, quotes,
/// continuations, invalid UTF-8, NULs): read without a panic, bounded.
#[test]
fn hostile_configurations_never_panic() {
    const PIECES: &[&[u8]] = &[
        b"<IfModule ",
        b"<IfModule !",
        b"</IfModule>",
        b"<IfDefine X>",
        b"</IfDefine>",
        b"<VirtualHost *:80>",
        b"</VirtualHost>",
        b"<Directory />",
        b"</Directory>",
        b"<IfVersion >= 2.4>",
        b"<IfVersion ~ x>",
        b"</IfVersion>",
        b"<IfFile a.conf>",
        b"</IfFile>",
        b"Include a.conf",
        b"Include *.conf",
        b"IncludeOptional [a-",
        b"Include ${X}/x",
        b"Define X 1",
        b"Define X ${X}y",
        b"UnDefine X",
        b"ServerRoot /",
        b"ServerRoot ..",
        b"LoadModule mpm_event_module m.so",
        b"LoadModule mpm_prefork_module m.so",
        b"MaxRequestWorkers -5",
        b"ThreadsPerChild 0",
        b"ServerLimit 99999999999",
        b"ThreadLimit \"7",
        b"MaxClients '3'",
        b"ScoreBoardFile \"../../x\"",
        b"Listen [::1",
        b"ServerName \xff\xfe",
        b"ServerAlias a b",
        b"AssignUserID",
        b"MaxClientsVHost x",
        b"\\\n",
        b"\n",
        b"\n",
        b"\n",
        b" ",
        b"#",
        b"\0",
        b"\"",
        b"'",
        b">",
        b"<",
        b"${",
        b"}",
    ];
    let t = Tree::new("fuzz");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..60 {
        for name in ["a.conf", "b.conf"] {
            let mut text = Vec::new();
            for _ in 0..next(60) {
                text.extend_from_slice(PIECES[next(PIECES.len())]);
                if next(3) == 0 {
                    text.push(b'\n');
                }
            }
            fs::write(t.0.join(name), &text).expect("write");
        }
        let r = t.read("a.conf", &["-D", "X"], &[("X", "b")]);
        assert!(r.conf.files.len() <= 10_000, "{}", r.conf.files.len());
        if let Some(f) = &r.figures {
            assert!(f.max_request_workers.value >= 1 && f.threads_per_child.value >= 1);
            assert!(
                f.max_request_workers.value <= f.server_limit.value * f.threads_per_child.value
            );
        }
    }
}

#[test]
fn variables_are_bounded() {
    let t = Tree::new("doubling");
    let mut conf = String::from("LoadModule mpm_event_module m.so\nDefine X ab\n");
    for _ in 0..40 {
        conf.push_str("Define X ${X}${X}\n");
    }
    t.write("httpd.conf", &conf);
    let r = t.read("httpd.conf", &[], &[]);
    assert!(
        r.conf
            .incomplete
            .iter()
            .any(|i| i.contains("with its variables")),
        "{:?}",
        r.conf.incomplete
    );
}
