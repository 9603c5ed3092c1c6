#!/usr/bin/env bash
# Train, distil, generate, evaluate and package a pretrained flow-matching model for the calogan geometry
# (docs/flowmatching.md, "Pretrained defaults"). One particle per call; every step resumes or is skipped when
# its output exists, so an interrupted run is continued by running the same command again.
#
#   scripts/train_pretrained.sh eplus  out/calogan_eplus_train.h5  out/calogan_eplus_heldout.h5
#   scripts/train_pretrained.sh gamma  out/calogan_gamma_train.h5  out/calogan_gamma_heldout.h5
#   scripts/train_pretrained.sh piplus out/calogan_piplus_train.h5 out/calogan_piplus_heldout.h5
#
# The training file needs >= 50,000 showers (1-100 GeV, uniform), the held-out file is a separate simulation
# (not a part of the training file) of the same spectrum. Produces runs/flowmatch-calogan-<particle>-teacher/,
# runs/flowmatch-calogan-<particle>/ (the distilled model: gen.h5, steps.md, report/) and packages the distilled
# model as the pretrained model flowmatch-calogan-<particle>.
#
# Environment: RUNS (default runs), THREADS (CPU threads for training, default 2; use 1 on a busy machine),
# CALOFORGE (default: caloforge), PYTHON (default: python), CLASSIFIER (evaluation preset, default "default").
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 eplus|gamma|piplus TRAIN.h5 HELDOUT.h5" >&2
    exit 2
fi
key=$1
train=$2
heldout=$3
case "$key" in
    eplus) particle=e+ ;;
    gamma) particle=gamma ;;
    piplus) particle=pi+ ;;
    *) echo "error: particle must be eplus, gamma or piplus, got '$key'" >&2; exit 2 ;;
esac
for f in "$train" "$heldout"; do
    [ -f "$f" ] || { echo "error: file '$f' does not exist" >&2; exit 1; }
done

RUNS=${RUNS:-runs}
THREADS=${THREADS:-2}
CALOFORGE=${CALOFORGE:-caloforge}
PYTHON=${PYTHON:-python}
CLASSIFIER=${CLASSIFIER:-default}
here=$(cd "$(dirname "$0")/.." && pwd)
name=flowmatch-calogan-$key
teacher=$RUNS/$name-teacher
student=$RUNS/$name
mkdir -p "$RUNS"

train_run() {  # train_run CONFIG OUT: start the run, or continue it if it has a checkpoint
    local config=$1 out=$2
    if [ -f "$out/last/model.safetensors" ]; then
        echo "== $out: finished, kept"
    elif [ -f "$out/checkpoint.pt" ]; then
        "$CALOFORGE" train --data "$train" --config "$config" --out "$out" --threads "$THREADS" --resume
    else
        "$CALOFORGE" train --data "$train" --config "$config" --out "$out" --threads "$THREADS"
    fi
}

echo "== 1. teacher: conditional flow matching ($teacher)"
train_run "$here/configs/flowmatch-calogan.yaml" "$teacher"

echo "== 2. student: reflow distillation to 2 midpoint steps ($student)"
mkdir -p "$student"
sed "s|^  teacher: .*|  teacher: $teacher|" "$here/configs/flowmatch-calogan-reflow.yaml" > "$RUNS/$name-reflow.yaml"
train_run "$RUNS/$name-reflow.yaml" "$student"

n_heldout=$("$PYTHON" -c "import sys; from caloforge.io import count; print(count(sys.argv[1]))" "$heldout")

echo "== 3. fidelity and time per shower vs steps (teacher 1-32 steps, distilled model)"
if [ ! -f "$student/steps.json" ]; then
    "$PYTHON" "$here/scripts/flowmatch_steps.py" --model "$teacher" --reference "$heldout" \
        --steps 1,2,4,8,16,32 --distilled "$student" --classifier-preset "$CLASSIFIER" --threads 2 \
        --json "$student/steps.json" > "$student/steps.md"
fi
ms=$("$PYTHON" -c "import json, sys; print(json.load(open(sys.argv[1]))[-1]['ms_per_shower'])" "$student/steps.json")

echo "== 4. generate $n_heldout showers with the distilled model"
if [ ! -f "$student/gen.h5" ]; then
    "$CALOFORGE" generate --model "$student" --n "$n_heldout" --energy 1:100 --particle "$particle" --seed 2 \
        --threads 2 -o "$student/gen.h5"
fi

echo "== 5. evaluate against the held-out sample"
if [ ! -f "$student/report/metrics.json" ]; then
    "$CALOFORGE" evaluate --reference "$heldout" --generated "$student/gen.h5" --label "$name" --train "$train" \
        --classifier-preset "$CLASSIFIER" --timing "$ms" -o "$student/report"
fi

echo "== 6. package as $name"
"$PYTHON" - "$student/card-extra.json" "$name" "$particle" "$teacher" "$ms" "$train" <<'EOF'
import json, sys
out, name, particle, teacher, ms, train = sys.argv[1:]
steps = json.load(open(out.rsplit("/", 1)[0] + "/steps.json"))
json.dump({
    "summary": f"two-stage conditional flow matching, reflow-distilled to 2 midpoint steps; {particle} 1-100 GeV, calogan geometry",
    "distillation": {"method": "reflow (arXiv:2209.03003)", "teacher": teacher, "teacher_sampling": "8 midpoint steps"},
    "speed": {"ms_per_shower": float(ms), "batch": 10000, "threads": 2, "note": "FastSim torch backend, wall clock"},
    "fidelity_vs_steps": steps,
    "training_sample": train,
}, open(out, "w"), indent=2)
EOF
"$CALOFORGE" models package "$student" --name "$name" --metrics "$student/report/metrics.json" \
    --card "$student/card-extra.json" --overwrite
