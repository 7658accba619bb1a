# Test double of the ImageBuilder containers' setup.sh. The real one
# downloads and unpacks the ImageBuilder of $TARGET from $VERSION_PATH (so a
# snapshot container has no Makefile until it ran). For the image's own
# version this one unpacks the double's files; for any other version of its
# target (a release built in a snapshot image) it does what the real one
# does: fetches sha256sums and the archive named there from $UPSTREAM_URL,
# verifies the archive and unpacks it with --strip-components=1 into /builder.
# Either way it records what it was given in .setup-ran.
set -e

DOUBLE_DIR=${DOUBLE_DIR:-/usr/share/imagebuilder-double}
. "$DOUBLE_DIR/config"

if [ -z "${TARGET:-}" ]; then
  echo "setup.sh: TARGET is not set" >&2
  exit 1
fi
VERSION_PATH="${VERSION_PATH:-snapshots}"
DOWNLOAD_PATH="$VERSION_PATH/targets/$TARGET"

if [ "$TARGET" != "$IB_TARGET" ]; then
  echo "Connecting to downloads.openwrt.org"
  echo "wget: server returned error: HTTP/1.1 404 Not Found ($DOWNLOAD_PATH/sha256sums)" >&2
  exit 1
fi

if [ "$VERSION_PATH" = "$IB_VERSION_PATH" ]; then
  file_name="openwrt-imagebuilder-$(echo "$TARGET" | tr / -).Linux-x86_64.tar.zst"
  echo "Connecting to downloads.openwrt.org ($DOWNLOAD_PATH/$file_name)"
  echo "$file_name: OK"
  cp -R "$DOUBLE_DIR/unpacked/." .
else
  host="${UPSTREAM_URL:-${FILE_HOST:-https://downloads.openwrt.org}}"
  echo "Downloading $host/$DOWNLOAD_PATH/sha256sums"
  wget -q -O sha256sums "$host/$DOWNLOAD_PATH/sha256sums"
  file_name=$(sed -n 's/^[0-9a-f]\{64\} \*\{0,1\}\(openwrt-imagebuilder-.*\.tar\.gz\)$/\1/p' sha256sums | head -n 1)
  if [ -z "$file_name" ]; then
    echo "setup.sh: no ImageBuilder archive in $DOWNLOAD_PATH/sha256sums" >&2
    exit 1
  fi
  echo "Downloading $host/$DOWNLOAD_PATH/$file_name"
  wget -q -O "$file_name" "$host/$DOWNLOAD_PATH/$file_name"
  grep " \*\{0,1\}$file_name\$" sha256sums | sha256sum -c -
  tar -xzof "$file_name" --strip-components=1
  rm -f "$file_name" sha256sums
fi
printf 'TARGET=%s\nVERSION_PATH=%s\n' "$TARGET" "$VERSION_PATH" >.setup-ran
