#!/usr/bin/env bash
# demo.sh brings up a working Kakehashi on loopback: Prosody (installed from
# Debian's packages when missing) with an inside host corp.test, an outside
# host ext.test and the gateway's components; Dovecot and Postfix (likewise)
# with a catch-all mailbox for the personas' mail domain and customers'
# mailboxes on mail.test; the gateway itself with the example config and
# directory; and accounts to log in with. Prosody also runs XEP-0363 HTTP
# upload services on 127.0.0.1:5280 so that clients can share files.
# --server ejabberd runs Debian's ejabberd instead of Prosody, on the same
# ports with the same hosts, components and accounts (scripts/ejabberd.sh).
#   bash scripts/demo.sh [--server prosody|ejabberd]
#                                                 start (or restart) the demo
#   bash scripts/demo.sh stop                     stop it
#   bash scripts/demo.sh mail-send FROM TO SUBJECT BODY
#                                                 send a mail as a customer
#   bash scripts/demo.sh mail-read USER           print USER's inbox
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
demo="$root/.demo"
cfg="$root/examples/kakehashi.yaml"
token=change-me-demo-token-0123456789
bin="$demo/bin/kakehashi"

# The XMPP server: prosody (default) or ejabberd, started by
# scripts/$server.sh (both take the same commands and options).
server=prosody
if [[ ${1:-} == --server ]]; then
	[[ $# -ge 2 && ( $2 == prosody || $2 == ejabberd ) ]] || { echo "usage: demo.sh --server prosody|ejabberd" >&2; exit 2; }
	server=$2
	shift 2
fi

stop() {
	if [[ -f $demo/kakehashi.pid ]]; then
		kill "$(cat "$demo/kakehashi.pid")" 2>/dev/null || true
		rm -f "$demo/kakehashi.pid"
	fi
	local s
	for s in prosody ejabberd; do
		if [[ -d $demo/$s ]]; then
			bash "$root/scripts/$s.sh" stop --dir "$demo/$s" >/dev/null 2>&1 || true
		fi
	done
	if [[ -d $demo/mail ]]; then
		bash "$root/scripts/mail.sh" stop --dir "$demo/mail" >/dev/null 2>&1 || true
	fi
}

need_curl() {
	command -v curl >/dev/null && return
	echo "demo: installing curl (for mail-send and mail-read)" >&2
	apt-get install -y --no-install-recommends curl >/dev/null || { apt-get update >/dev/null && apt-get install -y --no-install-recommends curl >/dev/null; }
}

# mail-send and mail-read stand in for a customer's mail client.
if [[ ${1:-} == mail-send ]]; then
	[[ $# -eq 5 ]] || { echo "usage: demo.sh mail-send FROM TO SUBJECT BODY" >&2; exit 2; }
	need_curl
	printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s.%s@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n' \
		"$2" "$3" "$4" "$(date -R)" "$(date +%s%N)" "$$" "${2#*@}" "$5" |
		curl -sS --url smtp://127.0.0.1:2525 --mail-from "$2" --mail-rcpt "$3" -T -
	echo "sent: $2 -> $3"
	exit 0
fi
if [[ ${1:-} == mail-read ]]; then
	[[ $# -eq 2 ]] || { echo "usage: demo.sh mail-read USER (e.g. bob@mail.test)" >&2; exit 2; }
	need_curl
	uids=$(curl -sS --url "imap://127.0.0.1:1143/INBOX" -u "$2:demo-password" -X 'UID SEARCH ALL' | tr -dc '0-9 \n' | xargs)
	[[ -n $uids ]] || { echo "(no mail for $2)"; exit 0; }
	for uid in $uids; do
		echo "===== $2, message $uid ====="
		curl -sS --url "imap://127.0.0.1:1143/INBOX;UID=$uid" -u "$2:demo-password"
	done
	exit 0
fi

if [[ ${1:-} == stop ]]; then
	stop
	echo "demo stopped (state kept in $demo; remove it to start afresh)"
	exit 0
fi

command -v go >/dev/null || { echo "demo: Go is needed (https://go.dev/doc/install)" >&2; exit 1; }
bash "$root/scripts/$server.sh" install
bash "$root/scripts/mail.sh" install
stop
mkdir -p "$demo/bin" "$demo/$server" "$demo/mail"
(cd "$root" && go build -o "$bin" ./cmd/kakehashi)

# Upload services (XEP-0363), one per server, each under its own loopback
# host since Prosody tells them apart by the Host header: the employees'
# (corp.test), the outside company's next to the personas
# (contact.acme.test), and the customers' own (ext.test).
bash "$root/scripts/$server.sh" start --dir "$demo/$server" --c2s-port 5222 --component-port 5347 \
	--http-port 5280 --secret demo-component-secret --inside corp.test --outside ext.test \
	--component gw.corp.test --component contact.acme.test --component mail.gw.corp.test \
	--upload upload.corp.test=127.0.0.1 --upload upload.acme.test=localhost --upload upload.ext.test=127.0.0.2
for acct in hana@corp.test ken@corp.test bob@ext.test alice@ext.test; do
	bash "$root/scripts/$server.sh" register --dir "$demo/$server" "${acct%@*}" "${acct#*@}" demo-password
done

bash "$root/scripts/mail.sh" start --dir "$demo/mail" --imap-port 1143 --smtp-port 2525 \
	--submission-port 2587 --lmtp-port 2424 --gateway-domain contact.acme.test \
	--customer-domain mail.test --gateway-pass gateway-secret
for acct in bob@mail.test carol@mail.test; do
	bash "$root/scripts/mail.sh" adduser --dir "$demo/mail" "$acct" demo-password
done
# The demo's submission port has a self-signed certificate: trust it.
export KAKEHASHI_NETWORKS_MAIL_MAIL_SMTP_CA_FILE="$demo/mail/tls/cert.pem"

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
# Console sign-ins: named admin credentials with a password (the demo's
# accounts' password; the file is removed once read).
pwfile=$(mktemp)
printf 'demo-password\n' >"$pwfile"
console_admin() { # NAME ROLE-FLAGS...: added on the first run, its password set again on later ones
	local name=$1
	shift
	if ! grep -q "^$name " <<<"$admins"; then
		"$bin" admins add "$name" "$@" --password-file "$pwfile" --reason "demo console sign-in" --config "$cfg" >/dev/null
	else
		"$bin" admins password "$name" --password-file "$pwfile" --reason "demo console sign-in" --config "$cfg" >/dev/null
	fi
}
admins=$("$bin" admins list --config "$cfg")
console_admin demo --role admin
console_admin sales-lead --role lead --team Sales
console_admin auditor --role auditor
rm -f "$pwfile"

cat <<MSG

Kakehashi demo is running.
  XMPP server  127.0.0.1:5222, $server (no TLS; allow plain-text auth in your client)
  file upload  upload.corp.test  http://127.0.0.1:5280/  (employees)
               upload.ext.test   http://127.0.0.2:5280/  (customers on XMPP)
               upload.acme.test  http://localhost:5280/  (the outside company's, next to the personas)
  mail         IMAP 127.0.0.1:1143, SMTP 127.0.0.1:2525 (customers' mail)
  gateway log  $demo/kakehashi.log
  admin API    http://127.0.0.1:8765  (token: $token)
  console      http://127.0.0.1:8765/console/  sign in as demo (admin), sales-lead (lead of
               team Sales) or auditor, password demo-password

Accounts (password: demo-password)
  inside   hana@corp.test  (Hana Sato, persona "ACME Sales · Hana" = hana.sales@contact.acme.test)
  inside   ken@corp.test   (Ken Ito,   persona "ACME Sales · Ken"  = ken.sales@contact.acme.test)
  outside  bob@ext.test, alice@ext.test (customers on XMPP)
  outside  bob@mail.test, carol@mail.test (customers on e-mail)

Try it with any XMPP client (e.g. Gajim, Dino, Profanity), connecting to 127.0.0.1:5222:
  1. As hana@corp.test, write to  bob\\40ext.test@gw.corp.test  (bob@ext.test, XEP-0106 escaped).
  2. As bob@ext.test you get it from hana.sales@contact.acme.test ("ACME Sales · Hana"). Reply.
     Files: share one from the client as usual (Conversations, Dino, Gajim: attach / send file).
     The client finds its own server's upload service (upload.corp.test or upload.ext.test) by
     itself; the links are plain http:// on loopback, so open them on this machine.
  3. Mail: as hana@corp.test, write to  bob\\40mail.test@mail.gw.corp.test  (bob@mail.test by e-mail).
     Read it as bob:   bash scripts/demo.sh mail-read bob@mail.test
     Answer as bob:    bash scripts/demo.sh mail-send bob@mail.test hana.sales@contact.acme.test "Re: hello" "Thanks!"
     (or use any mail client: IMAP 127.0.0.1:1143 / SMTP 127.0.0.1:2525, user bob@mail.test)
  4. Hand bob over:  $bin contacts transfer --from hana --to ken --reason "rotation" --config $cfg
     bob's next message to hana.sales@ reaches ken; ken writes to bob as ken.sales@.
  5. $bin employees depart hana --successor ken --config $cfg
  6. $bin audit --config $cfg       $bin contacts list --config $cfg
  7. In a browser, http://127.0.0.1:8765/console/ as demo / demo-password: the overview counts
     the messages above; Contacts moves bob with a preview and an Undo; sales-lead sees team
     Sales only; auditor reads everything and changes nothing.
Stop with: bash scripts/demo.sh stop   (or make demo-stop)
MSG
