//! The single integration test binary (one link step, shared helpers).
mod fixtures;
mod live;
mod live_httpd_smoke;
mod multicall;
mod privilege;
mod support;
mod util;
