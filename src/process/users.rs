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
/// Threads of one process looked at for children.
const MAX_TASKS: usize = 4096;
/// Processes looked at when the kernel has no `children` files.
const MAX_SCANNED: usize = 1 << 20;
/// `/etc/passwd` is read up to here (a hoster's with 100 000 users is
/// about 8 MiB).
const PASSWD_LIMIT: u64 = 64 << 20;
/// A longer passwd line is skipped.
const PASSWD_LINE_LIMIT: u64 = 64 * 1024;

/// For each live process of `pids` (a scoreboard's), the real uid that
/// serves its request: that of its httpd child (one with the same command
/// name: mpm-itk's per-connection fork) when it has one, else its own.
pub fn serving_uids(pids: impl IntoIterator<Item = i32>) -> HashMap<i32, u32> {
    let mut seen = HashSet::new();
    // Built on the first process whose `children` files the kernel lacks.
    let mut by_parent: Option<HashMap<i32, Vec<i32>>> = None;
    let mut uids = HashMap::new();
    for pid in pids.into_iter().filter(|&p| p > 0) {
        if !seen.insert(pid) {
            continue;
        }
        let Some(own) = real_uid(pid) else { continue };
        let Some(me) = stat(pid) else { continue };
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

/// The children of every thread of `pid` (`/proc/PID/task/TID/children`);
/// `None` when the kernel has no such files (built without
/// `CONFIG_PROC_CHILDREN`) or the process is gone.
fn children(pid: i32) -> Option<Vec<i32>> {
    let main = read_bounded(&format!("/proc/{pid}/task/{pid}/children"), CHILDREN_LIMIT)?;
    let mut children = pid_list(&main);
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for tid in tasks
        .take(MAX_TASKS)
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&tid| tid != pid)
    {
        if let Some(list) =
            read_bounded(&format!("/proc/{pid}/task/{tid}/children"), CHILDREN_LIMIT)
        {
            children.extend(pid_list(&list));
        }
    }
    Some(children)
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

    #[test]
    fn own_process_is_served_by_its_own_real_uid() {
        let me = std::process::id() as i32;
        let uids = serving_uids([me, me, -1, 0]);
        assert_eq!(uids, HashMap::from([(me, own_real_uid())]));
    }

    #[test]
    fn a_vanished_process_is_absent() {
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pid = child.id() as i32;
        child.wait().expect("wait");
        assert!(!serving_uids([pid]).contains_key(&pid));
    }

    #[test]
    fn a_child_running_another_program_does_not_serve() {
        // `sleep` is a child of this test process, with another command
        // name: the process itself serves (its own uid).
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let me = std::process::id() as i32;
        let kids = children(me).expect("CONFIG_PROC_CHILDREN");
        assert!(kids.contains(&(sleeper.id() as i32)), "{kids:?}");
        assert_eq!(serving_uids([me])[&me], own_real_uid());
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }

    #[test]
    fn a_child_of_the_same_program_serves() {
        // A shell that runs a shell: the inner one is its child with the
        // same command name (what mpm-itk's fork is to its prefork child),
        // as root under another user (as mpm-itk's fork switches to one).
        let root = own_real_uid() == 0;
        let inner_cmd = if root {
            "setpriv --reuid 65534 --regid 65534 --clear-groups sh -c 'while :; do sleep 1; done' & wait"
        } else {
            "sh -c 'while :; do sleep 1; done' & wait"
        };
        let mut outer = std::process::Command::new("sh")
            .args(["-c", inner_cmd])
            .spawn()
            .expect("sh");
        let outer_pid = outer.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let inner = loop {
            let same = children(outer_pid)
                .unwrap_or_default()
                .into_iter()
                .find(|&c| stat(c).is_some_and(|s| s.comm == "sh"));
            if let Some(inner) = same {
                break inner;
            }
            assert!(std::time::Instant::now() < deadline, "no inner sh");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let served_by = if root { 65534 } else { own_real_uid() };
        // setpriv execs sh once it switched: wait for the uid.
        while real_uid(inner) != Some(served_by) {
            assert!(std::time::Instant::now() < deadline, "uid never switched");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // Both the listing and the /proc scan find it.
        assert!(scan_parents()[&outer_pid].contains(&inner));
        assert_eq!(serving_uids([outer_pid])[&outer_pid], served_by);
        let _ = std::process::Command::new("kill")
            .args([&inner.to_string(), &outer_pid.to_string()])
            .status();
        let _ = outer.wait();
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
