# Test double of the snapshot ImageBuilder container's setup.sh. The real one
# downloads and unpacks the ImageBuilder of $TARGET from $VERSION_PATH (so the
# container has no Makefile until it ran); this one checks what the worker
# passed, records it in .setup-ran and unpacks the double's files.
set -e

DOUBLE_DIR=${DOUBLE_DIR:-/usr/share/imagebuilder-double}
. "$DOUBLE_DIR/config"

if [ -z "${TARGET:-}" ]; then
  echo "setup.sh: TARGET is not set" >&2
  exit 1
fi
VERSION_PATH="${VERSION_PATH:-snapshots}"
DOWNLOAD_PATH="$VERSION_PATH/targets/$TARGET"

if [ "$TARGET" != "$IB_TARGET" ] || [ "$VERSION_PATH" != "$IB_VERSION_PATH" ]; then
  echo "Connecting to downloads.openwrt.org"
  echo "wget: server returned error: HTTP/1.1 404 Not Found ($DOWNLOAD_PATH/sha256sums)" >&2
  exit 1
fi

file_name="openwrt-imagebuilder-$(echo "$TARGET" | tr / -).Linux-x86_64.tar.zst"
echo "Connecting to downloads.openwrt.org ($DOWNLOAD_PATH/$file_name)"
echo "$file_name: OK"
cp -R "$DOUBLE_DIR/unpacked/." .
printf 'TARGET=%s\nVERSION_PATH=%s\n' "$TARGET" "$VERSION_PATH" >.setup-ran
