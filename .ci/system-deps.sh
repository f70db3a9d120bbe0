#!/usr/bin/env bash
# Installs the system packages hwgen needs (Debian/Ubuntu), idempotently. As root it runs apt-get;
# otherwise it names the command to run and fails.
set -euo pipefail
need=()
command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
command -v berkeley-abc >/dev/null 2>&1 || need+=(berkeley-abc)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v tclsh >/dev/null 2>&1 || need+=(tcl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "hwgen needs system packages: ${need[*]}" >&2
  echo "run as root: apt-get update && apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
