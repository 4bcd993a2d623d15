#!/bin/sh
# Packages the functions' source exactly as Terraform uploads it (infra/storage.tf
# runs this through its external data source on every plan): the paths the
# Cloud Functions build needs (the list below), with their working-tree content,
# as a zip whose bytes depend on that content alone. Cloud Functions' Node.js
# build runs `npm ci` and the `gcp-build` script on it, then starts package.json's
# main.
#
# Which files:
# - in a git checkout, the files git tracks under those paths, so an untracked
#   .env, Docker config.json or log never leaves the machine. Git is only read
#   (ls-files, no optional locks), never written, so a git process running
#   beside it (an editor's `git status`, a commit) cannot make it fail;
# - without one, every regular file under those paths: a build started by a
#   repository trigger may have no .git (GoogleCloudPlatform/cloud-builders#401,
#   #351), and that source holds only what the repository holds.
# Either way a file that looks like a secret, or a symlink, is refused.
#
# The zip is written here, entries stored (not compressed) in name order with a
# fixed date, so the same content gives the same bytes on any machine; CRC-32s
# come from gzip's trailer (RFC 1952, section 2.3.1: the same CRC-32 as zip's,
# APPNOTE.TXT 4.4.7). Needs only POSIX sh and utilities, gzip and sha256sum (or
# shasum): busybox, as in the hashicorp/terraform image, has them all.
#
# Usage: scripts/package-function-source.sh [OUT_DIR]   (default infra/.build)
# Prints {"path": "<zip>", "digest": "<sha256 of the packaged paths and contents>"}:
# the protocol of Terraform's external data source. The digest names the archive,
# so an unchanged source uploads and redeploys nothing.
set -eu

# The files the build needs. Anything else (tests, infra, docs) stays out.
PACKAGED="package.json package-lock.json tsconfig.json tsconfig.build.json functions"
SECRET_LOOKING='(^|/)(\.env(\..*)?|config\.json|\.dockercfg|[^/]*\.log|\.npmrc)$'

fail() {
  echo "package-function-source: $*" >&2
  exit 1
}

# Terraform's external data source writes a JSON query on stdin; read it all.
if [ ! -t 0 ]; then cat >/dev/null; fi

root=$(cd "$(dirname "$0")/.." && pwd -P)
out_dir=${1:-$root/infra/.build}
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
case "$out_dir" in *'"'* | *\\*) fail "the output directory's path must not hold a quote or a backslash" ;; esac
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$@"; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$@"; }
else
  fail "sha256sum (or shasum) is required"
fi
command -v gzip >/dev/null 2>&1 || fail "gzip is required"

# --- which files -------------------------------------------------------------
g() { GIT_OPTIONAL_LOCKS=0 git -c safe.directory="$root" -c core.quotepath=off -C "$root" "$@"; }
in_checkout() {
  command -v git >/dev/null 2>&1 || return 1
  top=$(g rev-parse --show-toplevel 2>/dev/null) || return 1
  [ "$(cd "$top" && pwd -P)" = "$root" ]
}
if in_checkout; then
  # shellcheck disable=SC2086 # the list splits into its paths
  g ls-files -- $PACKAGED >"$work/candidates" || fail "git ls-files failed in $root"
  from="tracked by git"
else
  : >"$work/candidates"
  for path in $PACKAGED; do
    if [ -d "$path" ]; then
      find "$path" -name node_modules -prune -o \( -type f -o -type l \) -print >>"$work/candidates"
    elif [ -e "$path" ] || [ -L "$path" ]; then
      echo "$path" >>"$work/candidates"
    fi
  done
  from="in the working tree (no git checkout here)"
fi

: >"$work/files"
while IFS= read -r file; do
  case "$file" in '"'*) fail "refusing a path git had to quote: $file" ;; esac
  if [ -L "$file" ]; then fail "refusing to package a symlink: $file"; fi
  # A tracked file deleted in the working tree is not part of it.
  if [ -f "$file" ]; then echo "$file" >>"$work/files"; fi
done <"$work/candidates"
LC_ALL=C sort -o "$work/files" "$work/files"

for needed in $PACKAGED; do
  grep -q -e "^$needed\$" -e "^$needed/" "$work/files" || fail "$needed is missing (looked at the files $from), and the build needs it"
done
if secret=$(grep -E "$SECRET_LOOKING" "$work/files" | head -1) && [ -n "$secret" ]; then
  fail "refusing to package a secret-looking file: $secret"
fi

# --- the content digest: each path with the sha256 of its bytes ----------------
while IFS= read -r file; do sha256 "$file"; done <"$work/files" >"$work/sums"
digest=$(sha256 <"$work/sums" | cut -d' ' -f1)

# --- the zip (PKWARE APPNOTE.TXT 4.3: local headers and data, central directory, end record) ---
# Little-endian bytes of a number, written with printf's octal escapes (no forks).
le() {
  value=$1 width=$2 bytes=''
  while [ "$width" -gt 0 ]; do
    byte=$((value % 256))
    bytes="$bytes\\$((byte / 64))$((byte / 8 % 8))$((byte % 8))"
    value=$((value / 256))
    width=$((width - 1))
  done
  # shellcheck disable=SC2059 # the format is the escapes built above
  printf "$bytes"
}
# The fields a local header and its central directory record share: version
# 2.0 needed, no flags, stored, 1980-01-01 00:00, the CRC, both sizes, the
# name's length, no extra field.
entry_fields() {
  le 20 2
  le 0 2
  le 0 2
  le 0 2
  le $((0x21)) 2
  cat "$work/crc"
  le "$size" 4
  le "$size" 4
  le "$name_length" 2
  le 0 2
}
zip="$out_dir/image-syncer-$digest.zip"
: >"$zip.tmp"
: >"$work/central"
offset=0
count=0
while IFS= read -r file; do
  size=$(($(wc -c <"$file")))
  name_length=$(printf '%s' "$file" | wc -c)
  name_length=$((name_length))
  # gzip's last 8 bytes: the CRC-32 of the data, then its size, little-endian.
  gzip -c <"$file" | tail -c 8 | dd bs=4 count=1 2>/dev/null >"$work/crc"
  # The local header: its signature, the shared fields, the name, then the data.
  {
    le $((0x04034b50)) 4
    entry_fields
    printf '%s' "$file"
    cat "$file"
  } >>"$zip.tmp"
  # The central directory's: made by Unix (3) zip 3.0, the shared fields, no
  # comment, disk 0, no internal attributes, mode 0644, the local header's offset.
  {
    le $((0x02014b50)) 4
    le $((0x031e)) 2
    entry_fields
    le 0 2
    le 0 2
    le 0 2
    le $((0100644 * 65536)) 4
    le "$offset" 4
    printf '%s' "$file"
  } >>"$work/central"
  offset=$((offset + 30 + name_length + size))
  count=$((count + 1))
done <"$work/files"
central_size=$(($(wc -c <"$work/central")))
cat "$work/central" >>"$zip.tmp"
{
  le $((0x06054b50)) 4
  le 0 2
  le 0 2
  le "$count" 2
  le "$count" 2
  le "$central_size" 4
  le "$offset" 4
  le 0 2
} >>"$zip.tmp"
mv "$zip.tmp" "$zip"

printf '{"path": "%s", "digest": "%s"}\n' "$zip" "$digest"
