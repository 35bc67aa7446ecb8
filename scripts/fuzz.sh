#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of SwiftCap's parsers and decoders.
# Builds Fuzz/ (Swift code built with -sanitize=fuzzer,address, C shims with fuzzer-no-link,address),
# seeds each harness's corpus from the committed fixtures, runs each for SECONDS, and prints a table
# (harness, seconds, executions, corpus size, findings, result). A harness fails on any finding or when libFuzzer
# exits non-zero; the script then exits 1. Crash inputs land in .fuzz/crashes/<harness>/.
# Usage: scripts/fuzz.sh [SECONDS=30] [HARNESS ...]   (default: every harness)
# scripts/test.sh runs it with 30 s per harness when CI is set (or SWIFTCAP_FUZZ_SECONDS=N), one test per harness.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
secs="${1:-30}"; shift || true
all=(jpeg png safetensors gguf pickle torch onnx zip gzip gpt2-tokenizer clip-tokenizer wordpiece json-config xmp csv journal http)
targets=("${@:-${all[@]}}")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
# SWIFTCAP_FUZZ_DIR: where corpora, crashes and logs go (default .fuzz; separate folders let runs overlap).
work="${SWIFTCAP_FUZZ_DIR:-$repo/.fuzz}"
mkdir -p "$work"
# SWIFTCAP_FUZZ_BIN: a binary built earlier (so several runs can share one build without rebuilding at once).
bin="${SWIFTCAP_FUZZ_BIN:-$work/build/release/SwiftCapFuzz}"
if [ -z "${SWIFTCAP_FUZZ_BIN:-}" ]; then
    swift build -c release --package-path Fuzz --scratch-path "$work/build" \
        -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address >"$work/build.log" 2>&1 \
        || { tail -30 "$work/build.log"; exit 1; }
fi
seed() {  # harness -> files into its corpus
    local c="$work/corpus/$1"; mkdir -p "$c"
    case "$1" in
        jpeg) cp fixtures/image/decode/*.jpg "$c"/ 2>/dev/null || true ;;
        png) cp fixtures/image/decode/*.png "$c"/ 2>/dev/null || true ;;
        safetensors) cp fixtures/formats/tiny.safetensors "$c"/ ;;
        gguf) cp fixtures/formats/tiny.gguf "$c"/ ;;
        onnx) cp fixtures/formats/tiny.onnx "$c"/ ;;
        torch|zip) cp fixtures/formats/tiny_zip.pt fixtures/formats/tiny_zip_p4.pt fixtures/formats/tiny_legacy.pt "$c"/ ;;
        pickle) cp fixtures/formats/tiny_legacy.pt "$c"/
                python3 -c "import zipfile,sys; z=zipfile.ZipFile('fixtures/formats/tiny_zip.pt'); n=[x for x in z.namelist() if x.endswith('data.pkl')][0]; open(sys.argv[1],'wb').write(z.read(n))" "$c/data.pkl" ;;
        gzip) printf 'a man riding a wave on top of a surfboard\n%.0s' {1..20} | gzip -c > "$c/captions.gz" ;;
        gpt2-tokenizer|clip-tokenizer|wordpiece) printf 'A dog sleeping on a rack of shoes.' > "$c/a.txt"; printf '<|endoftext|> Ünïcödé 日本語 😀 123' > "$c/b.txt" ;;
        json-config) for f in fixtures/captioners/*/config.json configs/*.json; do cp "$f" "$c/$(echo "$f" | tr / _)"; done ;;
        xmp) printf '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"><dc:subject><rdf:Bag><rdf:li>holiday</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>\n' > "$c/a.xmp" ;;
        csv) printf 'path,size,mtime_ns,caption,keywords,error\r\n/a.jpg,1,2,"a ""dog"", running",dog; run,\r\n' > "$c/a.csv" ;;
        http) cp Fuzz/seeds/http/* "$c"/ ;;
        journal) printf '{"path":"/a.jpg","size":1,"mtime_ns":2,"caption":"a dog","keywords":["dog"]}\n' > "$c/a.jsonl" ;;
    esac
}
echo "| harness | seconds | executions | exec/s | CPU s (share) | corpus files | findings | result |"
echo "|---|---|---|---|---|---|---|---|"
timer=(); [ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%e %U %S" -o "$work/.time")
status=0
for t in "${targets[@]}"; do
    seed "$t"
    # Crash inputs of earlier runs join the corpus (so a fixed finding is re-checked) and are cleared.
    mkdir -p "$work/crashes/$t"
    find "$work/crashes/$t" -type f -exec mv -f {} "$work/corpus/$t/" \;
    log="$work/$t.log"
    set +e
    rm -f "$work/.time.$t"
    [ ${#timer[@]} -gt 0 ] && timer[4]="$work/.time.$t"
    SWIFTCAP_FUZZ_TARGET="$t" SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1" "${timer[@]}" "$bin" "$work/corpus/$t" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$work/crashes/$t/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    findings=$(ls "$work/crashes/$t" | wc -l)
    # CPU seconds the fuzzer got, and their share of its wall time (the machine is shared).
    cpu="?"
    if [ -s "$work/.time.$t" ]; then
        cpu=$(tail -1 "$work/.time.$t" | awk '{ c = $2 + $3; printf "%.0f (%.0f%%)", c, ($1 > 0 ? 100 * c / $1 : 0) }')
    fi
    result=ok
    if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
        status=1; result=FAILED
        { grep -E "ERROR|SUMMARY|Fatal|Precondition" "$log" || true; } | head -5 >&2
    fi
    echo "| $t | $secs | ${runs:-?} | ${rate:-?} | $cpu | $(ls "$work/corpus/$t" | wc -l) | $findings | $result |"
done
exit "$status"
