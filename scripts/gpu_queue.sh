#!/bin/bash
# A queue of benchmark training runs side by side on one GPU, for a lent device machine (one call).
#   Prepare here: echo /.whl/ >> .git/info/exclude; python -m pip download --no-deps --only-binary=:all: \
#     --python-version 3.12 --implementation cp --platform manylinux2014_x86_64 -d .whl webdataset==1.0.2 braceexpand
#   Run there (carry .whl):  NW=12 HARD=535 bash scripts/gpu_queue.sh      # returns $OUT/parts.tgz
#   Then here: tar xzf parts.tgz; python -m benchmarks combine CONFIG parts/w*-CONFIG/CONFIG.cuda.json --device cuda
# Jobs: the ablations arms in ABL_ARMS (default: the latents arms) and fusions entailment arms in ENTAIL_ARMS, x seeds;
# other configs: edit the two loops below ("CONFIG TASK SEED ARM" lines). Each worker claims a job with mkdir and skips
# a new one when the mean run time no longer fits before HARD seconds; CUDA MPS is tried first (off again if
# CUDA fails under it); $OUT/parts.tgz is refreshed every 15 s, so a cut-off call still returns what finished.
# On a CPU, for a dry run: OUT=/tmp/o NW=2 HARD=60 PY=.venv/bin/python DEV=cpu EXTRA="--set budget_samples=32 ..."
set -u
cd "$(dirname "$0")/.."
T0=$(date +%s); NW=${NW:-12}; HARD=${HARD:-570}; PY=${PY:-python3}; DEV=${DEV:-cuda}; EXTRA=${EXTRA:-}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD/src:$PWD:/tmp/site PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
W=/tmp/w; mkdir -p $W/claims $W/parts $W/logs; : > $W/durations
LOG=$W/log; el() { echo $(( $(date +%s) - T0 )); }
echo "start $(date -u +%FT%TZ) nw=$NW hard=$HARD git=$(git rev-parse HEAD 2>/dev/null)" > $LOG
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >> $LOG
if [ "${MPS:-1}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null; then
  # MPS lets the processes' small kernels run side by side instead of time-sliced; off again if CUDA then fails.
  nvidia-cuda-mps-control -d >> $LOG 2>&1 && echo "mps daemon started" >> $LOG
  if ! timeout 40 python3 -c "import torch; torch.ones(4, device='cuda').sum().item()" >> $LOG 2>&1; then
    echo "mps: CUDA failed under MPS, stopping it" >> $LOG; echo quit | timeout 10 nvidia-cuda-mps-control; sleep 2
  fi
fi
python3 -c "import torch;print('torch',torch.__version__,torch.cuda.get_device_name())" >> $LOG 2>&1
: > $W/jobs.txt
for s in 0 1 2; do for a in ${ABL_ARMS:-latents num_tokens=8 num_tokens=32 num_tokens=64 resampling=spatial}; do
  echo "ablations vqa $s $a" >> $W/jobs.txt; done; done
for s in 1 2; do for a in ${ENTAIL_ARMS:-}; do echo "fusions entailment $s $a" >> $W/jobs.txt; done; done
pack() { tar czf $OUT/parts.tgz.tmp -C $W parts log logs durations 2>/dev/null && mv -f $OUT/parts.tgz.tmp $OUT/parts.tgz; }
worker() {
  local id=$1 cfg task seed arm key t1 rc avg n
  while read -r cfg task seed arm; do
    key="$cfg-$task-$seed-$arm"
    n=$(wc -l < $W/durations)
    if (( n > 0 )); then avg=$(awk '{s+=$1} END {printf "%d", s/NR}' $W/durations); else avg=0; fi
    if (( $(el) + avg * 11 / 10 > HARD - 5 )); then echo "$(el)s w$id stops (avg run ${avg}s)" >> $LOG; break; fi
    mkdir $W/claims/$key 2>/dev/null || continue
    t1=$(date +%s); echo "$(el)s w$id start $key" >> $LOG
    $PY -m benchmarks run $cfg --tasks $task --arms "$arm" --device $DEV $EXTRA --set seeds=1 --set first_seed=$seed --set threads=1 \
      --merge --out $W/parts/w$id-$cfg > "$W/logs/$key.log" 2>&1; rc=$?
    echo $(( $(date +%s) - t1 )) >> $W/durations
    echo "$(el)s w$id done $key rc=$rc $(( $(date +%s) - t1 ))s: $(grep -h '^\[' "$W/logs/$key.log" | tail -1)" >> $LOG
  done < $W/jobs.txt
}
for i in $(seq 1 $NW); do worker $i & sleep 1; done
while (( $(el) < HARD )); do
  sleep 15
  echo "$(el)s load $(cut -d' ' -f1-3 /proc/loadavg) gpu $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)" >> $LOG
  pack
  if ! jobs -r | grep -q .; then break; fi
done
echo "$(el)s end" >> $LOG; pkill -f "benchmarks run" ; sleep 1; pack; echo quit | timeout 5 nvidia-cuda-mps-control 2>/dev/null; cat $LOG
