//! Why a segment is not a scoreboard this reader can decode: one lowercase
//! line each, without the file name; [`decode_copied`](super::decode_copied),
//! which knows the name, wraps them once in [`Error::Undecodable`], so the
//! message reads `<file>: <what is wrong>`. Or why it could not be read
//! ([`crate::shm::Error`], which names the file itself).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Shm(#[from] crate::shm::Error),
    /// One of the others, with the segment's name (as shown).
    #[error("{shown}: {what}")]
    Undecodable { shown: String, what: Box<Error> },
    #[error("segment too small ({len} bytes) to hold a scoreboard")]
    TooSmall { len: usize },
    #[error("segment header says {header} bytes but the segment has {len} (truncated or not a scoreboard)")]
    HeaderMismatch { header: u64, len: usize },
    #[error("invalid limits in segment: ServerLimit {server_limit}, ThreadLimit {thread_limit} (not a scoreboard)")]
    BadLimits {
        server_limit: i32,
        thread_limit: i32,
    },
    #[error("segment size {size} matches no known scoreboard layout (ServerLimit {server_limit}, ThreadLimit {thread_limit})")]
    UnknownLayout {
        size: usize,
        server_limit: i32,
        thread_limit: i32,
    },
    #[error("segment size {size} does not fit layout {layout} (expects {expected} bytes for ServerLimit {server_limit}, ThreadLimit {thread_limit})")]
    LayoutMismatch {
        layout: &'static str,
        expected: usize,
        size: usize,
        server_limit: i32,
        thread_limit: i32,
    },
    #[error("segment size {size} fits several layouts equally well ({candidates}): pass --layout or --httpd-version")]
    AmbiguousLayout { size: usize, candidates: String },
}
