//! The user that serves a scoreboard process's request, as the kernel says,
//! and that user's name as `/etc/passwd` gives it.
//!
//! Under mpm-itk (2.4.7 and later) a prefork child forks once per
//! connection and that fork switches to the vhost's `AssignUserID` user
//! (mpm_itk.c: `itk_fork_process`, then `setuid` in
//! `itk_post_perdir_config`); the parent waits for it, so the pid the
//! scoreboard names keeps httpd's own user while its one httpd child
//! serves. Under every other MPM the process named serves its requests
//! itself. Either way the answer is a *real* uid read from
//! `/proc/PID/status`: `/proc/PID`'s owner is the effective uid, or root
//! once a process changed credentials and became non-dumpable.
//!
//! Every read is bounded; a process that vanished meanwhile is simply left
//! out. A `/proc` read can block on a process hung in the kernel: callers
//! run these inside [`super::proc::time_boxed`] or [`crate::watchdog::guard`].

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;

use super::proc::{for_each_line, read_bounded, stat};

/// `/proc/PID/status` is read up to here: `Uid:` is its ninth line.
const STATUS_LIMIT: u64 = 4096;
/// One task's `children` file: pids and spaces.
const CHILDREN_LIMIT: u64 = 64 * 1024;
/// Processes looked at when the kernel has no `children` files.
const MAX_SCANNED: usize = 1 << 20;
/// `/etc/passwd` is read up to here (a hoster's with 100 000 users is
/// about 8 MiB).
const PASSWD_LIMIT: u64 = 64 << 20;
/// A longer passwd line is skipped.
const PASSWD_LINE_LIMIT: u64 = 64 * 1024;

/// For each live httpd child of `pids` (a scoreboard's), the real uid that
/// serves its request: that of its own httpd child (one with the same
/// command name: mpm-itk's per-connection fork) when it has one, else its
/// own. A pid whose parent does not run the same program (gone, reused by
/// another program, or named by a hostile segment) is left out, as
/// [`crate::shm::proc::live_info`] leaves it out of the live children.
pub fn serving_uids(pids: impl IntoIterator<Item = i32>) -> HashMap<i32, u32> {
    let mut seen = HashSet::new();
    // Every child has the same parent: its name is read once.
    let mut parents: HashMap<i32, Option<String>> = HashMap::new();
    // Built on the first process whose `children` files the kernel lacks.
    let mut by_parent: Option<HashMap<i32, Vec<i32>>> = None;
    let mut uids = HashMap::new();
    for pid in pids.into_iter().filter(|&p| p > 0) {
        if !seen.insert(pid) {
            continue;
        }
        let Some(me) = stat(pid) else { continue };
        let parent = parents
            .entry(me.ppid)
            .or_insert_with(|| stat(me.ppid).map(|s| s.comm));
        if me.ppid <= 1 || parent.as_deref() != Some(me.comm.as_str()) {
            continue;
        }
        let Some(own) = real_uid(pid) else { continue };
        let children = children(pid).unwrap_or_else(|| {
            by_parent
                .get_or_insert_with(scan_parents)
                .get(&pid)
                .cloned()
                .unwrap_or_default()
        });
        let serving = children
            .into_iter()
            .filter(|&child| {
                // The pid may have been reused since the listing.
                stat(child).is_some_and(|s| s.ppid == pid && s.comm == me.comm)
            })
            .find_map(real_uid);
        uids.insert(pid, serving.unwrap_or(own));
    }
    uids
}

/// The real uid in `/proc/PID/status` (`Uid:` real, effective, saved, fs).
fn real_uid(pid: i32) -> Option<u32> {
    let mut uid = None;
    for_each_line(
        &format!("/proc/{pid}/status"),
        STATUS_LIMIT,
        |line| match line.strip_prefix("Uid:") {
            Some(ids) => {
                uid = ids.split_whitespace().next().and_then(|u| u.parse().ok());
                false
            }
            None => true,
        },
    )
    .ok()?;
    uid
}

/// The children of `pid`'s main thread (`/proc/PID/task/PID/children`);
/// `None` when the kernel has no such files (built without
/// `CONFIG_PROC_CHILDREN`) or the process is gone. mpm-itk's fork is the
/// main thread's child: mpm-itk refuses threaded MPMs, and prefork serves
/// its connection on the main thread. The other threads' children files
/// are not read (an event child has dozens of threads; a child they fork
/// to run a CGI is no serving httpd).
fn children(pid: i32) -> Option<Vec<i32>> {
    let main = read_bounded(&format!("/proc/{pid}/task/{pid}/children"), CHILDREN_LIMIT)?;
    Some(pid_list(&main))
}

fn pid_list(bytes: &[u8]) -> Vec<i32> {
    String::from_utf8_lossy(bytes)
        .split_ascii_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|&p| p > 0)
        .collect()
}

/// Every process's parent from `/proc/*/stat`, as children by parent
/// (the first [`MAX_SCANNED`] entries of `/proc`).
fn scan_parents() -> HashMap<i32, Vec<i32>> {
    let mut by_parent: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return by_parent;
    };
    for pid in entries
        .take(MAX_SCANNED)
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
    {
        if let Some(s) = stat(pid) {
            by_parent.entry(s.ppid).or_default().push(pid);
        }
    }
    by_parent
}

/// For each live process of `pids`, the name of the user serving its
/// requests ([`serving_uids`], then [`user_names`]; `#UID` for a uid
/// `/etc/passwd` does not name).
pub fn serving_user_names(pids: impl IntoIterator<Item = i32>) -> HashMap<i32, String> {
    let uids = serving_uids(pids);
    let names = user_names(uids.values().copied());
    uids.into_iter()
        .map(|(pid, uid)| {
            let name = names
                .get(&uid)
                .cloned()
                .unwrap_or_else(|| format!("#{uid}"));
            (pid, name)
        })
        .collect()
}

/// The name `/etc/passwd` gives `uid`, or `#UID` when it names none (or
/// cannot be read). Read by the binary itself: a static binary has no NSS.
pub fn user_name(uid: u32) -> String {
    user_names([uid])
        .remove(&uid)
        .unwrap_or_else(|| format!("#{uid}"))
}

/// The names of `uids` in one read of `/etc/passwd` (the first entry of a
/// uid wins, as with `getpwuid`); uids it does not name are left out.
/// Bytes that are not UTF-8 are replaced.
pub fn user_names(uids: impl IntoIterator<Item = u32>) -> HashMap<u32, String> {
    let wanted = uids.into_iter().collect();
    match open_passwd() {
        Some(passwd) => names_in(BufReader::new(passwd.take(PASSWD_LIMIT)), wanted),
        None => HashMap::new(),
    }
}

/// The names of `wanted` in a passwd file, read until all are found.
fn names_in(mut reader: impl BufRead, mut wanted: HashSet<u32>) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    let mut line = Vec::new();
    while !wanted.is_empty() {
        line.clear();
        match (&mut reader)
            .take(PASSWD_LINE_LIMIT)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.last() != Some(&b'\n') && line.len() as u64 == PASSWD_LINE_LIMIT {
            // Too long to be an entry: skip to its end.
            if skip_line(&mut reader).is_err() {
                break;
            }
            continue;
        }
        if let Some((name, uid)) = passwd_entry(&line) {
            if wanted.remove(&uid) {
                names.insert(uid, name);
            }
        }
    }
    names
}

/// Consumes the rest of a line (`BufRead::skip_until`, newer than our MSRV).
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(end) = memchr::memchr(b'\n', buf) {
            reader.consume(end + 1);
            return Ok(());
        }
        let n = buf.len();
        reader.consume(n);
    }
}

/// `/etc/passwd`, when it is a regular file (never a FIFO that would block).
fn open_passwd() -> Option<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open("/etc/passwd")
        .ok()?;
    file.metadata().ok()?.is_file().then_some(file)
}

/// `name:password:uid:...`: the name and uid of one passwd line (`None`
/// for comments, NIS `+`/`-` entries and anything malformed).
fn passwd_entry(line: &[u8]) -> Option<(String, u32)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut fields = line.split(|&b| b == b':');
    let name = fields.next()?;
    if name.is_empty() || matches!(name[0], b'#' | b'+' | b'-') {
        return None;
    }
    let uid = std::str::from_utf8(fields.nth(1)?).ok()?.parse().ok()?;
    Some((String::from_utf8_lossy(name).into_owned(), uid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_real_uid() -> u32 {
        nix::unistd::getuid().as_raw()
    }

    /// `sh` running `sh` running `sh`: the middle one is a live child of
    /// its own program (as an httpd child is of the httpd parent), the
    /// innermost its fork (as mpm-itk's is), as root under another user.
    /// Ends the three by pid when dropped.
    struct Shells {
        outer: std::process::Child,
        middle: i32,
        inner: i32,
    }

    impl Shells {
        fn start() -> Shells {
            let inner = "sh -c 'while :; do sleep 1; done'";
            let middle = if own_real_uid() == 0 {
                format!("setpriv --reuid 65534 --regid 65534 --clear-groups {inner} & wait")
            } else {
                format!("{inner} & wait")
            };
            let outer = std::process::Command::new("sh")
                .args(["-c", &format!("sh -c \"{middle}\" & wait")])
                .spawn()
                .expect("sh");
            // Dropped (and so ended) however this is left.
            let mut shells = Shells {
                outer,
                middle: 0,
                inner: 0,
            };
            let outer_pid = shells.outer.id() as i32;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            let sh_child = |parent: i32| {
                children(parent)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|&c| stat(c).is_some_and(|s| s.comm == "sh"))
            };
            while shells.inner == 0 {
                assert!(std::time::Instant::now() < deadline, "no shells");
                std::thread::sleep(std::time::Duration::from_millis(10));
                let Some(middle) = sh_child(outer_pid) else {
                    continue;
                };
                shells.middle = middle;
                // setpriv execs sh once it switched: wait for the uid.
                if let Some(inner) =
                    sh_child(middle).filter(|&i| real_uid(i) == Some(Shells::served_by()))
                {
                    shells.inner = inner;
                }
            }
            shells
        }

        fn served_by() -> u32 {
            if own_real_uid() == 0 {
                65534
            } else {
                own_real_uid()
            }
        }
    }

    impl Drop for Shells {
        fn drop(&mut self) {
            let pids = [self.inner, self.middle].map(|p| p.to_string());
            // kill(1) by pid, never 0 (the process group).
            let _ = std::process::Command::new("kill")
                .args(pids.iter().filter(|p| *p != "0"))
                // The middle one may end with the inner one first.
                .stderr(std::process::Stdio::null())
                .status();
            let _ = self.outer.kill();
            let _ = self.outer.wait();
        }
    }

    #[test]
    fn a_child_of_the_same_program_serves() {
        let shells = Shells::start();
        let outer = shells.outer.id() as i32;
        // Both the listing and the /proc scan find the fork.
        assert!(scan_parents()[&shells.middle].contains(&shells.inner));
        assert!(children(shells.middle)
            .expect("CONFIG_PROC_CHILDREN")
            .contains(&shells.inner));
        let uids = serving_uids([shells.middle, shells.middle, outer, -1, 0]);
        // The outer shell's parent is this test, another program: left out.
        assert_eq!(uids, HashMap::from([(shells.middle, Shells::served_by())]));
    }

    #[test]
    fn a_process_that_is_no_child_of_its_own_program_is_left_out() {
        let me = std::process::id() as i32;
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = sleeper.id() as i32;
        assert!(serving_uids([me, pid]).is_empty());
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert!(serving_uids([pid]).is_empty());
    }

    /// An idle mpm-itk slot: its process has no per-connection child and
    /// serves itself, as httpd's `User` (what `dump` shows as its user).
    #[test]
    fn an_idle_process_is_served_by_its_own_user() {
        let shells = Shells::start();
        let own = real_uid(shells.inner).expect("inner shell");
        assert_eq!(
            serving_uids([shells.inner]),
            HashMap::from([(shells.inner, own)])
        );
    }

    #[test]
    fn a_child_running_another_program_does_not_serve() {
        // The innermost shell's `sleep` is its child under another command
        // name: the innermost shell, a live child of sh, serves itself.
        let shells = Shells::start();
        let uids = serving_uids([shells.inner]);
        assert_eq!(uids, HashMap::from([(shells.inner, Shells::served_by())]));
    }

    #[test]
    fn passwd_lines() {
        assert_eq!(
            passwd_entry(b"www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"),
            Some(("www-data".into(), 33))
        );
        assert_eq!(
            passwd_entry(b"caf\xe9:x:1001:1001::/home/c:/bin/sh"),
            Some(("caf\u{fffd}".into(), 1001))
        );
        for bad in [
            &b"+nis::0:0:::"[..],
            b"# root:x:0:0",
            b":x:5:5::",
            b"a:x:-1:0::",
            b"a:x",
            b"",
        ] {
            assert_eq!(
                passwd_entry(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn first_entry_wins_and_overlong_lines_are_skipped() {
        let long = format!(
            "evil:x:7:7:{}:/:/bin/sh\nlp:x:7:7::/:/bin/sh\n",
            "g".repeat(100_000)
        );
        let passwd =
            format!("# c\nroot:x:0:0::/root:/bin/sh\nroot2:x:0:0::/:/bin/sh\n{long}tail:x:9:9::/:");
        let names = names_in(passwd.as_bytes(), HashSet::from([0, 7, 9, 11]));
        let want = [(0, "root"), (7, "lp"), (9, "tail")];
        assert_eq!(names, want.map(|(u, n)| (u, n.to_string())).into());
    }

    #[test]
    fn names_from_the_system_passwd() {
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(4_000_000_123), "#4000000123");
        let names = user_names([0, 4_000_000_123]);
        assert_eq!(names.len(), 1);
    }
}
