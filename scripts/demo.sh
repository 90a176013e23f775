#!/usr/bin/env bash
# demo.sh brings up a working Kakehashi on loopback: Prosody (installed from
# Debian's packages when missing) with an inside host corp.test, an outside
# host ext.test and the gateway's two components, the gateway itself with the
# example config and directory, and four accounts to log in with.
#   bash scripts/demo.sh         start (or restart) the demo
#   bash scripts/demo.sh stop    stop it
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
demo="$root/.demo"
cfg="$root/examples/kakehashi.yaml"
token=change-me-demo-token-0123456789
bin="$demo/bin/kakehashi"

stop() {
	if [[ -f $demo/kakehashi.pid ]]; then
		kill "$(cat "$demo/kakehashi.pid")" 2>/dev/null || true
		rm -f "$demo/kakehashi.pid"
	fi
	if [[ -d $demo/prosody ]]; then
		bash "$root/scripts/prosody.sh" stop --dir "$demo/prosody" >/dev/null 2>&1 || true
	fi
}

if [[ ${1:-} == stop ]]; then
	stop
	echo "demo stopped (state kept in $demo; remove it to start afresh)"
	exit 0
fi

command -v go >/dev/null || { echo "demo: Go is needed (https://go.dev/doc/install)" >&2; exit 1; }
bash "$root/scripts/prosody.sh" install
stop
mkdir -p "$demo/bin" "$demo/prosody"
(cd "$root" && go build -o "$bin" ./cmd/kakehashi)

bash "$root/scripts/prosody.sh" start --dir "$demo/prosody" --c2s-port 5222 --component-port 5347 \
	--secret demo-component-secret --inside corp.test --outside ext.test \
	--component gw.corp.test --component contact.acme.test
for acct in hana@corp.test ken@corp.test bob@ext.test alice@ext.test; do
	bash "$root/scripts/prosody.sh" register --dir "$demo/prosody" "${acct%@*}" "${acct#*@}" demo-password
done

"$bin" config check "$cfg"
cd "$demo"
KAKEHASHI_DATA_DIR="$demo/data" nohup "$bin" serve --config "$cfg" >"$demo/kakehashi.log" 2>&1 &
echo $! >"$demo/kakehashi.pid"
up() { (exec 3<>/dev/tcp/127.0.0.1/8765) 2>/dev/null; }
for _ in $(seq 1 100); do
	up && break
	sleep 0.1
done
up || { echo "demo: gateway did not start; see $demo/kakehashi.log" >&2; tail -20 "$demo/kakehashi.log" >&2; exit 1; }
"$bin" directory import "$root/examples/directory.yaml" --config "$cfg"

cat <<MSG

Kakehashi demo is running.
  XMPP server  127.0.0.1:5222 (no TLS; allow plain-text auth in your client)
  gateway log  $demo/kakehashi.log
  admin API    http://127.0.0.1:8765  (token: $token)

Accounts (password: demo-password)
  inside   hana@corp.test  (Hana Sato, persona "ACME Sales · Hana" = hana.sales@contact.acme.test)
  inside   ken@corp.test   (Ken Ito,   persona "ACME Sales · Ken"  = ken.sales@contact.acme.test)
  outside  bob@ext.test, alice@ext.test (customers)

Try it with any XMPP client (e.g. Gajim, Dino, Profanity), connecting to 127.0.0.1:5222:
  1. As hana@corp.test, write to  bob\\40ext.test@gw.corp.test  (bob@ext.test, XEP-0106 escaped).
  2. As bob@ext.test you get it from hana.sales@contact.acme.test ("ACME Sales · Hana"). Reply.
  3. Hand bob over:  $bin contacts transfer --from hana --to ken --reason "rotation" --config $cfg
     bob's next message to hana.sales@ reaches ken; ken writes to bob as ken.sales@.
  4. $bin employees depart hana --successor ken --config $cfg
  5. $bin audit --config $cfg       $bin contacts list --config $cfg
Stop with: bash scripts/demo.sh stop   (or make demo-stop)
MSG
