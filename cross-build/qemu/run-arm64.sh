#!/usr/bin/env bash
# Runs an aarch64 binary on this x86_64 machine under qemu-user.
# onnxruntime (through the cpuinfo library) parses /proc/cpuinfo and crashes on
# the host's x86 one, so a private mount namespace shows it a Cortex-A76's
# (the Rock 5B's big cores). Startup takes seconds under emulation: time nothing here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec unshare --mount --propagation private -- bash -c '
  mount --bind "$1" /proc/cpuinfo
  shift
  export QEMU_CPU=cortex-a76 QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
  exec qemu-aarch64-static "$@"
' run-arm64 "$here/cpuinfo-cortex-a76" "$@"
