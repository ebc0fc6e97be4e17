#!/bin/sh
# Builds the Debian and RPM packages of apache-scoreboard.
#
#   packaging/build.sh                   both packages
#   packaging/build.sh deb               the .deb only (tests/integration/package.rs)
#   packaging/build.sh rpm               the .rpm only
#   packaging/build.sh --tools-only deb  only install what building the .deb
#                                        needs (.ci/run, before the tests)
#
# Output: target/<triple>/debian/apache-scoreboard_<version>-1_<arch>.deb
# and target/<triple>/generate-rpm/apache-scoreboard-<version>-1.<arch>.rpm
# (below $CARGO_TARGET_DIR when it is set; cargo-deb prints the path). The package contents are declared in
# Cargo.toml, [package.metadata.deb] and [package.metadata.generate-rpm];
# the maintainer scripts are in packaging/debian and packaging/rpm.
#
# Installs cargo-deb (>= 3.8, for symlink assets) and cargo-generate-rpm with
# `cargo install --locked` when they are missing.
set -eu

cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
tools_only=false
if [ "${1:-}" = --tools-only ]; then
  tools_only=true
  shift
fi
what=${1:-all}
case $what in
  all | deb | rpm) ;;
  *)
    echo "usage: $0 [--tools-only] [all|deb|rpm]" >&2
    exit 2
    ;;
esac

# cargo-deb 3.8 is the first version tested with symlinks declared as assets.
if [ "$what" != rpm ] && ! cargo deb --version 2>/dev/null | grep -Eq ' (3\.([89]|[1-9][0-9])|[4-9]|[1-9][0-9])\.'; then
  cargo install --locked cargo-deb --version '^3.8'
fi
if [ "$what" != deb ] && ! cargo generate-rpm --version >/dev/null 2>&1; then
  cargo install --locked cargo-generate-rpm
fi
if $tools_only; then
  exit 0
fi

# Statically linked (glibc's static-pie, README "Static binary"): a check
# starts in about two thirds of the time (BENCHMARKS.md) and runs on older
# distributions. Its 3,340 start-up relocations are packed as DT_RELR
# (pack-relative-relocs: binutils >= 2.38, glibc >= 2.36 at build time only,
# the static binary carries its own relocator): 880 bytes to read instead
# of 80 KB of .rela.dyn. Still position-independent, for ASLR. --target
# keeps the flags off build scripts and proc macros; both packagers map
# target/release in the asset paths to target/<triple>/release when given
# the same --target.
#
# The functions a check runs are laid out together at the start of .text
# (packaging/hot-symbols.txt, made by contrib/hot-symbols.sh): a run then
# faults in a few windows of code instead of some thirty spread over 3 MB.
# Only rust-lld reads such a file: Rust links x86_64 Linux with it from
# 1.90 on; elsewhere the binary is linked in the default order.
host=$(rustc -vV | sed -n 's/^host: //p')
minor=$(rustc -vV | sed -n 's/^release: 1\.\([0-9]*\)\..*/\1/p')
order=
if [ "$host" = x86_64-unknown-linux-gnu ] && [ "${minor:-0}" -ge 90 ]; then
  order="-C link-arg=-Wl,--symbol-ordering-file=$PWD/packaging/hot-symbols.txt -C link-arg=-Wl,--no-warn-symbol-ordering"
fi
# RUSTFLAGS is split at whitespace: a checkout whose path has any links in
# the default order rather than fail.
case $PWD in *[[:space:]]*) order= ;; esac
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs $order" \
  cargo build --release --locked --target "$host"
release="$target/$host/release"

# The man pages, from the binary's own clap definitions (hidden `manpage`
# subcommand), where both packagers look for them. Regenerated from
# scratch: the packages take every *.1.gz found there.
man="$release/man"
rm -rf "$man"
mkdir -p "$man"
# apache-scoreboard.1, check_scoreboard_busy.1 (one per check name),
# apache-scoreboard-dump.1 (one per other subcommand), and
# apache-scoreboard-check_*.1 that point to the check pages.
"$release/apache-scoreboard" manpage --dir "$man" >/dev/null
gzip -9nf "$man"/*.1

if [ "$what" != rpm ]; then
  # cargo-deb strips its own copy of the binary.
  cargo deb --no-build --target "$host"
fi

if [ "$what" != deb ]; then
  # cargo-generate-rpm packages the file as it is.
  strip --strip-all "$release/apache-scoreboard"
  cargo generate-rpm --target "$host"
fi
