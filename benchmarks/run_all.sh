#!/usr/bin/env bash
# Runs the benchmark configurations named in the issues; one JSON object per line on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
FEDSEAL=${FEDSEAL:-.venv/bin/fedseal}
$FEDSEAL bench secagg --clients 100 --dim 1000000 --dropout 0.1 --graph sparse --json
$FEDSEAL bench secagg --clients 100 --dim 100000 --dropout 0.1 --graph full --json
$FEDSEAL bench secagg --clients 500 --dim 100000 --dropout 0.1 --graph sparse --json
$FEDSEAL bench audit --json
$FEDSEAL bench grpc --silos 10 --dim 1000000 --rounds 3 --json
$FEDSEAL bench dp --json
$FEDSEAL bench paillier --clients 10 --dim 100000 --json
