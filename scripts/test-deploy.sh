#!/usr/bin/env bash
# Walks docs/deploy.md command by command with the debug binary (built by the cargo tests;
# built here if missing): a test CA and server certificate (openssl), the database key, `admin
# init` (password from a file), `serve` over TLS on a free loopback port, org import, an
# account, a phone's login and sync over HTTPS (curl), residents import, a backup, `audit
# verify --backup`, restore, serve again. Fails loudly at the first step that does not hold.
# Usage: bash scripts/test-deploy.sh   (honours CARGO_TARGET_DIR)
set -euo pipefail
# Checks read from a here-string, never `echo "$out" | grep -q`: under pipefail, grep -q
# leaving early can kill echo with SIGPIPE and fail a check that matched (1 run in ~3,000).
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
bin=$target/debug/gridbook-server
[ -x "$bin" ] || cargo build -q -p gridbook-sync-server --bin gridbook-server
for tool in curl openssl perl; do
  if ! command -v "$tool" >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get install -y "$tool" >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y "$tool" >/dev/null; }
  fi
done

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test-deploy: FAILED: $*" >&2; for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }
step() { printf 'test-deploy: %s\n' "$1"; }
# `gridbook-server …`, its output in $out; fails the script on a non-zero exit.
run() { out=$("$bin" "$@" 2>&1) || fail "gridbook-server $* exited non-zero: $out"; }

data=$work/data
keys=$work/keys            # "another volume" for the key
etc=$work/etc
mkdir -p "$keys" "$etc"
export GRIDBOOK_DATA_DIR=$data
export GRIDBOOK_DATABASE_KEY_FILE=$keys/gridbook-db.key
# Test speed only: cheap password hashing (production keeps the defaults).
export GRIDBOOK_ARGON2_MEMORY_KIB=256 GRIDBOOK_ARGON2_ITERATIONS=1

step "3. TLS: a test CA and a server certificate for localhost / 127.0.0.1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=gridbook test CA" -keyout "$work/ca.key" -out "$work/ca.crt" 2>"$work/openssl.log" || fail "CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -CA "$work/ca.crt" -CAkey "$work/ca.key" -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
  -keyout "$etc/server.key" -out "$etc/server.crt" 2>>"$work/openssl.log" || fail "server certificate"
chmod 600 "$etc/server.key"

step "2. database key (admin new-db-key)"
run admin new-db-key "$GRIDBOOK_DATABASE_KEY_FILE"
[ "$(stat -c %a "$GRIDBOOK_DATABASE_KEY_FILE")" = 600 ] || fail "key file is not 0600"
"$bin" admin new-db-key "$GRIDBOOK_DATABASE_KEY_FILE" >/dev/null 2>&1 && fail "new-db-key overwrote a key file"

step "4. configuration"
cat >"$etc/server.toml" <<EOF
listen = "127.0.0.1:0"
data_dir = "$data"
tls_cert = "$etc/server.crt"
tls_key = "$etc/server.key"
database_key_file = "$GRIDBOOK_DATABASE_KEY_FILE"
EOF

step "serve refuses the folder before admin init"
if "$bin" serve --config "$etc/server.toml" >"$work/refused.log" 2>&1; then fail "serve started on an uninitialised folder"; fi
grep -q "admin init" "$work/refused.log" || fail "the refusal does not name admin init"
grep -q "not_initialised" "$work/refused.log" || fail "the refusal has no code"

step "5. admin init (password from a file)"
printf 'Qz7-district-admin-2026\n' >"$work/admin.pw"
run admin init --district-name 邹城市 --district-code 370883 --admin-username itadmin \
  --admin-name 区网格中心管理员 --password-file "$work/admin.pw"
grep -q "initialised" <<<"$out" || fail "init printed: $out"
[ "$(stat -c %a "$data")" = 700 ] || fail "data folder is not 0700"
for f in "$data"/gridbook.sqlite3 "$data"/gridbook.sqlite3-wal "$data"/gridbook.sqlite3-shm "$data"/gridbook.lock; do
  [ ! -e "$f" ] || [ "$(stat -c %a "$f")" = 600 ] || fail "$f is not 0600"
done
grep -qi "migrat" <<<"$out" && fail "admin init printed migration lines: $out"
if "$bin" admin init --district-name 邹城市 --district-code 370883 --admin-username other \
  --password-file "$work/admin.pw" >"$work/again.log" 2>&1; then fail "a second init ran"; fi
grep -q already_initialised "$work/again.log" || fail "second init: $(cat "$work/again.log")"

step "6. serve over TLS"
start_server() {
  "$bin" serve --config "$etc/server.toml" >"$work/serve.log" 2>&1 &
  server_pid=$!
  port=""
  for _ in $(seq 1 600); do
    port=$(sed -n 's#^gridbook-server listening on https://127\.0\.0\.1:\([0-9]*\)$#\1#p' "$work/serve.log")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || fail "serve exited"
    sleep 0.1
  done
  [ -n "$port" ] || fail "serve did not listen in time"
  url=https://localhost:$port
  curl -sf --cacert "$work/ca.crt" "$url/ready" >/dev/null || fail "GET /ready over TLS"
}
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || fail "serve did not exit cleanly on SIGTERM"
  server_pid=""
}
start_server
grep -q "error decrypting" "$work/serve.log" && fail "SQLCipher logged an error"
# Without the CA, curl refuses the certificate.
curl -s "$url/ready" >/dev/null 2>&1 && fail "an untrusted certificate was accepted"
# Plain HTTP to the TLS port (docs/security.md §4): no HTTP answer, a TLS alert record
# (content type 0x15) and the connection closed.
curl -s --http0.9 --max-time 10 -o "$work/plain.out" "http://127.0.0.1:$port/ready" || true
[ "$(od -An -tx1 -N1 "$work/plain.out" | tr -d ' ')" = 15 ] || fail "plain HTTP to the TLS port: $(od -An -tx1 "$work/plain.out")"

step "7. org import, admin org"
cat >"$work/org.csv" <<'EOF'
街道,街道编码,社区,社区编码,网格,网格编码,楼栋,单元,户
钢山街道,370883001,幸福社区,370883001001,幸福社区第一网格,370883001001001,1栋,1单元,101
钢山街道,370883001,幸福社区,370883001001,幸福社区第二网格,370883001001002,,,
EOF
run admin org-import "$work/org.csv"
grep -q "6 个节点" <<<"$out" || fail "org import: $out"
run admin org
first=$(echo "$out" | head -n 1)
case "$first" in 邹城市*"[区 district 370883]"*) ;; *) fail "admin org does not start with the district: $out" ;; esac
org_out=$out
grid=$(echo "$out" | grep "370883001001001" | awk '{print $NF}')
[ -n "$grid" ] || fail "grid id not found in: $out"

step "8. account"
run admin account-create --username wangwei --name 王伟 --role grid_worker --org-node "$grid"
password=$(echo "$out" | sed -n 's/.*initial password: \([^ ]*\).*/\1/p')
[ -n "$password" ] || fail "no initial password in: $out"

step "a phone logs in and syncs over HTTPS"
device=$(cat /proc/sys/kernel/random/uuid)
login=$(curl -sS --cacert "$work/ca.crt" -H 'content-type: application/json' \
  -d "{\"username\":\"wangwei\",\"password\":\"$password\",\"device_id\":\"$device\",\"device_name\":\"test phone\"}" \
  -w '\n%{http_code}' "$url/v1/login") || fail "login request"
[ "$(echo "$login" | tail -n 1)" = 200 ] || fail "login: $login"
token=$(echo "$login" | head -n 1 | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || fail "no token in: $login"
case "$login" in *"\"grids\":[\"$grid\"]"*) ;; *) fail "login grants: grid [$grid] of admin org: $org_out; login: $login" ;; esac
# A protocol-1 sync request (docs/protocol.md) in CBOR: {v: 1, client_time: now ms,
# max_bytes: 1 MiB, push: [], cursors: []}.
now_ms=$(( $(date +%s) * 1000 ))
perl -e 'print "\xa5", "\x61v", "\x01", "\x6bclient_time", "\x1b", pack("Q>", $ARGV[0]),
  "\x69max_bytes", "\x1a", pack("N", 1 << 20), "\x64push", "\x80", "\x67cursors", "\x80"' "$now_ms" >"$work/sync.cbor"
code=$(curl -sS --cacert "$work/ca.crt" -H "authorization: Bearer $token" -H 'content-type: application/cbor' \
  --data-binary @"$work/sync.cbor" -o "$work/sync.out" -w '%{http_code}' "$url/v1/sync") || fail "sync request"
[ "$code" = 200 ] || fail "sync: HTTP $code $(cat "$work/sync.out")"
# The worker's first pull carries the org tree (the district scope) and a cursor per scope.
grep -q "cursors" "$work/sync.out" || fail "sync answer has no cursors"
[ "$(stat -c %s "$work/sync.out")" -gt 500 ] || fail "sync answer pulled nothing"

step "9. residents import (dry run, then import)"
cat >"$work/residents.csv" <<'EOF'
户编号,网格编码,楼栋,单元,门牌号,地址,房屋用途,登记日期,姓名,身份证号,联系电话,与户主关系
H1,370883001001001,1栋,1单元,102,幸福社区1栋1单元102,自住,2025-01-01,王伟,11010519491231002X,13800000000,户主
EOF
run admin import-residents --operator itadmin --dry-run "$work/residents.csv"
run admin import-residents --operator itadmin "$work/residents.csv"
grep -q "1 户" <<<"$out" || fail "residents import: $out"

step "10. backup while serving, audit verify --backup"
mkdir -p "$work/backup"
run admin backup --out "$work/backup/gridbook.sqlite3"
[ "$(stat -c %a "$work/backup/gridbook.sqlite3")" = 600 ] || fail "backup is not 0600"
head -c 16 "$work/backup/gridbook.sqlite3" | grep -q "SQLite format 3" && fail "backup is not encrypted"
run audit verify --backup "$work/backup/gridbook.sqlite3"
grep -q "audit log intact" <<<"$out" || fail "audit verify --backup: $out"
run audit verify
grep -q "audit log intact" <<<"$out" || fail "audit verify: $out"
if "$bin" audit verify --data "$work/nowhere" >"$work/missing.log" 2>&1; then fail "audit verify on a missing folder passed"; fi
grep -q no_data_folder "$work/missing.log" || fail "audit verify on a missing folder: $(cat "$work/missing.log")"

step "11. restore (server stopped), serve again"
run admin account-create --username afterbackup --name 备份后 --role grid_worker --org-node "$grid"
if "$bin" admin restore "$work/backup/gridbook.sqlite3" >"$work/busy.log" 2>&1; then fail "restore ran under a live server"; fi
grep -q server_running "$work/busy.log" || fail "restore under a live server: $(cat "$work/busy.log")"
stop_server
run admin restore "$work/backup/gridbook.sqlite3"
grep -q "restored" <<<"$out" || fail "restore: $out"
[ "$(stat -c %a "$data/gridbook.sqlite3")" = 600 ] || fail "restored database is not 0600"
run admin accounts
grep -q wangwei <<<"$out" || fail "restored accounts: $out"
grep -q afterbackup <<<"$out" && fail "the account made after the backup survived the restore"
start_server
login=$(curl -sS --cacert "$work/ca.crt" -H 'content-type: application/json' \
  -d "{\"username\":\"wangwei\",\"password\":\"$password\",\"device_id\":\"$device\",\"device_name\":\"test phone\"}" \
  -o /dev/null -w '%{http_code}' "$url/v1/login") || fail "login after restore"
[ "$login" = 200 ] || fail "login after restore: HTTP $login"
stop_server
run audit verify
grep -q "audit log intact" <<<"$out" || fail "audit verify after restore: $out"

step "ok"
