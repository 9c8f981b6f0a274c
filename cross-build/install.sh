#!/usr/bin/env bash
# Installs or removes a SplitOculo binary with its systemd unit and an example
# configuration. Run from the unpacked release tarball (or the repository with
# BINARY=dist/splitoculo-edge-linux-arm64).
#   sudo ./install.sh [install|uninstall]      DESTDIR=/tmp/root PREFIX=/usr ./install.sh
#   sudo MQTT_URL=mqtt://server:1883 ./install.sh   the edge's broker (mqtt.url); DEVICE_ID= its device.id
# A fresh edge install writes /etc/splitoculo/edge.yaml with the installed
# binary's `splitoculo-edge init`, run here, so the camera is the one this
# board has; where that binary cannot run (another architecture in a DESTDIR
# root, unless EMULATOR= names a wrapper such as cross-build/qemu/run-arm64.sh)
# or init fails, the example configuration is installed instead, saying why.
# Uninstalling keeps the data (/var/lib/splitoculo, /var/cache/splitoculo) and
# the configuration in /etc/splitoculo.
set -euo pipefail
action="${1:-install}"
here="$(cd "$(dirname "$0")" && pwd)"
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/usr}"
# The release tarball holds one binary: its name says which program this is.
default_kind=edge
[ -x "$here/splitoculo-cloud" ] && [ ! -e "$here/splitoculo-edge" ] && default_kind=cloud
kind="${KIND:-$default_kind}"
binary="${BINARY:-$here/splitoculo-$kind}"
unit_src="${UNIT:-$here/splitoculo-$kind.service}"
[ -f "$unit_src" ] || unit_src="$here/../systemd/splitoculo-$kind.service"
config_src="${EXAMPLE_CONFIG:-$here/$kind.example.yaml}"
[ -f "$config_src" ] || config_src="$here/../$([ "$kind" = cloud ] && echo cloud || echo daemon)/config/example.yaml"
bindir="$DESTDIR$PREFIX/bin"
unitdir="$DESTDIR$PREFIX/lib/systemd/system"
confdir="$DESTDIR/etc/splitoculo"

# The edge's configuration from `splitoculo-edge init`, else the example (see above).
init_edge_config() {
  local out="$confdir/edge.yaml" cache said
  local args=(init --out "$out")
  if [ -n "${MQTT_URL:-}" ]; then args+=(--broker "$MQTT_URL"); fi
  if [ -n "${DEVICE_ID:-}" ]; then args+=(--device-id "$DEVICE_ID"); fi
  # The addons the binary extracts at start go to a folder removed after, not into root's home.
  cache="$(mktemp -d)"
  if said="$(SPLITOCULO_CACHE_DIR="$cache" ${EMULATOR:+"$EMULATOR"} "$bindir/splitoculo-edge" "${args[@]}" 2>&1)"; then
    echo "$said"
  else
    install -m 0640 "$config_src" "$out"
    echo "install.sh: splitoculo-edge init did not run here ($(printf '%s' "$said" | tail -n 1)); installed the example configuration: set camera: (splitoculo-edge cameras) and mqtt.url in /etc/splitoculo/edge.yaml" >&2
  fi
  rm -rf "$cache"
}

case "$action" in
  install)
    [ -x "$binary" ] || { echo "install.sh: $binary: no such executable (set BINARY=)" >&2; exit 1; }
    install -D -m 0755 "$binary" "$bindir/splitoculo-$kind"
    install -D -m 0644 "$unit_src" "$unitdir/splitoculo-$kind.service"
    install -d -m 0750 "$confdir"
    install -D -m 0640 "$config_src" "$confdir/$kind.example.yaml"
    # Never overwrite a configuration the operator has written.
    if [ -e "$confdir/$kind.yaml" ]; then echo "kept /etc/splitoculo/$kind.yaml as it is"
    elif [ "$kind" = edge ]; then init_edge_config
    else install -m 0640 "$config_src" "$confdir/$kind.yaml"; fi
    if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi
    echo "installed splitoculo-$kind into ${DESTDIR:-/}; check /etc/splitoculo/$kind.yaml (mqtt.url at least), then: systemctl enable --now splitoculo-$kind"
    if [ "$kind" = edge ]; then echo "the cameras on this machine, each with a camera: setting: splitoculo-edge cameras; the whole setup: splitoculo-edge check -c /etc/splitoculo/edge.yaml"; fi
    ;;
  uninstall)
    if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null 2>&1; then systemctl disable --now "splitoculo-$kind" 2>/dev/null || true; fi
    rm -f "$bindir/splitoculo-$kind" "$unitdir/splitoculo-$kind.service" "$confdir/$kind.example.yaml"
    if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi
    echo "removed splitoculo-$kind; kept /etc/splitoculo/$kind.yaml, /var/lib/splitoculo and /var/cache/splitoculo"
    ;;
  *) echo "usage: install.sh [install|uninstall]" >&2; exit 2 ;;
esac
