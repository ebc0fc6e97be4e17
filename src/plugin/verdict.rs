//! A check's thresholds: `-w` and `-c` as Nagios ranges.

use super::range::Range;

/// Warning and critical ranges, either may be absent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub warning: Option<Range>,
    pub critical: Option<Range>,
}
