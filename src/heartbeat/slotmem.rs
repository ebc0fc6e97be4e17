//! mod_heartmonitor's slotmem segment (the default storage): mod_slotmem_shm's
//! object `/dev/shm/ShM.*` as APR lays it out on LP64 (x86_64, aarch64),
//! little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | APR header: total object size |
//! | 8 | 8 | slot size (72, `sizeof(hm_slot_server_t)`) |
//! | 16 | 4 | number of slots N |
//! | 20 | 4 | type (4 = PREGRAB: `inuse[]` says which slots hold a member) |
//! | 24 | 4 | free slots |
//! | 32 | 72·N | `hm_slot_server_t[N]` |
//! | 32 + 72·N | N | `inuse[N]` |
//!
//! On ILP32 with 8-byte-aligned 64-bit integers (armhf) only the descriptor
//! differs: slot size, N and type are 4-byte fields at 8, 12 and 16 (the
//! descriptor is still padded to 16 bytes, the slots the same 72).
//!
//! A slot: `char ip[46]` (NUL-terminated), `int busy` at 48, `int ready` at
//! 52, `apr_time_t seen` at 56 (µs since the epoch), `int id` at 64. A
//! released slot keeps its bytes; only `inuse[]` tells, so it is skipped
//! without a look at its contents.

use super::{parse_ip, FormatError};
use crate::scoreboard::le;

pub const HEADER: usize = 32;
pub const SLOT_SIZE: usize = 72;
const IP_SIZE: usize = 46;
const PREGRAB: u32 = 4;
/// More than any monitor configures (HeartbeatMaxServers), small enough
/// that the size check below cannot overflow.
pub const MAX_SLOTS: u64 = 1 << 20;

/// One in-use slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub index: usize,
    pub ip: String,
    pub busy: u32,
    pub ready: u32,
    /// When the monitor processed the member's datagram, µs since the epoch.
    pub seen_us: i64,
}

/// What the header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub slots: usize,
    pub free: u32,
}

// The project's one little-endian reader; callers check bounds first.
fn u32_at(b: &[u8], at: usize) -> u32 {
    le::uint(b, at, 4) as u32
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    le::uint(b, at, 8)
}

/// Whether `bytes` are a slotmem object (size header matching the length
/// and a plausible slot size), e.g. among a monitor's shm objects.
pub fn looks_like(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER
        && u64_at(bytes, 0) == bytes.len() as u64
        && ((1..=1 << 16).contains(&u64_at(bytes, 8)) || u32_at(bytes, 8) == SLOT_SIZE as u32)
}

/// Checks the header against the object's size.
pub fn header(bytes: &[u8]) -> Result<Header, FormatError> {
    let len = bytes.len();
    if len < HEADER {
        return Err(FormatError(format!(
            "truncated: {len} bytes, less than the {HEADER}-byte slotmem header"
        )));
    }
    let apr = u64_at(bytes, 0);
    if apr != len as u64 {
        let what = if apr > len as u64 {
            "truncated"
        } else {
            "oversized"
        };
        return Err(FormatError(format!(
            "{what}: the header says {apr} bytes but the object has {len}"
        )));
    }
    // The descriptor: LP64 (8-byte size), else ILP32 (4-byte size).
    let (num, kind) = if u64_at(bytes, 8) == SLOT_SIZE as u64 {
        (u64::from(u32_at(bytes, 16)), u32_at(bytes, 20))
    } else if u32_at(bytes, 8) == SLOT_SIZE as u32 {
        (u64::from(u32_at(bytes, 12)), u32_at(bytes, 16))
    } else {
        // Shown as an LP64 size unless only the low half is set.
        let size = match u64_at(bytes, 8) {
            s if s >> 32 != 0 => u64::from(u32_at(bytes, 8)),
            s => s,
        };
        return Err(FormatError(format!(
            "slot size {size}, not {SLOT_SIZE} (not mod_heartmonitor's slotmem)"
        )));
    };
    if kind & PREGRAB == 0 {
        return Err(FormatError(format!(
            "slotmem type {kind} lacks PREGRAB (4): not mod_heartmonitor's"
        )));
    }
    let need = HEADER as u64 + (SLOT_SIZE as u64 + 1) * num;
    if num == 0 || num > MAX_SLOTS || need != len as u64 {
        return Err(FormatError(format!(
            "{num} slots need {need} bytes but the object has {len}: counts beyond the object"
        )));
    }
    let free = u32_at(bytes, 24);
    if u64::from(free) > num {
        return Err(FormatError(format!(
            "{free} free slots of {num}: counts beyond the object"
        )));
    }
    Ok(Header {
        slots: num as usize,
        free,
    })
}

/// The in-use slots, in slot order.
pub fn parse(bytes: &[u8]) -> Result<(Header, Vec<Slot>), FormatError> {
    let h = header(bytes)?;
    let inuse = &bytes[HEADER + SLOT_SIZE * h.slots..];
    let mut slots: Vec<Slot> = Vec::new();
    for (index, &flag) in inuse.iter().enumerate() {
        match flag {
            0 => continue,
            1 => {}
            other => {
                return Err(FormatError(format!(
                    "slot {index}: in-use flag {other}, not 0 or 1"
                )))
            }
        }
        let at = HEADER + SLOT_SIZE * index;
        let slot = parse_slot(index, &bytes[at..at + SLOT_SIZE])
            .map_err(|why| FormatError(format!("slot {index}: {why}")))?;
        if let Some(first) = slots.iter().find(|s| s.ip == slot.ip) {
            return Err(FormatError(format!(
                "slot {index}: {} is also in slot {}",
                slot.ip, first.index
            )));
        }
        slots.push(slot);
    }
    Ok((h, slots))
}

fn parse_slot(index: usize, b: &[u8]) -> Result<Slot, String> {
    let raw = &b[..IP_SIZE];
    let nul = raw
        .iter()
        .position(|&c| c == 0)
        .ok_or("the IP field has no NUL")?;
    let ip = parse_ip(&raw[..nul]).ok_or_else(|| {
        format!(
            "'{}' is not an IP address",
            crate::plugin::text::escape_bytes(&raw[..nul])
        )
    })?;
    let int = |at: usize, name: &str| {
        let v = u32_at(b, at) as i32;
        u32::try_from(v).map_err(|_| format!("{name} {v} is negative"))
    };
    let busy = int(48, "busy")?;
    let ready = int(52, "ready")?;
    let seen_us = u64_at(b, 56) as i64;
    if seen_us <= 0 {
        return Err(format!("seen time {seen_us} is not after 1970"));
    }
    Ok(Slot {
        index,
        ip,
        busy,
        ready,
        seen_us,
    })
}

/// Builds an object (for tests and fuzz seeds): `slots` as (in use, ip,
/// busy, ready, seen).
#[doc(hidden)]
pub fn encode(num: usize, slots: &[(usize, bool, &str, i32, i32, i64)]) -> Vec<u8> {
    let len = HEADER + (SLOT_SIZE + 1) * num;
    let mut b = vec![0u8; len];
    b[0..8].copy_from_slice(&(len as u64).to_le_bytes());
    b[8..16].copy_from_slice(&(SLOT_SIZE as u64).to_le_bytes());
    b[16..20].copy_from_slice(&(num as u32).to_le_bytes());
    b[20..24].copy_from_slice(&PREGRAB.to_le_bytes());
    let used = slots.iter().filter(|s| s.1).count();
    b[24..28].copy_from_slice(&((num - used.min(num)) as u32).to_le_bytes());
    for &(i, inuse, ip, busy, ready, seen) in slots {
        let at = HEADER + SLOT_SIZE * i;
        b[at..at + ip.len()].copy_from_slice(ip.as_bytes());
        b[at + 48..at + 52].copy_from_slice(&busy.to_le_bytes());
        b[at + 52..at + 56].copy_from_slice(&ready.to_le_bytes());
        b[at + 56..at + 64].copy_from_slice(&seen.to_le_bytes());
        b[at + 64..at + 68].copy_from_slice(&(i as i32).to_le_bytes());
        b[HEADER + SLOT_SIZE * num + i] = u8::from(inuse);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_225_433_000_000;

    #[test]
    fn released_slots_are_skipped_unread() {
        let mut b = encode(
            10,
            &[
                (0, true, "192.0.2.11", 0, 6, T),
                (2, false, "192.0.2.13", 0, 10, T),
                (3, true, "127.0.0.1", 1, 7, T),
            ],
        );
        // A released slot's bytes may be anything.
        b[HEADER + 2 * SLOT_SIZE..HEADER + 3 * SLOT_SIZE].fill(0xff);
        let (h, slots) = parse(&b).unwrap();
        assert_eq!(h.slots, 10);
        assert_eq!(
            slots
                .iter()
                .map(|s| (s.index, s.ip.as_str()))
                .collect::<Vec<_>>(),
            [(0, "192.0.2.11"), (3, "127.0.0.1")]
        );
        assert!(looks_like(&b));
    }

    /// armhf: 4-byte slot size, N and type at 8, 12, 16.
    #[test]
    fn ilp32_descriptor() {
        let mut b = encode(10, &[(1, true, "192.0.2.11", 2, 6, T)]);
        b[8..24].fill(0);
        b[8..12].copy_from_slice(&72u32.to_le_bytes());
        b[12..16].copy_from_slice(&10u32.to_le_bytes());
        b[16..20].copy_from_slice(&PREGRAB.to_le_bytes());
        assert!(looks_like(&b));
        let (h, slots) = parse(&b).unwrap();
        assert_eq!((h.slots, slots[0].index, slots[0].busy), (10, 1, 2));
    }

    #[test]
    fn hostile_objects_are_named() {
        let good = encode(10, &[(0, true, "192.0.2.11", 0, 6, T)]);
        let bad = |b: &[u8]| parse(b).unwrap_err().0;
        assert!(bad(&good[..20]).starts_with("truncated: 20 bytes"));
        assert!(bad(&good[..700]).starts_with("truncated: the header says 762"));
        let mut big = good.clone();
        big.push(0);
        assert!(bad(&big).starts_with("oversized"));
        let mut b = good.clone();
        b[8] = 68;
        assert!(bad(&b).starts_with("slot size 68, not 72"));
        let mut b = good.clone();
        b[16..20].copy_from_slice(&11u32.to_le_bytes());
        assert!(bad(&b).contains("counts beyond the object"));
        let mut b = good.clone();
        b[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(bad(&b).contains("counts beyond the object"));
        let mut b = good.clone();
        b[24..28].copy_from_slice(&11u32.to_le_bytes());
        assert!(bad(&b).contains("11 free slots of 10"));
        let mut b = good.clone();
        b[HEADER..HEADER + 46].fill(b'1');
        assert_eq!(bad(&b), "slot 0: the IP field has no NUL");
        let b = encode(10, &[(0, true, "192.0.2.11", -1, 6, T)]);
        assert_eq!(bad(&b), "slot 0: busy -1 is negative");
        let b = encode(10, &[(0, true, "", 0, 6, T)]);
        assert!(bad(&b).contains("not an IP"));
        let b = encode(10, &[(0, true, "192.0.2.1", 0, 6, -5)]);
        assert!(bad(&b).contains("not after 1970"));
        let b = encode(
            10,
            &[
                (0, true, "192.0.2.1", 0, 6, T),
                (4, true, "192.0.2.1", 0, 6, T),
            ],
        );
        assert_eq!(bad(&b), "slot 4: 192.0.2.1 is also in slot 0");
        let mut b = good.clone();
        b[HEADER + SLOT_SIZE * 10 + 1] = 7;
        assert_eq!(bad(&b), "slot 1: in-use flag 7, not 0 or 1");
    }
}
