#!/usr/bin/env bash
# Run the built bundle's --self-test the way a lab PC would: no Python, an emptied environment
# (env -i plus the minimum), no network (a fresh network namespace when `unshare -n` works), Qt
# offscreen; then, if Xvfb is installed, once more in a real X11 window (xcb platform plugin).
# Usage: bash packaging/check_bundle.sh [dist/FastMixStudio]
set -uo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${1:-dist/FastMixStudio}
EXE="$BUNDLE/FastMixStudio"
[ -x "$EXE" ] || { echo "check_bundle: $EXE not found; build it with 'make bundle'" >&2; exit 2; }
HOME_DIR=$(mktemp -d)
trap 'rm -rf "$HOME_DIR"; [ -n "${XVFB_PID:-}" ] && kill "$XVFB_PID" 2>/dev/null' EXIT

NONET=()
if unshare -n true 2>/dev/null; then NONET=(unshare -n); fi
echo "== bundle: $(du -sh "$BUNDLE" | cut -f1), network: ${NONET[*]:-not isolated (unshare -n unavailable)}"

run() {  # run the bundle's self-test in an emptied environment; extra VAR=VALUE args are added
  "${NONET[@]}" env -i HOME="$HOME_DIR" LANG=C.UTF-8 "$@" "$EXE" --self-test
}

# nothing of ../shared (real public FCS files, reference outputs) may ship in the bundle
if [ -d ../shared/data ]; then
  leaked=$( (cd ../shared/data && find . -type f \( -iname '*.fcs' -o -iname '*.lmd' -o -iname '*.wsp' -o -iname '*.xml' -o -iname '*.csv' \) -printf '%f\n') |
            sort -u | while read -r f; do find "$BUNDLE" -type f -name "$f" -print -quit; done)
  [ -z "$leaked" ] || { echo "check_bundle: files from ../shared found in the bundle: $leaked" >&2; exit 1; }
  echo "== no file of ../shared/data in the bundle"
fi

echo "== self-test, Qt offscreen, env -i"
run QT_QPA_PLATFORM=offscreen || { echo "check_bundle: offscreen self-test FAILED" >&2; exit 1; }

if command -v Xvfb >/dev/null 2>&1; then
  DISPLAY_NUM=:$((90 + RANDOM % 9))
  Xvfb "$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  XVFB_PID=$!
  sleep 1
  echo "== self-test, real X11 window (xcb) on Xvfb $DISPLAY_NUM, env -i"
  run DISPLAY="$DISPLAY_NUM" QT_QPA_PLATFORM=xcb || { echo "check_bundle: xcb self-test FAILED" >&2; exit 1; }
else
  echo "== Xvfb not installed: real-window check skipped"
fi
echo "check_bundle: OK"
