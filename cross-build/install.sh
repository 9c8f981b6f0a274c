#!/usr/bin/env bash
# Installs or removes a SplitOculo binary with its systemd unit and an example
# configuration. Run from the unpacked release tarball (or the repository with
# BINARY=dist/splitoculo-edge-linux-arm64).
#   sudo ./install.sh [install|uninstall]      DESTDIR=/tmp/root PREFIX=/usr ./install.sh
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

case "$action" in
  install)
    [ -x "$binary" ] || { echo "install.sh: $binary: no such executable (set BINARY=)" >&2; exit 1; }
    install -D -m 0755 "$binary" "$bindir/splitoculo-$kind"
    install -D -m 0644 "$unit_src" "$unitdir/splitoculo-$kind.service"
    install -d -m 0750 "$confdir"
    install -D -m 0640 "$config_src" "$confdir/$kind.example.yaml"
    # Never overwrite a configuration the operator has written.
    [ -e "$confdir/$kind.yaml" ] || install -m 0640 "$config_src" "$confdir/$kind.yaml"
    if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi
    echo "installed splitoculo-$kind into ${DESTDIR:-/}; edit /etc/splitoculo/$kind.yaml (mqtt.url at least), then: systemctl enable --now splitoculo-$kind"
    # The example's camera is a UVC webcam's MJPEG on /dev/video0: say which cameras this board has.
    if [ "$kind" = edge ]; then echo "cameras on this machine (camera: lines for edge.yaml): splitoculo-edge cameras"; fi
    ;;
  uninstall)
    if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null 2>&1; then systemctl disable --now "splitoculo-$kind" 2>/dev/null || true; fi
    rm -f "$bindir/splitoculo-$kind" "$unitdir/splitoculo-$kind.service" "$confdir/$kind.example.yaml"
    if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi
    echo "removed splitoculo-$kind; kept /etc/splitoculo/$kind.yaml, /var/lib/splitoculo and /var/cache/splitoculo"
    ;;
  *) echo "usage: install.sh [install|uninstall]" >&2; exit 2 ;;
esac
