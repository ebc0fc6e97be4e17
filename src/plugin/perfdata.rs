//! Performance data: `label=value[uom];[warn];[crit];[min];[max]`, written so
//! that Nagios, Icinga 2 and metric backends all accept it.
//!
//! Labels are sanitized to `[A-Za-z0-9_.:-]` (never `'`, `=`, `|`, spaces or
//! control characters) and quoted only when not `^[A-Za-z0-9_]+$`. Numbers use
//! the C locale, never exponents or `,`. Thresholds are plain numbers whenever
//! that is exact, because Icinga 2 drops range syntax.

use std::borrow::Cow;
use std::fmt;

use super::number::write_number;
use super::range::Range;
use super::verdict::Thresholds;

/// Longest label [`sanitize_label`] returns, in characters.
pub const MAX_LABEL_CHARS: usize = 40;

/// One metric. Build with [`Perfdata::new`] and the builder methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Perfdata {
    pub label: String,
    pub value: f64,
    pub uom: &'static str,
    pub warning: Option<Range>,
    pub critical: Option<Range>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Perfdata {
    /// A metric without unit, thresholds or bounds; `label` is sanitized.
    pub fn new(label: &str, value: f64) -> Self {
        Perfdata {
            label: sanitize_label(label),
            value,
            uom: "",
            warning: None,
            critical: None,
            min: None,
            max: None,
        }
    }

    /// Unit of measurement: `""`, `s`, `ms`, `us`, `%`, `B`, `KB`, `MB`, `TB`, `c`.
    pub fn uom(mut self, uom: &'static str) -> Self {
        self.uom = uom;
        self
    }

    /// The ranges the value was judged by.
    pub fn thresholds(mut self, thresholds: &Thresholds) -> Self {
        self.warning = thresholds.warning;
        self.critical = thresholds.critical;
        self
    }

    pub fn min(mut self, min: f64) -> Self {
        self.min = Some(min);
        self
    }

    pub fn max(mut self, max: f64) -> Self {
        self.max = Some(max);
        self
    }
}

impl fmt::Display for Perfdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Sanitized again: the fields are public.
        let label = sanitized(&self.label);
        if label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            f.write_str(&label)?;
            f.write_str("=")?;
        } else {
            f.write_str("'")?;
            f.write_str(&label)?;
            f.write_str("'=")?;
        }
        write_number(f, self.value)?;
        f.write_str(self.uom)?;
        let present = [
            self.warning.is_some(),
            self.critical.is_some(),
            self.min.is_some(),
            self.max.is_some(),
        ];
        let used = present.iter().rposition(|&p| p).map_or(0, |i| i + 1);
        for field in 0..used {
            f.write_str(";")?;
            match field {
                0 => self.warning.as_ref().map_or(Ok(()), |r| write!(f, "{r}"))?,
                1 => self
                    .critical
                    .as_ref()
                    .map_or(Ok(()), |r| write!(f, "{r}"))?,
                2 => self.min.map_or(Ok(()), |v| write_number(f, v))?,
                _ => self.max.map_or(Ok(()), |v| write_number(f, v))?,
            }
        }
        Ok(())
    }
}

/// Maps every character outside `[A-Za-z0-9_.:-]` to `_`, collapses runs of
/// `_` (and of `:`, since Icinga 2 expands `a::b` as a multi-check prefix),
/// trims `_` from both ends and caps at [`MAX_LABEL_CHARS`]. Never empty
/// (`_` then). Idempotent.
pub fn sanitize_label(raw: &str) -> String {
    sanitized(raw).into_owned()
}

/// [`sanitize_label`], borrowing `raw` when it is already a clean label.
fn sanitized(raw: &str) -> Cow<'_, str> {
    // Most labels are fine as they are.
    let clean = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-');
    let bytes = raw.as_bytes();
    if !bytes.is_empty()
        && bytes.len() <= MAX_LABEL_CHARS
        && bytes.iter().all(|&b| clean(b))
        && bytes[0] != b'_'
        && bytes[bytes.len() - 1] != b'_'
        // A pair scan: `str::contains` sets up a substring searcher per
        // call, which cost more than the rest of rendering.
        && !bytes
            .windows(2)
            .any(|w| w[0] == w[1] && matches!(w[0], b'_' | b':'))
    {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len().min(MAX_LABEL_CHARS));
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-') {
            c
        } else {
            '_'
        };
        if !(matches!(c, '_' | ':') && out.ends_with(c)) {
            out.push(c);
        }
    }
    let trimmed: String = out
        .trim_matches('_')
        .chars()
        .take(MAX_LABEL_CHARS)
        .collect();
    Cow::Owned(match trimmed.trim_end_matches('_') {
        "" => "_".to_owned(),
        label => label.to_owned(),
    })
}

/// Perfdata labels for names of things (vhosts, users, environments; the
/// text output keeps the real names): `prefix`, `_` and the name with every run of characters outside
/// `[A-Za-z0-9]` as one `_`, at most [`MAX_LABEL_CHARS`]. Graphite (Icinga's
/// GraphiteWriter, PNP, carbon) splits metric names on `.`, so
/// `www.example.com:443` must not stay dotted; `:` (Icinga's `::` check
/// prefix), `-` and with them the need to quote the label go too. Names that come out equal (`a.b` and
/// `a_b`, or long names cut alike) each get `_` and 8 hex digits of a hash
/// (FNV-1a) of the real name: deterministic, and independent of the
/// names' ranking, so a series keeps its name when two names swap places.
/// A clash left after that (a hash collision) is numbered in ranking order.
pub fn series_labels(prefix: &str, names: &[&str]) -> Vec<String> {
    const HASH_SUFFIX: usize = 9; // `_` and 8 hex digits
    let plain = |name: &str, max: usize| {
        let mut label = String::from(prefix);
        for c in name.chars() {
            let c = if c.is_ascii_alphanumeric() { c } else { '_' };
            if !(c == '_' && label.ends_with('_')) {
                label.push(c);
            }
        }
        label.truncate(max);
        label.trim_end_matches('_').to_string()
    };
    let base: Vec<String> = names
        .iter()
        .map(|n| {
            let mut label = plain(&format!("_{n}"), MAX_LABEL_CHARS);
            if label == prefix {
                label.push_str("_empty");
            }
            label
        })
        .collect();
    let mut labels: Vec<String> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let shared = base.iter().filter(|b| **b == base[i]).count() > 1;
        let mut label = if shared {
            let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            let head = plain(&format!("_{name}"), MAX_LABEL_CHARS - HASH_SUFFIX);
            format!("{head}_{hash:08x}")
        } else {
            base[i].clone()
        };
        let stem = label.clone();
        let mut n = 2;
        while labels.contains(&label) || (label != base[i] && base.contains(&label)) {
            let suffix = format!("_{n}");
            let keep = stem.len().min(MAX_LABEL_CHARS - suffix.len());
            label = format!("{}{suffix}", &stem[..keep]);
            n += 1;
        }
        labels.push(label);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(warning: Option<&str>, critical: Option<&str>) -> Thresholds {
        let r = |s: Option<&str>| s.map(|s| s.parse::<Range>().unwrap());
        Thresholds {
            warning: r(warning),
            critical: r(critical),
        }
    }

    #[test]
    fn formatting() {
        let busy = Perfdata::new("busy", 8.0)
            .uom("%")
            .thresholds(&t(Some("80"), Some("0:95")))
            .min(0.0)
            .max(100.0);
        assert_eq!(busy.to_string(), "busy=8%;80;95;0;100");
        assert_eq!(Perfdata::new("idle", 138.0).to_string(), "idle=138");
        assert_eq!(Perfdata::new("t", 0.0125).uom("s").to_string(), "t=0.0125s");
        let max_only = Perfdata::new("workers", 5.0).max(150.0);
        assert_eq!(max_only.to_string(), "workers=5;;;;150");
        let crit_only = Perfdata::new("x", 1.0).thresholds(&t(None, Some("10:")));
        assert_eq!(crit_only.to_string(), "x=1;;10:");
        let inverted = Perfdata::new("x", 1.0).thresholds(&t(Some("@10:20"), None));
        assert_eq!(inverted.to_string(), "x=1;@10:20");
    }

    #[test]
    fn quoting() {
        assert_eq!(
            Perfdata::new("idle_workers", 1.0).to_string(),
            "idle_workers=1"
        );
        assert_eq!(
            Perfdata::new("idle workers", 1.0).to_string(),
            "idle_workers=1"
        );
        let vhost = Perfdata::new("www.example.com:443", 2.0);
        assert_eq!(vhost.to_string(), "'www.example.com:443'=2");
        // public fields are sanitized at display time too
        let mut raw = Perfdata::new("x", 1.0);
        raw.label = "a'b=c|d".to_owned();
        assert_eq!(raw.to_string(), "a_b_c_d=1");
    }

    #[test]
    fn sanitizing() {
        for (raw, want) in [
            ("busy", "busy"),
            (" idle  workers ", "idle_workers"),
            ("a'b=c|d\ne\x1b[31m", "a_b_c_d_e_31m"),
            ("größe", "gr_e"),
            ("[::1]:80", ":1_:80"),
            ("", "_"),
            ("'|='", "_"),
            ("__x__", "x"),
        ] {
            assert_eq!(sanitize_label(raw), want, "{raw:?}");
            assert_eq!(sanitize_label(want), want, "idempotent {want:?}");
        }
        let long = sanitize_label(&"a".repeat(100));
        assert_eq!(long.len(), MAX_LABEL_CHARS);
        let cut_at_underscore = format!("{}_b", "a".repeat(39));
        assert_eq!(sanitize_label(&cut_at_underscore), "a".repeat(39));
    }

    #[test]
    fn icinga_safe() {
        let p = Perfdata::new("v", 1234567.891)
            .thresholds(&t(Some("1000000.5"), Some("2000000")))
            .min(0.0);
        let s = p.to_string();
        assert_eq!(s, "v=1234567.891;1000000.5;2000000;0");
        let fields = s.split_once('=').unwrap().1;
        assert!(!fields.contains(',') && !fields.contains('e'), "{s}");
    }

    #[test]
    fn labels_have_no_graphite_separators() {
        let labels = series_labels(
            "vhost",
            &[
                "www.example.com:443",
                "b.test:18082",
                "[::1]:80",
                "my-site.example:8080",
                r"ev\x7cl'=\x0a:80",
                "",
            ],
        );
        assert_eq!(
            labels,
            [
                "vhost_www_example_com_443",
                "vhost_b_test_18082",
                "vhost_1_80",
                "vhost_my_site_example_8080",
                "vhost_ev_x7cl_x0a_80",
                "vhost_empty",
            ]
        );
        for label in &labels {
            assert!(label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            // Perfdata::new keeps them as they are.
            assert_eq!(&sanitize_label(label), label);
        }
    }

    #[test]
    fn colliding_labels_are_distinct_and_independent_of_order() {
        let long = "a".repeat(60);
        let longer = format!("{long}b");
        let names = [
            "a.b:80",
            "a_b:80",
            "c.test:80",
            long.as_str(),
            longer.as_str(),
        ];
        let labels = series_labels("vhost", &names);
        assert_eq!(labels[2], "vhost_c_test_80");
        for (i, label) in labels.iter().enumerate() {
            assert!(label.len() <= MAX_LABEL_CHARS, "{label}");
            assert_eq!(
                labels.iter().filter(|l| *l == label).count(),
                1,
                "{labels:?}"
            );
            if i != 2 {
                assert!(label.len() > 9 && label.as_bytes()[label.len() - 9] == b'_');
            }
        }
        assert!(labels[0].starts_with("vhost_a_b_80_"), "{}", labels[0]);
        // The same name gets the same label whatever the ranking.
        let mut reversed = names;
        reversed.reverse();
        let mut again = series_labels("vhost", &reversed);
        again.reverse();
        assert_eq!(labels, again);
    }

    #[test]
    fn leftover_clash_is_numbered() {
        // A plain label that equals another vhost's hashed one cannot be
        // constructed without a hash collision; a repeated name can.
        let labels = series_labels("vhost", &["x.y", "x.y"]);
        assert_ne!(labels[0], labels[1]);
        assert!(labels[1].ends_with("_2"), "{labels:?}");
    }
}
