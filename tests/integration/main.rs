//! The single integration test binary (one link step, shared helpers).
//! Tests create SysV segments and query ids through libc, hence:
#![allow(unsafe_code)]
mod c_rules;
mod capture;
mod cluster_live;
mod config;
mod docs;
mod exporter;
mod fixtures;
mod heartbeat;
mod hostile;
mod live;
mod live_httpd_smoke;
mod load;
mod monitoring;
mod multicall;
mod package;
mod privilege;
mod prometheus;
mod revisions;
mod signals;
mod states;
mod support;
mod tenants;
mod tenants_itk;
mod top;
mod top_live;
mod torn;
mod util;
