#!/bin/sh
# Regenerate every screenshot the README shows, from the bundled scenarios:
#
#     sh screenshots/make.sh
#
# Each line is a plain `stepper export` at the default size (100x30) and theme (with --quiz, the step
# as a quiz question). tests/test_export.py runs this script into a temporary folder and checks that
# the committed SVGs are byte for byte what it writes, so the README never shows a screen the program
# no longer draws.
# Optional: a folder to write into instead of screenshots/; STEPPER="python -m stepper" to run
# stepper without uv.
set -eu
cd "$(dirname "$0")/.."
out="${1:-screenshots}"
stepper="${STEPPER:-uv run stepper}"

rm -f "$out"/*.svg
$stepper export scenarios/rnn_chinese.yaml --out "$out" --steps 11        # h_3 computed, h_1..h_3 unrolled
$stepper export scenarios/lstm_chinese.yaml --out "$out" --steps 22       # c_3 = kept + written, c_1..c_3 unrolled
$stepper export scenarios/conv_edges.yaml --out "$out" --steps 20         # the left edge found, the right edge next
$stepper export scenarios/conv_edges.yaml --out "$out" --steps 13 --quiz  # a quiz question: y[0,2,1] hidden, the products beside it
$stepper export scenarios/conv_dilated.yaml --out "$out" --steps 19       # a dilated window reaching into the padding
$stepper export scenarios/conv1d_text.yaml --out "$out" --steps 3         # a three-word window over the sentence
$stepper export scenarios/conv_transpose_upsample.yaml --out "$out" --steps 4  # x[1,1]'s copy adding to the earlier ones
$stepper export scenarios/pooling.yaml --out "$out" --steps 4             # max and average pooling side by side
$stepper export scenarios/norm_compare.yaml --out "$out" --steps 20       # BatchNorm beside LayerNorm, normalising
$stepper export scenarios/norm_family.yaml --out "$out" --steps 0         # the four norms' first statistics, as in the figure
$stepper export scenarios/dropout_textbook.yaml --out "$out" --steps -1   # the textbook mask, all six coins
$stepper export scenarios/pipeline.yaml --out "$out" --steps 29           # LayerNorm on the RNN's states, per character
