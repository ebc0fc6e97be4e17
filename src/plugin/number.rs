//! Numbers as monitoring output writes them: the C locale, never an
//! exponent.

use std::fmt;

/// A number in the C locale, as perfdata and the status line want it:
/// integers without a decimal point, otherwise at most 6 decimals with
/// trailing zeros removed, never exponent notation. NaN and infinities are
/// `U` (the perfdata "unknown" value).
pub fn format_number(v: f64) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_number(&mut s, v);
    s
}

/// [`format_number`] written straight into `out` (no string of its own for
/// an integer, which most perfdata values and bounds are).
pub fn write_number(out: &mut impl fmt::Write, v: f64) -> fmt::Result {
    if !v.is_finite() {
        return out.write_str("U");
    }
    // Integers (counts, most thresholds) without float formatting.
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return write!(out, "{}", v as i64);
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    out.write_str(if s == "-0" { "0" } else { s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for (v, s) in [
            (0.0, "0"),
            (-0.0, "0"),
            (10.0, "10"),
            (-3.0, "-3"),
            (0.5, "0.5"),
            (98.76543219, "98.765432"),
            (2.9999999, "3"),
            (-0.0000001, "0"),
            (1e20, "100000000000000000000"),
            (1.5e-5, "0.000015"),
            (f64::NAN, "U"),
            (f64::INFINITY, "U"),
        ] {
            assert_eq!(format_number(v), s, "{v}");
        }
    }
}
