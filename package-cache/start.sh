#!/bin/sh
# Writes what nginx cannot read itself, then runs it in the foreground:
# - the DNS server of this container (nginx resolves the feed hosts of its
#   proxy_pass at request time and does not read /etc/resolv.conf);
# - the cache's place and limits from CACHE_MAX_SIZE and CACHE_INACTIVE.
set -eu

runtime=/tmp/package-cache
mkdir -p "$runtime"

nameserver=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)
if [ -z "$nameserver" ]; then
  echo "package-cache: no nameserver in /etc/resolv.conf" >&2
  exit 1
fi
case "$nameserver" in
  *:*) nameserver="[$nameserver]" ;;
esac

size=${CACHE_MAX_SIZE:-10g}
inactive=${CACHE_INACTIVE:-30d}
case "$size" in
  *[!0-9kKmMgG]* | "") echo "package-cache: CACHE_MAX_SIZE must be like 10g, got '$size'" >&2; exit 1 ;;
esac
case "$inactive" in
  *[!0-9smhdwMy]* | "") echo "package-cache: CACHE_INACTIVE must be like 30d, got '$inactive'" >&2; exit 1 ;;
esac

printf 'resolver %s valid=30s;\nresolver_timeout 5s;\n' "$nameserver" >"$runtime/resolver.conf"
printf 'proxy_cache_path /var/cache/package-cache levels=1:2 keys_zone=packages:16m max_size=%s inactive=%s use_temp_path=off;\n' \
  "$size" "$inactive" >"$runtime/cache-path.conf"

exec nginx -c /etc/package-cache/nginx.conf -g 'daemon off;'
