# Sourced by scripts/validate.sh and scripts/repeatability.sh, from the repository root: the
# validation's model and settings, and one real run with them, so that both scripts measure
# exactly the same runs. Environment: MODEL (shufflenet_v2_x0_5), DEVICE (cpu), METER
# (modelled:idle=10W,busy=30W), THREADS (1), BUILD (build), PIN (a CPU list for taskset), PYTHON.
model="${MODEL:-shufflenet_v2_x0_5}"
device="${DEVICE:-cpu}"
meter="${METER:-modelled:idle=10W,busy=30W}"
threads="${THREADS:-1}"
gb="./${BUILD:-build}/greenbatch"
pin=()
[ -z "${PIN:-}" ] || pin=(taskset -c "$PIN")
[ -f "models/$model.pt" ] || "${PYTHON:-/usr/bin/python3}" scripts/export_models.py "$model"

# real_run RATE POLICY SEED REQUESTS OUT: one run of the model for real, jittered arrivals (F = 0.2).
real_run() {
  "${pin[@]}" "$gb" run --model "$model" --device "$device" --threads "$threads" --meter "$meter" --rate "$1" \
    --arrivals jitter:0.2 --policy "$2" --seed "$3" --requests "$4" --warmup-batches 16 --warmup-batch-size 8 \
    --out "$5" >/dev/null
}
