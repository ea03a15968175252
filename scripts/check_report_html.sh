#!/bin/sh
# Render fedseal audit reports in a real headless browser and check what it parsed.
#
# Usage: scripts/check_report_html.sh REPORT.html [MORE.html ...]
#   e.g. fedseal audit report --deployment DIR --out out --compliance
#        scripts/check_report_html.sh out/index.html out/compliance.html
#
# Uses the first of chromium, chromium-browser, google-chrome on PATH (or $BROWSER); on Debian:
# `apt-get install chromium`. For each file, the browser's DOM (--dump-dom) must hold the
# closing </html>, no <script> element and no on* event-handler attribute (log content is
# attacker-influenced: it must arrive escaped); a compliance pack must also hold its sections.
# Exit status: 0 all good, 1 a check failed, 2 no browser or bad usage.
set -eu

[ "$#" -ge 1 ] || { echo "usage: $0 REPORT.html [...]" >&2; exit 2; }
browser="${BROWSER:-}"
if [ -z "$browser" ]; then
    for name in chromium chromium-browser google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then browser="$name"; break; fi
    done
fi
[ -n "$browser" ] || { echo "no headless browser found (chromium, chromium-browser, google-chrome)" >&2; exit 2; }

status=0
for file in "$@"; do
    dom="$(mktemp)"
    # --no-sandbox: root in a container has no user namespace for the sandbox.
    "$browser" --headless --no-sandbox --disable-gpu --dump-dom "file://$(realpath "$file")" \
        >"$dom" 2>/dev/null || { echo "FAIL $file: the browser could not render it"; status=1; rm -f "$dom"; continue; }
    fail=""
    grep -q '</html>' "$dom" || fail="$fail no-document"
    grep -qi '<script' "$dom" && fail="$fail script-element"
    grep -Eqi '<[a-z][^>]* on[a-z]+=' "$dom" && fail="$fail event-handler"
    if grep -q 'compliance evidence pack' "$dom"; then
        for id in verification gdpr-art30 hipaa-164-312 eu-ai-act-art12 anomalies; do
            grep -q "id=\"$id\"" "$dom" || fail="$fail missing-section:$id"
        done
    fi
    if [ -n "$fail" ]; then echo "FAIL $file:$fail"; status=1; else echo "ok   $file ($browser)"; fi
    rm -f "$dom"
done
exit "$status"
