//! The listen queues of a process's listening TCP sockets: which sockets it
//! holds (`socket:[INODE]` links in `/proc/PID/fd`) and, for each, the
//! kernel's accept queue and its limit (the backlog, `ListenBacklog` capped
//! by `net.core.somaxconn`).
//!
//! Both come from the kernel's socket diagnostics (`NETLINK_SOCK_DIAG`),
//! asked for listeners only, which the kernel finds in its listening table
//! alone. A socket that dump does not list (httpd in another network
//! namespace) is looked up in the process's own `/proc/PID/net/tcp` and
//! `tcp6`, where a socket in state LISTEN (`0A`) shows its accept queue as
//! `rx_queue`; those tables cost more (the kernel walks every bucket of its
//! connection table to print them: most of a check's time on an idle host)
//! and give no backlog.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::proc::{for_each_line, Progress};

/// One listening socket.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Socket {
    pub address: SocketAddr,
    /// Connections established and waiting for `accept`.
    pub queued: u64,
    /// The most the kernel queues before it stops answering, when known.
    pub backlog: Option<u64>,
    #[serde(skip)]
    inode: u64,
}

/// The listen queues of every socket a process listens on.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ListenQueues {
    pub sockets: Vec<Socket>,
}

impl ListenQueues {
    /// Connections waiting to be accepted, on all sockets.
    pub fn queued(&self) -> u64 {
        self.sockets.iter().map(|s| s.queued).sum()
    }

    /// The sum of the sockets' backlogs, when every one is known.
    pub fn backlog(&self) -> Option<u64> {
        self.sockets.iter().map(|s| s.backlog).sum()
    }
}

/// At most this many descriptors of the process are looked at (an httpd
/// parent opens its listeners before its many log files).
const MAX_FDS: usize = 65_536;
/// `/proc/net/tcp` lists listening sockets first; more than this is never read.
const MAX_TABLE: u64 = 64 << 20;

/// Measures the listen queues of `pid`; an error when its descriptors
/// cannot be read (another user's process without root).
pub fn measure(pid: i32, progress: &Progress) -> Result<ListenQueues, String> {
    let mut held = held_sockets(pid, progress)?;
    let mut sockets = Vec::new();
    if !held.is_empty() {
        progress.reading("the kernel's socket diagnostics (NETLINK_SOCK_DIAG)");
        sockets = listeners(&mut held);
    }
    let mut inodes: Vec<u64> = held.iter().map(|h| h.inode).collect();
    if !inodes.is_empty() {
        sockets.extend(from_tables(pid, &mut inodes, progress)?);
    }
    sockets.sort_by_key(|s| s.address);
    Ok(ListenQueues { sockets })
}

/// The listeners among `inodes` in the process's own `/proc/PID/net/tcp`
/// and `tcp6` (its network namespace), taken out of `inodes`; no backlog.
fn from_tables(
    pid: i32,
    inodes: &mut Vec<u64>,
    progress: &Progress,
) -> Result<Vec<Socket>, String> {
    let mut sockets = Vec::new();
    for table in ["tcp", "tcp6"] {
        if inodes.is_empty() {
            break;
        }
        let path = format!("/proc/{pid}/net/{table}");
        progress.reading(&path);
        let mut header = true;
        let read = for_each_line(&path, MAX_TABLE, |line| {
            if std::mem::take(&mut header) {
                return true;
            }
            let Some(entry) = parse_line(line) else {
                return true;
            };
            // The listening sockets come first: the first other one ends them.
            if entry.state != LISTEN {
                return false;
            }
            if let Some(i) = inodes.iter().position(|&n| n == entry.inode) {
                inodes.swap_remove(i);
                sockets.push(entry.socket);
            }
            !inodes.is_empty()
        });
        // A kernel without IPv6 has no tcp6.
        if let Err(e) = read {
            if table == "tcp" {
                return Err(format!("cannot read {path}: {e}"));
            }
        }
    }
    Ok(sockets)
}

/// A socket the process holds: its inode and, where the kernel names its
/// protocol, whether it is TCP over IPv6 (`None`: not named, look in both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    inode: u64,
    ipv6: Option<bool>,
}

/// The TCP sockets among the process's open descriptors (and those whose
/// protocol the kernel does not name). Each link is read relative to the
/// open directory (`readlinkat`, not a path walked again from `/proc`),
/// and a socket's protocol comes from its `system.sockprotoname`
/// attribute (`TCP`, `TCPv6`, `UNIX-STREAM`, ...): a socket that is not
/// TCP is never looked for, and each family's listeners are dumped only
/// when the process holds one.
fn held_sockets(pid: i32, progress: &Progress) -> Result<Vec<Held>, String> {
    use rustix::fs::{getxattr, openat, readlinkat, Mode, OFlags, RawDir, CWD};
    use std::mem::MaybeUninit;
    let dir = format!("/proc/{pid}/fd");
    progress.reading(&dir);
    let fds = openat(
        CWD,
        dir.as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        let e = std::io::Error::from(e);
        format!("cannot read {dir}: {}", crate::shm::error::describe_io(&e))
    })?;
    let mut held = Vec::new();
    let mut entries = [MaybeUninit::<u8>::uninit(); 4096];
    let mut listing = RawDir::new(&fds, &mut entries);
    let mut link = Vec::new();
    let mut seen = 0;
    while let Some(Ok(entry)) = listing.next() {
        let name = entry.file_name();
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        seen += 1;
        if seen > MAX_FDS {
            break;
        }
        let Ok(target) = readlinkat(&fds, name, std::mem::take(&mut link)) else {
            continue;
        };
        let inode = target
            .to_bytes()
            .strip_prefix(b"socket:[")
            .and_then(|t| t.strip_suffix(b"]"))
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse().ok());
        if let Some(inode) = inode {
            let path = format!("{dir}/{}", String::from_utf8_lossy(name.to_bytes()));
            let mut proto = [0u8; 32];
            let ipv6 = match getxattr(path.as_str(), "system.sockprotoname", &mut proto[..]) {
                Ok(n) => match proto[..n].strip_suffix(b"\0").unwrap_or(&proto[..n]) {
                    b"TCP" => Some(false),
                    b"TCPv6" => Some(true),
                    // UDP, UNIX-STREAM, NETLINK, ...: not a TCP listener.
                    _ => continue,
                },
                Err(_) => None,
            };
            held.push(Held { inode, ipv6 });
        }
        link = target.into_bytes_with_nul();
    }
    Ok(held)
}

const LISTEN: u8 = 0x0A;

struct Entry {
    state: u8,
    inode: u64,
    socket: Socket,
}

/// One line of `/proc/net/tcp[6]`:
/// `sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode ...`.
fn parse_line(line: &str) -> Option<Entry> {
    let f: Vec<&str> = line.split_whitespace().take(10).collect();
    let [_, local, _, st, queues, _, _, _, _, inode] = f.as_slice() else {
        return None;
    };
    let (_, rx) = queues.split_once(':')?;
    Some(Entry {
        state: u8::from_str_radix(st, 16).ok()?,
        inode: inode.parse().ok()?,
        socket: Socket {
            address: parse_address(local)?,
            queued: u64::from_str_radix(rx, 16).ok()?,
            backlog: None,
            inode: inode.parse().ok()?,
        },
    })
}

/// `0100007F:1F90` or 32 hex digits `:PORT`: the address is printed as
/// 32-bit words in the kernel's byte order, the port as a number.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => Ipv4Addr::from(word(0)?).into(),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Ipv6Addr::from(b).into()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The listening TCP sockets among `held` in this network namespace, with
/// their accept queues and backlogs, taken out of `held`: from
/// `SOCK_DIAG_BY_FAMILY` dumps of listeners only, of a family only while
/// a socket of it (or of no named family) is still looked for (the kernel
/// walks its whole listening table for each dump). Empty when the kernel
/// does not answer.
fn listeners(held: &mut Vec<Held>) -> Vec<Socket> {
    use nix::sys::socket::{
        recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
        SockType,
    };
    use std::os::fd::AsRawFd;
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST_DUMP: u16 = 0x1 | 0x300;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const TCP_LISTEN: u32 = 10;
    let mut found = Vec::new();
    let Ok(fd) = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    ) else {
        return found;
    };
    for (family, ipv6) in [(libc::AF_INET6 as u8, true), (libc::AF_INET as u8, false)] {
        if !held.iter().any(|h| h.ipv6.is_none_or(|v6| v6 == ipv6)) {
            continue;
        }
        // nlmsghdr (16 bytes) + inet_diag_req_v2 (56 bytes), native endian.
        let mut req = Vec::with_capacity(72);
        req.extend_from_slice(&72u32.to_ne_bytes());
        req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        req.extend_from_slice(&NLM_F_REQUEST_DUMP.to_ne_bytes());
        req.extend_from_slice(&[0; 8]); // sequence, port id
        req.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
        req.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        req.extend_from_slice(&[0; 48]); // inet_diag_sockid: any
        if sendto(
            fd.as_raw_fd(),
            &req,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .is_err()
        {
            return found;
        }
        // A page or two: the kernel fills datagrams to what fits (ss and
        // libmnl use 8 KB), and zeroing more only faults in pages.
        let mut buf = vec![0u8; 8 * 1024];
        // A bounded number of datagrams: a dump of listeners is short.
        'dump: for _ in 0..4096 {
            let n = match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => return found,
            };
            let mut msgs = &buf[..n];
            while msgs.len() >= 16 {
                let u32_at = |b: &[u8], at: usize| {
                    b.get(at..at + 4)
                        .map_or(0, |w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
                };
                let len = u32_at(msgs, 0) as usize;
                let kind = u16::from_ne_bytes([msgs[4], msgs[5]]);
                if kind == NLMSG_DONE || kind == NLMSG_ERROR {
                    break 'dump;
                }
                let Some(msg) = msgs.get(16..len.max(16)) else {
                    break 'dump;
                };
                if let Some(socket) = parse_diag(msg) {
                    if let Some(i) = held.iter().position(|h| h.inode == socket.inode) {
                        held.swap_remove(i);
                        found.push(socket);
                    }
                }
                msgs = msgs.get(len.next_multiple_of(4)..).unwrap_or(&[]);
            }
        }
    }
    found
}

/// One `inet_diag_msg`: family at 0, the local port (network order) at 4,
/// the local address at 8 (4 or 16 bytes), rqueue (a listener's accept
/// queue) at 56, wqueue (its backlog) at 60, inode at 68.
fn parse_diag(msg: &[u8]) -> Option<Socket> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(msg.get(at..at + 4)?.try_into().ok()?))
    };
    let port = u16::from_be_bytes(msg.get(4..6)?.try_into().ok()?);
    let ip = match i32::from(*msg.first()?) {
        libc::AF_INET => Ipv4Addr::from(<[u8; 4]>::try_from(msg.get(8..12)?).ok()?).into(),
        libc::AF_INET6 => Ipv6Addr::from(<[u8; 16]>::try_from(msg.get(8..24)?).ok()?).into(),
        _ => return None,
    };
    Some(Socket {
        address: SocketAddr::new(ip, port),
        queued: u64::from(u32_at(56)?),
        backlog: Some(u64::from(u32_at(60)?)),
        inode: u64::from(u32_at(68)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::net::TcpListener;

    #[test]
    fn lines_parse() {
        let e = parse_line("   0: 0100007F:1F90 00000000:0000 0A 00000005:00000003 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0").expect("line");
        assert_eq!(e.state, LISTEN);
        assert_eq!(e.inode, 4242);
        if cfg!(target_endian = "little") {
            assert_eq!(e.socket.address, "127.0.0.1:8080".parse().unwrap());
        }
        assert_eq!((e.socket.queued, e.socket.backlog), (3, None));
        let six = parse_line("   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0 100 0 0 10 0").expect("line");
        if cfg!(target_endian = "little") {
            assert_eq!(six.socket.address, "[::1]:80".parse().unwrap());
        }
        assert!(parse_line("  sl  local_address rem_address   st tx_queue rx_queue").is_none());
        assert!(parse_line("0: zz:1 0:0 0A 0:0 0 0 0 0 1").is_none());
    }

    /// Our own listener, with two connections the test never accepts.
    #[test]
    fn own_listener_shows_its_queue() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let _waiting: Vec<_> = (0..2)
            .map(|_| std::net::TcpStream::connect(address).expect("connect"))
            .collect();
        let queues = measure(std::process::id() as i32, &Progress::default()).expect("measure");
        let mine = queues
            .sockets
            .iter()
            .find(|s| s.address == address)
            .expect("our listener");
        assert_eq!(mine.queued, 2);
        // std listens with a backlog of 128 (capped by somaxconn).
        let somaxconn: u64 = fs::read_to_string("/proc/sys/net/core/somaxconn")
            .expect("somaxconn")
            .trim()
            .parse()
            .expect("number");
        assert_eq!(mine.backlog, Some(somaxconn.min(128)), "{mine:?}");
        // The process's own tables (another network namespace's way) agree.
        let mut inodes = vec![mine.inode];
        let table = from_tables(std::process::id() as i32, &mut inodes, &Progress::default())
            .expect("tables");
        assert!(inodes.is_empty());
        assert_eq!(
            table,
            vec![Socket {
                backlog: None,
                ..mine.clone()
            }]
        );
    }
}
