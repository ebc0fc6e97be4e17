//! Where things sit in the event-mixed capture file (POSIX form: 8-byte
//! header, then a 2.4.63+/lp64 scoreboard with ServerLimit 4, ThreadLimit 8),
//! typed from the docs/scoreboard-format.md ("Field offsets"), not taken from the decoder, for
//! tests that mutate the real capture.

/// File offsets of ServerLimit and ThreadLimit.
pub const SERVER_LIMIT: usize = 8;
pub const THREAD_LIMIT: usize = 12;
pub const RESTART_TIME: usize = 8 + 16;
pub const SL: usize = 4;
pub const TL: usize = 8;
pub const PROCESSES: usize = 8 + 56;
pub const PROCESS_SIZE: usize = 40;
pub const P_QUIESCING: usize = 8;
pub const P_CONNECTIONS: usize = 12;
pub const P_KEEP_ALIVE: usize = 24;
pub const P_WAIT_IO: usize = 36;
pub const WORKERS: usize = PROCESSES + SL * PROCESS_SIZE;
pub const WORKER_SIZE: usize = 336;
pub const W_STATUS: usize = 20;
pub const W_ACCESS_COUNT: usize = 32;
pub const W_START: usize = 64;
pub const W_STOP: usize = 72;
pub const W_LAST_USED: usize = 80;
pub const W_CLIENT: (usize, usize) = (120, 32);
pub const W_REQUEST: (usize, usize) = (152, 64);
pub const W_VHOST: (usize, usize) = (216, 32);
pub const W_PROTOCOL: (usize, usize) = (248, 16);
pub const W_DURATION: usize = 264;
pub const W_CLIENT64: (usize, usize) = (272, 64);

/// Offset of worker (i, j) in the capture file.
pub fn worker(i: usize, j: usize) -> usize {
    WORKERS + (i * TL + j) * WORKER_SIZE
}
