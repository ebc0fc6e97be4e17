//! A private network for the heartbeat tests: one network namespace per
//! host, each joined by a veth pair to a bridge inside a namespace of the
//! test's own, addresses from 192.0.2.0/24 (TEST-NET-1). Nothing is routed
//! out: the host namespaces have only the bridge's subnet and a multicast
//! route to it, the bridge namespace has no address at all, and no
//! interface is ever created in the test runner's own namespace.
//!
//! Names are unique per lab (pid and a counter), so parallel test runs on
//! one machine never meet. [`Lab`]'s `Drop` deletes every namespace it
//! created (`ip netns del`); processes started in them are the caller's to
//! stop by pid first.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub const IP: &str = "/usr/sbin/ip";

/// The namespaces of one lab.
pub struct Lab {
    /// Short unique prefix (interface names are at most 15 bytes).
    tag: String,
    /// The bridge's namespace.
    switch: String,
    hosts: Vec<String>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new(IP)
        .args(args)
        .output()
        .map_err(|e| format!("run {IP}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lab {
    /// A bridge namespace and one namespace per address in `hosts`
    /// (`192.0.2.N/24`), each with loopback up and `224.0.0.0/4` routed to
    /// its veth.
    pub fn new(hosts: &[&str]) -> Result<Lab, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("as{:x}{n}", std::process::id() & 0xfffff);
        let mut lab = Lab {
            switch: format!("{tag}-sw"),
            tag,
            hosts: Vec::new(),
        };
        ip(&["netns", "add", &lab.switch])?;
        let sw = lab.switch.clone();
        ip(&["-n", &sw, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for (i, address) in hosts.iter().enumerate() {
            let ns = format!("{}-h{i}", lab.tag);
            ip(&["netns", "add", &ns])?;
            lab.hosts.push(ns.clone());
            let (port, eth) = (format!("{}p{i}", lab.tag), format!("{}e{i}", lab.tag));
            // Both ends are created inside the lab's namespaces.
            ip(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", &eth, "netns", &ns,
            ])?;
            ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                &eth,
            ])?;
            ip(&["-n", &ns, "link", "set", &eth, "up"])?;
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", &eth])?;
        }
        Ok(lab)
    }

    /// The namespace of host `i` (in the order given to [`Lab::new`]).
    pub fn host(&self, i: usize) -> &str {
        &self.hosts[i]
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain([&self.switch]) {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("netns lab: {e}");
            }
        }
    }
}

/// Runs `f` on a thread that joined namespace `ns`: sockets it creates
/// belong to that namespace and stay there when used from anywhere.
pub fn inside<T: Send>(ns: &str, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let file = File::open(format!("/run/netns/{ns}"))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns(2) with a valid namespace fd changes only this
            // thread's network namespace; the thread ends after `f`.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("panic in a netns thread")))
    })
}
