#!/usr/bin/env bash
# Train, evaluate and package the pretrained flow-matching models of one particle in the calogan geometry, the way
# the shipped calogan-eplus / calogan-eplus-distilled / calogan-piplus were made (docs/flowmatching.md, docs/models.md).
# Every step resumes or is skipped when its output exists: run the same command again after an interruption.
#
#   scripts/train_pretrained.sh eplus  out/eplus_train.h5  out/eplus_heldout.h5
#   scripts/train_pretrained.sh gamma  out/gamma_train.h5  out/gamma_heldout.h5
#   scripts/train_pretrained.sh piplus out/piplus_train.h5 out/piplus_heldout.h5
#
# The training file needs >= 50,000 showers (1-100 GeV, uniform); the held-out file holds other showers of the
# same spectrum (e.g. the last 5,000 of the same simulation run, left out of the training file).
#   1. teacher: configs/flowmatch-calogan.yaml for EPOCHS epochs (calibrated by the training loop)  -> RUNS/calogan-<p>
#   2. the teacher sampled with SAMPLING (its voxel cut recalibrated, scripts/calibrate_model.py)  -> RUNS/calogan-<p>/sampled,
#      its evaluation against the held-out sample, packaged as the pretrained model calogan-<p>
#   3. with DISTIL=1: reflow student (configs/flowmatch-calogan-reflow.yaml), the fidelity-vs-steps table, its
#      evaluation, packaged as calogan-<p>-distilled                                            -> RUNS/calogan-<p>-distilled
#   4. with WGAN=1: the factorised WGAN-GP (configs/wgan-layers.yaml, WGAN_EPOCHS epochs), its evaluation,
#      packaged as calogan-<p>-wgan                                                             -> RUNS/calogan-<p>-wgan
# FLOWMATCH=0 skips steps 1-3 (e.g. to add only the WGAN of a particle).
# Packaging writes into DEST (default: the package's pretrained folder, src/caloforge/models/pretrained/ in a
# source checkout), replacing a model of the same name.
#
# Environment: RUNS (default runs), EPOCHS (teacher epochs, default 160 as shipped since 2026-11-24), SAMPLING (the packaged teacher's
# "stage-2 steps,stage-1 steps,time shift" of midpoint steps, default "5,16,1.5" as shipped since 2026-11-24;
# empty: the training config's 8 uniform steps), FLOWMATCH (default 1), DISTIL (default
# 0), STUDENT_EPOCHS (default 12), STEPS_TABLE (default 1; 0 skips the fidelity-vs-steps table of step 3, e.g.
# to package the student first and make the table later with the same command), WGAN (default 0), WGAN_EPOCHS
# (default 200), DEST, THREADS (CPU threads for training, default 1: faster than 2 on a busy machine),
# CALOFORGE (default caloforge), PYTHON (default python), CLASSIFIER (evaluation preset, default "default"),
# CLASSIFIER_REPEATS (classifier runs per input kind whose mean AUC ± standard deviation the card reports, default
# 1), TRAIN_DESC / HELDOUT_DESC (how the model cards describe the two samples, e.g. the simulation command;
# default: the file names), SPEED_NOTE (appended to the card's speed note, e.g. "busy machine").
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
EPOCHS=${EPOCHS:-160}
SAMPLING=${SAMPLING-5,16,1.5}
FLOWMATCH=${FLOWMATCH:-1}
DISTIL=${DISTIL:-0}
WGAN=${WGAN:-0}
WGAN_EPOCHS=${WGAN_EPOCHS:-200}
STUDENT_EPOCHS=${STUDENT_EPOCHS:-12}
STEPS_TABLE=${STEPS_TABLE:-1}
DEST=${DEST:-}
THREADS=${THREADS:-1}
CALOFORGE=${CALOFORGE:-caloforge}
PYTHON=${PYTHON:-python}
CLASSIFIER=${CLASSIFIER:-default}
CLASSIFIER_REPEATS=${CLASSIFIER_REPEATS:-1}
TRAIN_DESC=${TRAIN_DESC:-$train}
HELDOUT_DESC=${HELDOUT_DESC:-$heldout}
SPEED_NOTE=${SPEED_NOTE:-}
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$here" = "$PWD" ] && here=.  # run from the checkout: the cards record relative config paths
name=calogan-$key
teacher=$RUNS/$name
student=$RUNS/$name-distilled
wgan=$RUNS/$name-wgan
mkdir -p "$RUNS"

train_run() {  # train_run CONFIG OUT [EXTRA ARGS]: start the run, or continue it if it has a checkpoint
    local config=$1 out=$2
    shift 2
    if [ -f "$out/last/model.safetensors" ]; then
        echo "== $out: finished, kept"
    elif [ -f "$out/checkpoint.pt" ]; then
        "$CALOFORGE" train --data "$train" --config "$config" --out "$out" --threads "$THREADS" --resume "$@"
    else
        "$CALOFORGE" train --data "$train" --config "$config" --out "$out" --threads "$THREADS" "$@"
    fi
}

time_ms() {  # time_ms MODEL: ms per shower, FastSim on one thread, batch 10,000 at 50 GeV, best of 3
    "$PYTHON" - "$1" <<'EOF'
import sys, time
import numpy as np
from caloforge.inference import FastSim
sim = FastSim.load(sys.argv[1], threads=1)
e = np.full(10_000, 50_000.0)
sim.sample(e[:1_000], seed=0)
best = float("inf")
for r in range(3):
    t0 = time.perf_counter()
    sim.sample(e, seed=1 + r)
    best = min(best, time.perf_counter() - t0)
print(f"{1e3 * best / len(e):.4f}")
EOF
}

evaluate_and_package() {  # evaluate_and_package RUN PRETRAINED-NAME SUMMARY
    local run=$1 pretrained=$2 summary=$3 n ms
    n=$("$PYTHON" -c "import sys; from caloforge.io import count; print(count(sys.argv[1]))" "$heldout")
    ms=$(time_ms "$run")
    echo "== $pretrained: $ms ms/shower (1 thread, batch 10,000, 50 GeV); generating $n showers"
    [ -f "$run/gen.h5" ] || "$CALOFORGE" generate --model "$run" --n "$n" --energy 1:100 --particle "$particle" \
        --seed 2 --threads 1 -q -o "$run/gen.h5"
    [ -f "$run/report/metrics.json" ] || "$CALOFORGE" evaluate --reference "$heldout" --generated "$run/gen.h5" \
        --label "$pretrained" --train "$train" --classifier-preset "$CLASSIFIER" \
        --classifier-repeats "$CLASSIFIER_REPEATS" --timing "$ms" --seed 1 \
        -o "$run/report" --classifier-threads 1 -q
    "$PYTHON" - "$run/card-extra.json" "$summary" "$train" "$heldout" "$ms" "$TRAIN_DESC" "$HELDOUT_DESC" \
        "$SPEED_NOTE" <<'EOF'
import json, sys
out, summary, train, heldout, ms, train_desc, heldout_desc, speed_note = sys.argv[1:]
from caloforge.io import count
note = "FastSim torch backend, wall clock, best of 3" + (f", {speed_note}" if speed_note else "")
json.dump({
    "summary": summary,
    "training_sample": {"description": train_desc, "n_showers": count(train)},
    "heldout_sample": {"description": heldout_desc, "n_showers": count(heldout)},
    "speed": {"ms_per_shower": float(ms), "batch": 10000, "threads": 1, "energy_GeV": 50, "note": note},
}, open(out, "w"), indent=2)
EOF
    "$CALOFORGE" models package "$run" --name "$pretrained" --metrics "$run/report/metrics.json" \
        --card "$run/card-extra.json" --overwrite ${DEST:+--dest "$DEST"}
}

if [ "$FLOWMATCH" = "1" ]; then
    echo "== 1. teacher: conditional flow matching, $EPOCHS epochs ($teacher)"
    train_run "$here/configs/flowmatch-calogan.yaml" "$teacher" --epochs "$EPOCHS"
    echo "== 2. evaluate and package $name"
    if [ -n "$SAMPLING" ]; then
        IFS=, read -r s_steps s_energy s_shift <<< "$SAMPLING"
        [ -f "$teacher/sampled/model.safetensors" ] || "$PYTHON" "$here/scripts/calibrate_model.py" "$teacher" \
            --steps "$s_steps" --energy-steps "$s_energy" --solver midpoint --time-shift "$s_shift" --out "$teacher/sampled"
        evaluate_and_package "$teacher/sampled" "$name" \
            "two-stage conditional flow matching ($s_steps midpoint steps of stage 2 on a time grid shifted by $s_shift, $s_energy of stage 1), $particle 1-100 GeV, calogan geometry"
    else
        evaluate_and_package "$teacher" "$name" \
            "two-stage conditional flow matching (8 midpoint steps per stage), $particle 1-100 GeV, calogan geometry"
    fi

    if [ "$DISTIL" = "1" ]; then
        echo "== 3. student: reflow distillation to 2 midpoint steps ($student)"
        sed "s|^  teacher: .*|  teacher: $teacher/best|" "$here/configs/flowmatch-calogan-reflow.yaml" > "$RUNS/$name-reflow.yaml"
        train_run "$RUNS/$name-reflow.yaml" "$student" --epochs "$STUDENT_EPOCHS"
        if [ "$STEPS_TABLE" = "1" ] && [ ! -f "$student/steps.json" ]; then
            "$PYTHON" "$here/scripts/flowmatch_steps.py" --model "$teacher" --reference "$heldout" --train "$train" \
                --steps 1,2,4,8,16,32 --distilled "$student" --classifier-preset "$CLASSIFIER" --threads 2 \
                --json "$student/steps.json" > "$student/steps.md"
        fi
        evaluate_and_package "$student" "$name-distilled" \
            "two-stage conditional flow matching, reflow-distilled to 2 midpoint steps (4 evaluations per stage), $particle 1-100 GeV, calogan geometry"
    fi
fi
if [ "$WGAN" = "1" ]; then
    echo "== 4. factorised WGAN-GP, $WGAN_EPOCHS epochs ($wgan)"
    train_run "$here/configs/wgan-layers.yaml" "$wgan" --epochs "$WGAN_EPOCHS"
    evaluate_and_package "$wgan" "$name-wgan" \
        "WGAN-GP with energy and high-level critics (per-layer shares x layer energies, calibrated voxel cuts), $particle 1-100 GeV, calogan geometry"
fi
echo "== done: $name (FLOWMATCH=$FLOWMATCH DISTIL=$DISTIL WGAN=$WGAN)"
