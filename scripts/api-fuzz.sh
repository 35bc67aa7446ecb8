#!/usr/bin/env bash
# Schemathesis (PyPI) against `swiftcap serve`'s own OpenAPI document on 127.0.0.1: every check except
# positive_data_acceptance (the document can say "a JPEG or PNG" but no schema can say "one that decodes", so
# random schema-valid bytes are rightly answered 400/422). Passes only with zero server errors (5xx) and every
# response matching the document. Bounded: --max-examples per operation, 5 minutes at most.
#
#   scripts/api-fuzz.sh [--max-examples 200] [--port 18092]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
examples=200 port=18092
while [ $# -gt 0 ]; do
    case "$1" in
        --max-examples) examples="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        *) echo "api-fuzz: unknown argument $1" >&2; exit 2 ;;
    esac
done
venv="${SWIFTCAP_VENV:-$HOME/.cache/swiftcap/venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import schemathesis" 2>/dev/null || "$venv/bin/pip" install -q "schemathesis==4.32.5"
bin=.build/release/swiftcap
[ -x "$bin" ] || swift build -c release
log="$(mktemp)"
"$bin" serve --port "$port" --workers 2 --queue 64 >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)" = 200 ] && break
    sleep 0.1
done
ready_lines=$(wc -l <"$log")   # the /readyz 503s while the model loads are not the fuzzer's
set +e
(cd "$(mktemp -d)" && timeout 300 "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.yaml" --url "http://127.0.0.1:$port" \
    --checks all --exclude-checks positive_data_acceptance --max-examples "$examples")
rc=$?
set -e
echo "server answers to the fuzzer by status:"
tail -n +"$((ready_lines + 1))" "$log" | grep -o 'status=[0-9]*' | sort | uniq -c
if tail -n +"$((ready_lines + 1))" "$log" | grep -q 'status=5'; then echo "api-fuzz: the server answered 5xx" >&2; rc=1; fi
exit "$rc"
