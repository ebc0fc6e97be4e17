//! The environments file of `--group-by environment --environments FILE`:
//! which vhosts make up each tenant, as peruser's `<Processor>` +
//! `ServerEnvironment` said it, in one line per environment:
//!
//! ```text
//! # name   vhost patterns (globs: * and ?)    optional limit
//! shop     shop.test *.shop.test              limit=8
//! blog     blog.test:8080
//! ```
//!
//! A pattern matches a vhost as the scoreboard records it (`name:port`),
//! or its name without the port, ignoring ASCII case; the first environment
//! whose pattern matches takes the vhost. `limit=N` (N at least 1) is the
//! most workers the environment's vhosts may hold together. The file is
//! hostile input: anything it does not say exactly this way is an error
//! naming the file and the line, and the error never quotes what the line
//! says beyond a well-formed name (the file may be one the caller could not
//! read, under sudo).

use std::io::Read;
use std::path::Path;

use crate::measure::tenants::host_part;
use crate::plugin::text::{escape_bytes, glob_match};

/// The most an environments file may hold.
const MAX_BYTES: u64 = 1 << 20;

/// One environment: its name, the vhosts it takes and its limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    pub patterns: Vec<String>,
    pub limit: Option<usize>,
}

impl Environment {
    /// Whether `vhost` (`name:port` as the scoreboard has it) is one of
    /// this environment's.
    pub fn takes(&self, vhost: &[u8]) -> bool {
        let host = host_part(vhost);
        self.patterns.iter().any(|p| {
            glob_match(p.as_bytes(), vhost, true)
                || host.is_some_and(|h| glob_match(p.as_bytes(), h, true))
        })
    }
}

/// The environment of `vhost`: the first that takes it.
pub fn environment_of<'e>(
    environments: &'e [Environment],
    vhost: &[u8],
) -> Option<&'e Environment> {
    environments.iter().find(|e| e.takes(vhost))
}

/// Reads and parses `path` with the caller's own rights (no capability is
/// effective outside the open of a segment, see `shm::privilege`); as root,
/// through no symlink, like every open root makes. The error is the one
/// UNKNOWN line: `<file>: …` or `<file>:<line>: …`.
pub fn load(path: &Path) -> Result<Vec<Environment>, String> {
    let shown = escape_bytes(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()));
    let text = read(path).map_err(|why| format!("{shown}: {why}"))?;
    parse(&text).map_err(|(line, why)| format!("{shown}:{line}: {why}"))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    use crate::shm::privilege::{mode, Mode};
    let file = if mode() == Mode::Root {
        crate::shm::locate::open_strict(path, false).map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "is a symlink (root follows none)".to_string(),
            _ => format!("cannot be opened: {}", io_reason(&e)),
        })?
    } else {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("cannot be opened: {}", io_reason(&e)))?
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot be read: {}", io_reason(&e)))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    let mut text = Vec::new();
    (&file)
        .take(MAX_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot be read: {}", io_reason(&e)))?;
    if text.len() as u64 > MAX_BYTES {
        return Err(format!("is larger than {MAX_BYTES} bytes"));
    }
    Ok(text)
}

use std::os::unix::fs::OpenOptionsExt;

/// An I/O error without Rust's ` (os error N)` suffix.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Parses the file's bytes; an error is the line number (from 1) and what
/// is wrong with it.
pub fn parse(text: &[u8]) -> Result<Vec<Environment>, (usize, String)> {
    let mut environments: Vec<(usize, Environment)> = Vec::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = std::str::from_utf8(raw).map_err(|_| (n, "is not UTF-8".to_string()))?;
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_ascii_whitespace();
        let Some(name) = words.next() else { continue };
        if !is_name(name) {
            return Err((
                n,
                "expected an environment name of letters, digits, '.', '_' or '-' \
                 (NAME PATTERN... [limit=N])"
                    .into(),
            ));
        }
        let mut env = Environment {
            name: name.to_string(),
            patterns: Vec::new(),
            limit: None,
        };
        for word in words {
            if let Some(value) = word.strip_prefix("limit=") {
                if env.limit.is_some() {
                    return Err((n, format!("environment '{name}' has two limits")));
                }
                env.limit = Some(limit(name, value).map_err(|why| (n, why))?);
            } else if is_pattern(word) {
                env.patterns.push(word.to_string());
            } else {
                return Err((
                    n,
                    format!(
                        "environment '{name}': a vhost pattern is a host name with an \
                         optional :port, '*' and '?' (no other characters, no '=')"
                    ),
                ));
            }
        }
        if env.patterns.is_empty() {
            return Err((n, format!("environment '{name}' names no vhost pattern")));
        }
        if let Some((first, _)) = environments.iter().find(|(_, e)| e.name == env.name) {
            return Err((
                n,
                format!("environment '{name}' is already defined on line {first}"),
            ));
        }
        environments.push((n, env));
    }
    Ok(environments.into_iter().map(|(_, e)| e).collect())
}

fn limit(name: &str, value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err(format!(
            "environment '{name}' has limit=0: it could never serve a request \
             (give 1 or more, or no limit)"
        )),
        Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "environment '{name}': limit= takes a whole number of at least 1"
        )),
    }
}

/// An environment (and `--limit`) name: what can also go into perfdata and
/// a status line unchanged.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A vhost pattern: host name characters, `[]:` of an IPv6 address or a
/// port, and the globs `*` and `?`.
fn is_pattern(s: &str) -> bool {
    s.len() <= 255
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'_' | b'-' | b':' | b'[' | b']' | b'*' | b'?')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (usize, String) {
        parse(text.as_bytes()).expect_err(text)
    }

    #[test]
    fn environments_and_patterns() {
        let envs = parse(
            b"# tenants\n\nshop  shop.test *.shop.test limit=8  # the shop\n\
              blog blog.test:8080\n  catch-all *\n",
        )
        .expect("parses");
        assert_eq!(envs.len(), 3);
        assert_eq!(envs[0].name, "shop");
        assert_eq!(envs[0].limit, Some(8));
        assert_eq!(envs[1].limit, None);
        let of = |v: &[u8]| environment_of(&envs, v).map(|e| e.name.as_str());
        assert_eq!(of(b"shop.test:80"), Some("shop"));
        assert_eq!(of(b"WWW.Shop.Test:443"), Some("shop"));
        assert_eq!(of(b"blog.test:8080"), Some("blog"));
        // Not blog's port: the catch-all, which comes later, takes it.
        assert_eq!(of(b"blog.test:80"), Some("catch-all"));
        // A name cut at 31 bytes has no port; patterns match it whole.
        assert_eq!(of(b"very-long-virtual-host-name.exa"), Some("catch-all"));
        let two = parse(b"a a.test\n").expect("parses");
        assert_eq!(environment_of(&two, b"b.test:80"), None);
    }

    #[test]
    fn hostile_lines_name_the_line_and_never_quote_it() {
        assert_eq!(err("a a.test\nb b.test limit=0\n").0, 2);
        assert!(err("b b.test limit=0").1.contains("limit=0"));
        assert!(err("b b.test limit=x").1.contains("whole number"));
        assert!(err("b b.test limit=+3").1.contains("whole number"));
        assert!(err("b b.test limit=1 limit=2").1.contains("two limits"));
        let dup = err("a a.test\n\nb b.test\na c.test\n");
        assert_eq!(
            dup,
            (4, "environment 'a' is already defined on line 1".into())
        );
        assert_eq!(
            err("lonely\n").1,
            "environment 'lonely' names no vhost pattern"
        );
        let secret = err("root:$6$secret:19000:0::: x\n");
        assert_eq!(secret.0, 1);
        assert!(!secret.1.contains("secret"), "{}", secret.1);
        let bad_pattern = err("a hunter2=x\n");
        assert!(!bad_pattern.1.contains("hunter2"), "{}", bad_pattern.1);
        assert_eq!(
            parse(b"a a.test\nb \xff.test\n"),
            Err((2, "is not UTF-8".into()))
        );
    }

    #[test]
    fn unreadable_files_are_named() {
        let missing = load(Path::new("/nonexistent/environments")).expect_err("missing");
        assert_eq!(
            missing,
            "/nonexistent/environments: cannot be opened: No such file or directory"
        );
        let dir = load(Path::new("/")).expect_err("a directory");
        assert_eq!(dir, "/: is not a regular file");
        let dir = std::env::temp_dir().join(format!("environments-{}", std::process::id()));
        std::fs::write(&dir, "a a.test\nb b.test limit=0\n").expect("write");
        let e = load(&dir).expect_err("limit 0");
        std::fs::remove_file(&dir).ok();
        assert!(e.starts_with(&format!("{}:2: ", dir.display())), "{e}");
    }
}
