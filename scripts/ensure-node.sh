#!/usr/bin/env bash
# Makes .cache/node/bin/node the pinned Node.js (the version the single binary
# embeds), so development, tests and the shipped binary run the same runtime.
# Uses the machine's node when it already is that version; otherwise unpacks
# the official binary that the npm registry carries as node-linux-<arch>.
set -euo pipefail
version="${1:?usage: ensure-node.sh VERSION [ARCH]}"
arch="${2:-$(uname -m)}"
case "$arch" in
  x86_64|x64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "ensure-node: unsupported architecture '$arch' (expected x86_64 or aarch64)" >&2; exit 1 ;;
esac
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache"
link_dir="$cache/node/bin"
mkdir -p "$cache"

current="$("$link_dir/node" --version 2>/dev/null || true)"
if [ "$current" = "v$version" ] && [ "$arch" = "$(uname -m | sed -e s/x86_64/x64/ -e s/aarch64/arm64/)" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "ensure-node: npm is missing; installing Debian's npm to fetch the pinned Node.js" >&2
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >&2
fi

target=""
if [ "$(node --version 2>/dev/null || true)" = "v$version" ]; then
  target="$(command -v node)"
else
  unpacked="$cache/node-$version-linux-$arch"
  if [ ! -x "$unpacked/bin/node" ]; then
    tgz="$cache/node-linux-$arch-$version.tgz"
    if [ ! -f "$tgz" ]; then
      echo "ensure-node: fetching node-linux-$arch@$version from the npm registry" >&2
      (cd "$cache" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
    fi
    tmp="$(mktemp -d "$cache/unpack.XXXXXX")"
    tar xzf "$tgz" -C "$tmp"
    rm -rf "$unpacked"
    mv "$tmp/package" "$unpacked"
    rmdir "$tmp"
  fi
  target="$unpacked/bin/node"
fi
mkdir -p "$link_dir"
ln -sfn "$target" "$link_dir/node"
echo "ensure-node: using $("$link_dir/node" --version) from $target" >&2
