# Shared by the benchmark scripts (sourced): the machine's description and the checks they share.

# "# DATE, CPU, N cores" for a measurement's header.
bench_machine_line() {
  echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
}

# "# BLAS in effect: libblas.so.3 -> FILE (Debian package P)": LibTorch's CPU speed depends on it.
bench_blas_line() {
  local file
  file=$(readlink -f "$(ldconfig -p | awk '/libblas\.so\.3 .*x86-64/ {print $NF; exit}')" 2>/dev/null || true)
  if [ -n "$file" ]; then
    echo "# BLAS in effect: libblas.so.3 -> $(basename "$file") (Debian package $(dpkg -S "$file" 2>/dev/null | cut -d: -f1 || echo unknown))"
  else
    echo "# BLAS in effect: unknown"
  fi
}

# Exits with a hint when BUILD/greenbatch is missing.
bench_require_greenbatch() {
  [ -x "$1/greenbatch" ] || { echo "no $1/greenbatch: build greenbatch first (bash scripts/build.sh)" >&2; exit 2; }
}

# Exports models/NAME.pt when it is missing (PYTHON: Debian's /usr/bin/python3 with torchvision).
bench_ensure_model() {
  [ -f "models/$1.pt" ] || "${PYTHON:-/usr/bin/python3}" scripts/export_models.py "$1" >&2
}

# Stops a server started in the background: SIGTERM, up to 10 s, then SIGKILL.
bench_stop_process() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# Waits until FILE holds a line matching "ready" (at most SECONDS), then prints the port from its
# "listening on http://127.0.0.1:PORT/" line; fails with the file's text otherwise.
bench_server_port() {
  local file=$1 seconds=${2:-60} port=""
  for _ in $(seq $((seconds * 10))); do grep -q "ready" "$file" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$file")
  grep -q "ready" "$file" && [ -n "$port" ] || { cat "$file" >&2; return 1; }
  echo "$port"
}
