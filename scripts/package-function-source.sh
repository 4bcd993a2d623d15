#!/bin/sh
# Packages the functions' source exactly as Terraform uploads it: the files git
# tracks that the Cloud Functions build needs (the list below), with their
# working-tree content, and nothing else: no untracked .env, no Docker
# config.json, no logs, no node_modules. Cloud Functions' Node.js build runs
# `npm ci` and the `gcp-build` script on it, then starts package.json's main.
#
# Usage: scripts/package-function-source.sh [OUT_DIR]   (default infra/.build)
# Prints {"path": "<zip>", "tree": "<content id>"}: the protocol of Terraform's
# external data source (infra/storage.tf), which runs it on every plan. The
# content id names the archive, so an unchanged source uploads nothing new; the
# zip's bytes depend only on that content (fixed timestamps).
# Needs git and a checkout with its .git directory (see .gcloudignore).
set -eu

# The files the build needs. Anything else tracked (tests, infra, docs) stays out.
PACKAGED="package.json package-lock.json tsconfig.json tsconfig.build.json functions"

fail() {
  echo "package-function-source: $*" >&2
  exit 1
}

# Terraform's external data source writes a JSON query on stdin; read it all.
if [ ! -t 0 ]; then cat >/dev/null; fi

root=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${1:-$root/infra/.build}
command -v git >/dev/null 2>&1 || fail "git is required to package the source"
# A checkout owned by another user (a build container) is still ours to read.
g() { git -c safe.directory="$root" -C "$root" "$@"; }
# The commits made below need an identity; a build machine may have none.
GIT_AUTHOR_NAME=image-syncer GIT_AUTHOR_EMAIL=image-syncer@localhost
GIT_COMMITTER_NAME=image-syncer GIT_COMMITTER_EMAIL=image-syncer@localhost
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
g rev-parse --git-dir >/dev/null 2>&1 ||
  fail "$root is not a git checkout: the source is packaged from what git tracks, so .git must be present"

# Tracked files as they are in the working tree (uncommitted edits included,
# untracked files never): `git stash create` records that state as a commit
# without touching the working tree or the stash list; it prints nothing when
# the tree is clean, and then HEAD is that state.
g rev-parse --verify -q HEAD >/dev/null || fail "the checkout has no commit yet"
state=$(g stash create) || fail "git stash create failed: cannot record the working tree"
state=${state:-$(g rev-parse --verify HEAD)}

for needed in $PACKAGED; do
  [ -n "$(g ls-tree -r "$state" -- "$needed")" ] || fail "$needed is not tracked by git, and the build needs it"
done
listing=$(g ls-tree -r "$state" -- $PACKAGED)
if printf '%s\n' "$listing" | grep -Eq '	(.*/)?(\.env(\..*)?|config\.json|\.dockercfg|[^/]*\.log|\.npmrc)$'; then
  fail "refusing to package a secret-looking file: $(printf '%s\n' "$listing" | grep -E '	(.*/)?(\.env(\..*)?|config\.json|\.dockercfg|[^/]*\.log|\.npmrc)$' | cut -f2 | head -1)"
fi

# The content id: modes, blob ids and paths of exactly what is packaged.
tree=$(printf '%s\n' "$listing" | g hash-object --stdin)

# A commit of that state with fixed dates, so the zip's timestamps (git archive
# takes them from the commit) do not change from one run to the next.
fixed="1980-01-01T00:00:00Z"
commit=$(GIT_AUTHOR_DATE=$fixed GIT_COMMITTER_DATE=$fixed \
  g commit-tree "$(g rev-parse "$state^{tree}")" -m "function source")

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
zip="$out_dir/image-syncer-$tree.zip"
g archive --format=zip -o "$zip.tmp" "$commit" -- $PACKAGED
mv "$zip.tmp" "$zip"

printf '{"path": "%s", "tree": "%s"}\n' "$zip" "$tree"
