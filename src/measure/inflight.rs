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

/// A request line as the checks and `top` show it: the query string (from `?` to the
/// next space, e.g. a token) as `?…` unless `show_query`.
pub fn request_shown(request: &[u8], show_query: bool) -> std::borrow::Cow<'_, [u8]> {
    let Some(q) = request
        .iter()
        .position(|&b| b == b'?')
        .filter(|_| !show_query)
    else {
        return request.into();
    };
    let end = request[q..]
        .iter()
        .position(|&b| b == b' ')
        .map_or(request.len(), |e| q + e);
    let mut shown = request[..q].to_vec();
    shown.extend_from_slice("?…".as_bytes());
    shown.extend_from_slice(&request[end..]);
    shown.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_hidden() {
        let shown =
            |r: &str| String::from_utf8(request_shown(r.as_bytes(), false).into_owned()).unwrap();
        assert_eq!(shown("GET /a?token=x HTTP/1.1"), "GET /a?… HTTP/1.1");
        assert_eq!(shown("GET /a?token=x&pad=01234"), "GET /a?…");
        assert_eq!(shown("GET /a HTTP/1.1"), "GET /a HTTP/1.1");
        assert_eq!(shown("OPTIONS * HTTP/1.1"), "OPTIONS * HTTP/1.1");
        assert_eq!(
            request_shown(b"GET /?q HTTP/1.1", true).as_ref(),
            b"GET /?q HTTP/1.1"
        );
    }
}
