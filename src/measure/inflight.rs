//! Requests in flight and their ages. A request is in flight exactly when
//! `start_time > stop_time`, whatever the status letter (W, or G during a
//! graceful restart) and generation.

use crate::scoreboard::{status, Loaded, Worker};

/// A request in flight, or with `reading`, an `R` slot aged by the time
/// since its worker last left idle (mod_status's SS column).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// µs
    pub age: i64,
    pub reading: bool,
    pub worker: Worker<'a>,
}

/// Every request in flight, plus the `R` slots when `include_reading`, in
/// slot order.
pub fn requests(loaded: &Loaded, include_reading: bool) -> impl Iterator<Item = Request<'_>> {
    let now = loaded.now;
    loaded.scoreboard.workers().filter_map(move |(_, worker)| {
        let (age, reading) = age_of(&worker, now, include_reading)?;
        Some(Request {
            age,
            reading,
            worker,
        })
    })
}

fn age_of(w: &Worker<'_>, now: i64, include_reading: bool) -> Option<(i64, bool)> {
    match w.request_age_us(now) {
        Some(age) => Some((age, false)),
        None if include_reading && w.status() == status::BUSY_READ => {
            w.idle_for_us(now).map(|age| (age, true))
        }
        None => None,
    }
}
