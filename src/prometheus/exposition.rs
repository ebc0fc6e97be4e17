//! The exposition formats: Prometheus text 0.0.4 (what node_exporter's
//! textfile collector reads) and OpenMetrics 1.0 text, from one list of
//! metric families.
//!
//! Our own writer, not a crate's: the official `prometheus-client` writes
//! only OpenMetrics and `prometheus` (tikv) only 0.0.4, through a global
//! registry of typed collectors; what we expose is a list of const samples
//! taken from one copy of the segment, and the two formats differ in three
//! rules (counter family names, `# EOF`, the content type).

use std::fmt::Write;

/// The format a scrape asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`
    Text,
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// What an HTTP `Accept` header asks for: OpenMetrics only when it
    /// names it (Prometheus sends it first when it can read it).
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a)
                if a.split(',').any(|part| {
                    part.split(';')
                        .next()
                        .is_some_and(|t| t.trim() == "application/openmetrics-text")
                }) =>
            {
                Format::OpenMetrics
            }
            _ => Format::Text,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// One sample: label pairs and a value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// A metric family: its name (a counter's with `_total`), type, help text
/// and samples, in the order they were first set.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub samples: Vec<Sample>,
}

/// The families of one scrape, in the order they were first set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    pub families: Vec<Family>,
}

impl Exposition {
    /// Declares a family (no sample yet; a family without samples is not
    /// written).
    pub fn family(&mut self, name: &'static str, kind: Kind, help: &'static str) -> &mut Family {
        let at = match self.families.iter().position(|f| f.name == name) {
            Some(at) => at,
            None => {
                self.families.push(Family {
                    name,
                    kind,
                    help,
                    samples: Vec::new(),
                });
                self.families.len() - 1
            }
        };
        &mut self.families[at]
    }

    /// Sets a sample; the same labels set again replace the value (as a
    /// Go GaugeVec's `Set`).
    pub fn set(
        &mut self,
        name: &'static str,
        kind: Kind,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        self.family(name, kind, help).set(labels, value);
    }

    pub fn get(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The exposition in `format`.
    pub fn write(&self, format: Format) -> String {
        let mut out = String::with_capacity(4096);
        for f in self.families.iter().filter(|f| !f.samples.is_empty()) {
            let (kind, family_name) = match (f.kind, format) {
                (Kind::Gauge, _) => ("gauge", f.name),
                (Kind::Counter, Format::Text) => ("counter", f.name),
                // OpenMetrics names the counter family without `_total`.
                (Kind::Counter, Format::OpenMetrics) => {
                    ("counter", f.name.strip_suffix("_total").unwrap_or(f.name))
                }
            };
            let _ = writeln!(out, "# HELP {family_name} {}", escape_help(f.help));
            let _ = writeln!(out, "# TYPE {family_name} {kind}");
            for s in &f.samples {
                out.push_str(f.name);
                if !s.labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in s.labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                    }
                    out.push('}');
                }
                out.push(' ');
                push_value(&mut out, s.value);
                out.push('\n');
            }
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

impl Family {
    pub fn set(&mut self, labels: &[(&'static str, &str)], value: f64) {
        let same = |s: &&mut Sample| {
            s.labels.len() == labels.len()
                && s.labels
                    .iter()
                    .zip(labels)
                    .all(|(a, b)| a.0 == b.0 && a.1 == b.1)
        };
        match self.samples.iter_mut().find(same) {
            Some(s) => s.value = value,
            None => self.samples.push(Sample {
                labels: labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect(),
                value,
            }),
        }
    }
}

/// Label values escape `\`, `"` and newline (both formats).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Help text escapes `\` and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Integers as integers, other values in Rust's shortest round-trip form,
/// the special values as both formats spell them.
fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Exposition {
        let mut e = Exposition::default();
        e.set(
            "apache_up",
            Kind::Gauge,
            "Could the apache server be reached",
            &[],
            1.0,
        );
        e.set(
            "apache_accesses_total",
            Kind::Counter,
            "Current total apache accesses (*)",
            &[],
            12.0,
        );
        let f = e.family("apache_workers", Kind::Gauge, "Apache worker statuses");
        f.set(&[("state", "busy")], 3.0);
        f.set(&[("state", "idle")], 4.0);
        f.set(&[("state", "busy")], 5.0);
        e.family(
            "apache_connections",
            Kind::Gauge,
            "Apache connection statuses",
        );
        e.set(
            "apache_cpuload",
            Kind::Gauge,
            "load",
            &[("vhost", "a\"b\\c\nd")],
            0.807692,
        );
        e
    }

    #[test]
    fn text_format() {
        assert_eq!(
            sample().write(Format::Text),
            "# HELP apache_up Could the apache server be reached\n\
             # TYPE apache_up gauge\n\
             apache_up 1\n\
             # HELP apache_accesses_total Current total apache accesses (*)\n\
             # TYPE apache_accesses_total counter\n\
             apache_accesses_total 12\n\
             # HELP apache_workers Apache worker statuses\n\
             # TYPE apache_workers gauge\n\
             apache_workers{state=\"busy\"} 5\n\
             apache_workers{state=\"idle\"} 4\n\
             # HELP apache_cpuload load\n\
             # TYPE apache_cpuload gauge\n\
             apache_cpuload{vhost=\"a\\\"b\\\\c\\nd\"} 0.807692\n"
        );
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let text = sample().write(Format::OpenMetrics);
        assert!(text.contains("# TYPE apache_accesses counter\napache_accesses_total 12\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn accept_header() {
        assert_eq!(Format::from_accept(None), Format::Text);
        assert_eq!(
            Format::from_accept(Some("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_accept(Some("text/plain;version=0.0.4")),
            Format::Text
        );
    }

    #[test]
    fn values() {
        let mut s = String::new();
        for v in [0.0, -3.0, 2.04071, 1e20, f64::NAN, f64::INFINITY] {
            push_value(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "0 -3 2.04071 100000000000000000000 NaN +Inf ");
    }
}
