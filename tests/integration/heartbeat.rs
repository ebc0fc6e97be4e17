//! mod_heartmonitor storage captures (tests/fixtures/heartbeat/): `cluster`
//! reports what meta.json's `storage_view` says, and `check_heartbeat_cluster`
//! judges it; hostile storage is one UNKNOWN line naming the file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use crate::util::{perfdata, run_bin};

const CAPTURES: [&str; 8] = [
    "file-busy",
    "file-idle",
    "file-post",
    "file-stopped",
    "slotmem-busy",
    "slotmem-idle",
    "slotmem-monitor-graceful",
    "slotmem-removed",
];

/// A capture copied into a temporary directory, the file's mtime restored.
pub struct Capture {
    pub meta: Value,
    pub storage: PathBuf,
    pub at: String,
    dir: PathBuf,
}

impl Capture {
    pub fn load(name: &'static str) -> Capture {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/heartbeat")
            .join(name);
        let meta: Value =
            serde_json::from_str(&fs::read_to_string(src.join("meta.json")).expect("meta.json"))
                .expect("meta.json parses");
        let dir = std::env::temp_dir().join(format!(
            "apache-scoreboard-hb-{}-{name}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        let file = if meta["storage"] == "file" {
            "hb.dat"
        } else {
            "slotmem.bin"
        };
        let storage = dir.join(file);
        fs::copy(src.join(file), &storage).expect("copy storage");
        if let Some(mtime) = meta["storage_capture"]["stat"]["mtime_us"].as_u64() {
            let f = fs::File::options()
                .write(true)
                .open(&storage)
                .expect("open copy");
            f.set_modified(UNIX_EPOCH + Duration::from_micros(mtime))
                .expect("restore mtime");
        }
        let at = meta["capture_time_iso"]
            .as_str()
            .expect("capture_time_iso")
            .to_string();
        Capture {
            meta,
            storage,
            at,
            dir,
        }
    }

    fn capture_us(&self) -> f64 {
        self.meta["capture_time_us"]
            .as_f64()
            .expect("capture_time_us")
    }

    /// The origins the capture ran (192.0.2.11-13).
    fn origins(&self) -> Vec<String> {
        self.meta["origins"]
            .as_array()
            .expect("origins")
            .iter()
            .map(|o| o["ip"].as_str().expect("ip").to_string())
            .collect()
    }

    /// Ground truth: ip -> (ready, busy, age in s, port).
    fn truth(&self) -> BTreeMap<String, (u64, u64, f64, Option<u64>)> {
        let capture = self.capture_us();
        let view = self.meta["storage_view"].as_object().expect("storage_view");
        view.iter()
            .map(|(ip, v)| {
                let age = match v["age_s"].as_f64() {
                    Some(a) => a,
                    // File: lastseen + (capture - mtime), the reference's rule.
                    None => {
                        let mtime = self.meta["storage_capture"]["stat"]["mtime_us"]
                            .as_f64()
                            .expect("mtime_us");
                        v["lastseen"].as_f64().expect("lastseen") + (capture - mtime) / 1e6
                    }
                };
                let port = v["port"].as_u64().filter(|&p| p != 80);
                (
                    ip.clone(),
                    (
                        v["ready"].as_u64().unwrap(),
                        v["busy"].as_u64().unwrap(),
                        age,
                        port,
                    ),
                )
            })
            .collect()
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            "--storage".to_string(),
            self.storage.display().to_string(),
            "--at".into(),
            self.at.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn cluster_json_equals_storage_view() {
    for name in CAPTURES {
        let c = Capture::load(name);
        let mut args = vec!["cluster".to_string()];
        args.extend(c.args(&["--format", "json"]));
        let run = run_bin(&args);
        assert_eq!(run.code, 0, "{name}: {}", run.stdout);
        let rows: Vec<Value> = serde_json::from_str(&run.stdout).expect("json");
        let truth = c.truth();
        assert_eq!(rows.len(), truth.len(), "{name}: {}", run.stdout);
        let file = c.meta["storage"] == "file";
        for row in &rows {
            let ip = row["ip"].as_str().expect("ip");
            let (ready, busy, age, port) = truth[ip];
            assert_eq!(row["ready"].as_u64(), Some(ready), "{name} {ip}");
            assert_eq!(row["busy"].as_u64(), Some(busy), "{name} {ip}");
            let tolerance = if file { 1.0 } else { 0.002 };
            let got = row["age_seconds"].as_f64().expect("age");
            assert!(
                (got - age).abs() <= tolerance,
                "{name} {ip}: age {got} vs {age}"
            );
            assert_eq!(row["port"].as_u64(), port, "{name} {ip}");
            assert_eq!(row["source"], if file { "file" } else { "slotmem" });
            if file {
                assert!(row["slot"].is_null(), "{name} {ip}");
            } else {
                let slot = c.meta["storage_view"][ip]["slot"].as_u64();
                assert_eq!(row["slot"].as_u64(), slot, "{name} {ip}");
            }
        }
        // TSV: the same rows, first columns ip, ready, busy, age_seconds.
        let mut args = vec!["cluster".to_string()];
        args.extend(c.args(&[]));
        let tsv = run_bin(&args);
        assert_eq!(tsv.stdout.lines().count(), truth.len(), "{name}");
        for line in tsv.stdout.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let (ready, busy, _, _) = truth[cols[0]];
            assert_eq!(
                (cols[1], cols[2]),
                (&*ready.to_string(), &*busy.to_string()),
                "{name}"
            );
        }
    }
}

#[test]
fn check_follows_from_the_storage_view() {
    for name in CAPTURES {
        let c = Capture::load(name);
        let truth = c.truth();
        let origins = c.origins();
        let live: Vec<&String> = truth.keys().filter(|ip| truth[*ip].2 <= 10.0).collect();
        let busy: u64 = live.iter().map(|ip| truth[*ip].1).sum();
        let ready: u64 = live.iter().map(|ip| truth[*ip].0).sum();
        let mut args = vec!["check_heartbeat_cluster".to_string()];
        let members: Vec<String> = origins
            .iter()
            .flat_map(|ip| ["--member".to_string(), ip.clone()])
            .collect();
        let member_refs: Vec<&str> = members.iter().map(String::as_str).collect();
        args.extend(c.args(&member_refs));
        let run = run_bin(&args);
        let unhealthy: Vec<&String> = origins.iter().filter(|ip| !live.contains(ip)).collect();
        let want = if unhealthy.is_empty() { 0 } else { 2 };
        assert_eq!(run.code, want, "{name}: {}", run.stdout);
        for ip in &unhealthy {
            let word = if truth.contains_key(*ip) {
                "stale"
            } else {
                "missing"
            };
            assert!(
                run.stdout
                    .lines()
                    .next()
                    .unwrap()
                    .contains(&format!("{ip} {word}")),
                "{name}: {}",
                run.stdout
            );
        }
        let perf = perfdata(&run.stdout);
        assert_eq!(perf["live"], live.len() as f64, "{name}");
        assert_eq!(perf["stale"], (truth.len() - live.len()) as f64, "{name}");
        let missing = origins.iter().filter(|ip| !truth.contains_key(*ip)).count();
        assert_eq!(perf["missing"], missing as f64, "{name}");
        assert_eq!(
            (perf["busy"], perf["ready"]),
            (busy as f64, ready as f64),
            "{name}"
        );
        let pct = 100.0 * busy as f64 / (busy + ready) as f64;
        assert!((perf["busy_pct"] - pct).abs() < 1e-5, "{name}");
        for ip in &live {
            let key = ip.replace(['.', ':'], "_");
            assert_eq!(perf[&format!("busy_{key}")], truth[*ip].1 as f64, "{name}");
            assert_eq!(perf[&format!("ready_{key}")], truth[*ip].0 as f64, "{name}");
        }
    }
}

#[test]
fn busy_origin_raises_busy_pct_and_thresholds_judge_it() {
    let c = Capture::load("slotmem-busy");
    let mut args = vec!["check_heartbeat_cluster".to_string()];
    args.extend(c.args(&["--expect", "3", "-w", "10", "-c", "20"]));
    let run = run_bin(&args);
    // 3 busy of 3 + 21 ready: 12.5%.
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("busy_pct=12.5%;10;20;0;100"),
        "{}",
        run.stdout
    );
    let mut args = vec!["check_heartbeat_cluster".to_string()];
    args.extend(c.args(&["--metric", "member_busy_pct", "-c", "30"]));
    let run = run_bin(&args);
    // 192.0.2.12: 3 of 8.
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout.contains("member_busy_pct=37.5%;;30;0;100"),
        "{}",
        run.stdout
    );
}

/// Hostile storage: one UNKNOWN line that names the file and what is wrong.
#[test]
fn bad_storage_is_one_unknown_line() {
    let c = Capture::load("slotmem-idle");
    let good = fs::read(&c.storage).expect("read");
    let dir = c.storage.parent().expect("dir").to_path_buf();
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..700].to_vec(), "truncated"),
        ("oversized", [&good[..], &[0u8; 8]].concat(), "oversized"),
        ("tiny", good[..20].to_vec(), "truncated"),
    ];
    let mut slot68 = good.clone();
    slot68[8] = 68;
    cases.push(("slot68", slot68, "slot size 68, not 72"));
    let mut counts = good.clone();
    counts[16..20].copy_from_slice(&1000u32.to_le_bytes());
    cases.push(("counts", counts, "counts beyond the object"));
    let mut nonul = good.clone();
    nonul[32..78].fill(b'9');
    cases.push(("nonul", nonul, "no NUL"));
    let mut negative = good.clone();
    negative[32 + 48..32 + 52].copy_from_slice(&(-3i32).to_le_bytes());
    cases.push(("negative", negative, "busy -3 is negative"));
    cases.push((
        "garbage",
        b"192.0.2.1 &ready=1&busy=0&lastseen=0&port=80\nhello world\n".to_vec(),
        "line 2",
    ));
    cases.push((
        "huge",
        b"192.0.2.1 &ready=4294967295&busy=0&lastseen=0&port=80\n".to_vec(),
        "out of range",
    ));
    cases.push((
        "minus",
        b"192.0.2.1 &ready=1&busy=-1&lastseen=0&port=80\n".to_vec(),
        "negative",
    ));
    cases.push(("binary", vec![0xff, 0x00, 0x13, 0x37], "truncated: 4 bytes"));
    for (label, bytes, what) in cases {
        let path = dir.join(label);
        fs::write(&path, &bytes).expect("write");
        for check in [true, false] {
            let mut args = vec![if check {
                "check_heartbeat_cluster"
            } else {
                "cluster"
            }
            .to_string()];
            args.extend(["--storage".into(), path.display().to_string()]);
            let run = run_bin(&args);
            assert_eq!(run.code, 3, "{label}: {}", run.stdout);
            assert_eq!(run.stdout.lines().count(), 1, "{label}: {}", run.stdout);
            let line = run.stdout.trim_end();
            assert!(
                line.starts_with("SCOREBOARD UNKNOWN - ") || !check,
                "{label}: {line}"
            );
            assert!(
                line.contains(&path.display().to_string()),
                "{label}: {line}"
            );
            assert!(line.contains(what), "{label}: {line}");
        }
    }
    // A forced format that does not fit is named too.
    let mut args = vec!["cluster".to_string()];
    args.extend(c.args(&["--storage-format", "file"]));
    let run = run_bin(&args);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(run.stdout.contains("not text"), "{}", run.stdout);
}
