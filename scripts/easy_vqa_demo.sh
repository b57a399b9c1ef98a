#!/usr/bin/env bash
# The main job on the embedded default data set (easy-VQA), end to end on a CPU:
# finetune a teacher, distil a student a quarter of its size from it, export the student to every
# phone format with int8 quantization (each bundle parity-checked), then benchmark the bundles
# (latency, memory, size, official VizWiz accuracy) and write a report.
#
#   scripts/easy_vqa_demo.sh            (make demo runs it inside .venv)
#   EPOCHS=1 TRAIN_QUESTIONS=8000 OUT=runs/quick scripts/easy_vqa_demo.sh   (a smoke run, weak model)
set -euo pipefail

PY=${PY:-python}
OUT=${OUT:-runs/demo}
EPOCHS=${EPOCHS:-3}
TRAIN_QUESTIONS=${TRAIN_QUESTIONS:-34770}  # all of easy-VQA's training questions
LIMIT=${LIMIT:-1000}
COMMON=(--data easy-vqa --epochs "$EPOCHS" --batch-size 32 --text-len 22 --no-augment --overwrite
        --limit-train "$TRAIN_QUESTIONS" --limit-val 500 --no-progress
        --balance answer-type --head-lr-mult 1 --drop-path 0 --weight-decay 0.05 --warmup-steps 100
        --clip-grad 1.0)

echo "== 1/4 teacher: beit3_easyvqa_teacher, $EPOCHS epochs over $TRAIN_QUESTIONS questions"
$PY -m train finetune --arch beit3_easyvqa_teacher --lr 3e-4 --out "$OUT/teacher" "${COMMON[@]}"

echo "== 2/4 student: beit3_easyvqa_student distilled from the teacher"
$PY -m train distill --teacher "$OUT/teacher/best.pth" --arch beit3_easyvqa_student --lr 5e-4 \
    --out "$OUT/student" "${COMMON[@]}"

echo "== 3/4 export: every format, int8"
# Parity on real easy-VQA questions: the student has never seen the generic synthetic inputs'
# words, and on such inputs its near-tied logits flip under int8 for reasons users never meet.
$PY -m export "$OUT/student/best.pth" --format all --int8 --out "$OUT/bundles" --overwrite \
    --data easy-vqa --data-split val --parity-inputs 200

echo "== 4/4 benchmark: $LIMIT easy-VQA test questions through every runtime"
$PY -m benchmark run "$OUT"/bundles/*/ --checkpoint "$OUT/student/best.pth" --data easy-vqa \
    --split test --limit "$LIMIT" --runs 20 --warmup 3 --out "$OUT/results.jsonl" --report "$OUT/report"

echo "report: $OUT/report/report.md"
