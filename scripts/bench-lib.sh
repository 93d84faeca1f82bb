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

# tune's best fixed, greedy or timeout policy (the target's adaptive and aimd are candidates too:
# skipped) from BUILD/greenbatch, PROFILE, LOAD and TARGET; extra arguments go to tune. Empty when
# no policy meets the target.
bench_best_static() {
  local exe="$1/greenbatch" profile="$2" load="$3" target="$4" table
  shift 4
  table=$("$exe" tune --profile "$profile" --arrivals "$load" --slo "$target" --top 100000 "$@" || true)
  awk 'NR > 2 && $1 ~ /^(fixed|greedy|timeout):/ {print $1; exit}' <<<"$table"
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

# Makes a scratch folder, $work, and an exit trap for every exit path of the script: it stops
# the server in $bench_server_pid (when one runs) and removes the folder.
bench_setup_work() {
  work=$(mktemp -d)
  bench_server_pid=""
  trap 'bench_stop_process "$bench_server_pid"; rm -rf "$work"' EXIT
}

# Starts BUILD/greenbatch serve on 127.0.0.1 and a free port in the background, its output in
# LOG, with the other arguments as given (the model, --meter, --out...). Sets bench_server_pid at
# once (for the caller's exit trap: bench_stop_process "$bench_server_pid") and bench_port once
# the server is ready (at most SECONDS, default 30; fails otherwise).
#   bench_start_serve BUILD LOG SECONDS ARGS...
bench_start_serve() {
  local build=$1 log=$2 seconds=$3
  shift 3
  "$build/greenbatch" serve --host 127.0.0.1 --port 0 "$@" >"$log" 2>&1 &
  bench_server_pid=$!
  bench_port=$(bench_server_port "$log" "$seconds")
}
