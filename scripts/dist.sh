#!/usr/bin/env bash
# `make dist`: packs the release artifacts of one version into dist/ from what the build targets
# made (`make python`'s wheel, `make node`'s addon, `make nuget`'s .nupkg, `make sidecar`'s binary);
# it compiles nothing. Each artifact gets a `<name>.sha256` beside it (`sha256sum -c` reads it).
# Usage: scripts/dist.sh <version> <dist dir> <wheel> <dapr-rs binary> [artifact already in dist/ ...]
# (the trailing ones, e.g. the JVM jar, only get their .sha256 and their line in the listing).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$1 dist=$2 wheel=$3 binary=$4
shift 4
fail() { echo "dist: $*" >&2; exit 1; }

checksum() { (cd "$(dirname "$1")" && sha256sum "$(basename "$1")" > "$(basename "$1").sha256"); }

[ -f "$wheel" ] || fail "no wheel at $wheel (make python builds it)"

# npm: the package as `npm publish` would send it, the prebuilt addon at its root where napi-rs'
# loader (binding.js) requires ./dapr-rs.<platform>.node first, as napi-rs' `artifacts` step puts it.
addon=bindings-node/dapr-rs.linux-x64-gnu.node
[ -f "$addon" ] || fail "no prebuilt addon at $addon (make node builds it)"
node_version=$(node -p 'require("./bindings-node/package.json").version')
[ "$node_version" = "$version" ] || fail "bindings-node/package.json says $node_version, Cargo.toml $version (make node stamps it)"
stray=$(find bindings-node -maxdepth 1 -name '*.node' ! -name "$(basename "$addon")")
[ -z "$stray" ] || fail "other addons in bindings-node would be packed too: $stray"
tgz=$dist/dapr-rs-$version.tgz
rm -f "$tgz"
(cd bindings-node && npm pack --silent --pack-destination "$dist" >/dev/null)
[ -f "$tgz" ] || fail "npm pack wrote no $tgz"
# (grep without -q reads the whole listing: an early exit would fail tar, and pipefail the check)
tar -tzf "$tgz" | grep -x "package/$(basename "$addon")" >/dev/null || fail "$tgz lacks the addon"

nupkg=$dist/DaprRs.$version.nupkg
[ -f "$nupkg" ] || fail "no $nupkg (make nuget builds it)"

# The CLI on its own: the binary and its README in one directory named for the version, packed the
# same way every time (sorted, owned by root, dated by the last commit) so a rebuild gives one file.
cli=dapr-rs-$version-x86_64-linux
cli_tgz=$dist/$cli.tar.gz
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$cli"
install -m 0755 "$binary" "$stage/$cli/dapr-rs"
sed "s/@VERSION@/$version/g" scripts/dist-cli-README.md > "$stage/$cli/README.md"
stamp=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$stamp" -cf - "$cli" | gzip -9 -n > "$cli_tgz"

for artifact in "$wheel" "$tgz" "$nupkg" "$cli_tgz" "$@"; do
  [ -f "$artifact" ] || fail "no $artifact"
  checksum "$artifact"
  awk -v name="$(basename "$artifact")" -v size="$(stat -c %s "$artifact")" 'BEGIN { printf "dist: %-52s %6.1f MB\n", name, size / 1048576 }'
done
