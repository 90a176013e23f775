#!/usr/bin/env bash
# mail.sh installs Dovecot and Postfix from Debian's packages and runs
# throwaway instances of them on loopback: the mail side of the demo and of
# the end-to-end tests (internal/testenv), configured the same way for both.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

prog=mail.sh
script=$(readlink -f "${BASH_SOURCE[0]}")

usage() {
	cat <<'EOF'
Usage:
  mail.sh install
      Install Dovecot (IMAP, LMTP) and Postfix from Debian's packages if they
      are missing (needs root or sudo). The packages' own system services are
      not left running.

  mail.sh start --dir DIR [--imap-port N] [--smtp-port N] [--submission-port N]
                [--lmtp-port N] [--gateway-domain D] [--customer-domain D]...
                [--bounce-domain D] [--gateway-pass P] [--only dovecot|postfix]
                [--timeout SECONDS] [--parent-pid PID]
      Write the configs of both servers under DIR, start them in the
      background on 127.0.0.1 (needs root), wait until their ports accept TCP,
      then print
        IMAP=127.0.0.1:N SMTP=127.0.0.1:N SUBMISSION=127.0.0.1:N LMTP=127.0.0.1:N DIR=DIR
      Defaults: --imap-port 1143, --smtp-port 2525, --submission-port 2587,
      --lmtp-port 2424, --gateway-domain contact.acme.test, --customer-domain
      mail.test, --bounce-domain bounce.test, --gateway-pass gateway-secret,
      --timeout 30.
      Mail routing:
        * any address at the gateway domain is delivered into the one mailbox
          of IMAP user gateway@GATEWAY-DOMAIN, each copy with a Delivered-To:
          header naming its envelope recipient;
        * customer domains have only the users added with adduser; mail to
          anyone else there is rejected at RCPT time (5xx);
        * mail to any address at the bounce domain is accepted, then bounced:
          Postfix sends a DSN to the envelope sender;
        * other domains are relayed only from 127.0.0.0/8 or after AUTH, and
          then bounced the same way (this server never talks to the
          outside).
      Mail arriving on SMTP with an envelope sender at a customer domain
      gets "Authentication-Results: mx.GATEWAY-DOMAIN; spf=pass
      smtp.mailfrom=DOMAIN" (standing in for an SPF verifier); other
      senders get no such header.
      SMTP is an MX-like listener (STARTTLS offered, no AUTH); SUBMISSION
      requires STARTTLS, then AUTH PLAIN/LOGIN; IMAP allows plaintext LOGIN
      and offers STARTTLS. The certificate is self-signed, made in DIR/tls.
      Accounts and mail live in DIR, so a start after a stop keeps them.
      With --only, just that server is started (the other may be running).
      With --parent-pid, both are stopped once that process is gone (tests
      pass their own pid so a killed test run leaves nothing behind).
      DIR's ancestors must be searchable by the mail and postfix users.

  mail.sh adduser --dir DIR ADDRESS PASSWORD
      Create (or reset the password of) a mailbox at a customer domain (or a
      gateway-domain address that gets its own mailbox); works while running.

  mail.sh stop --dir DIR [--only dovecot|postfix]
      Stop the servers started in DIR (or just one) and wait until they and
      their children are gone.

  mail.sh status --dir DIR [--only dovecot|postfix]
      Print the state of each server; exit 0 if all of them run, 1 if not.

Logs: DIR/dovecot.log, DIR/postfix.log (and DIR/*.stdout for startup errors).
EOF
}

packages=(dovecot-imapd dovecot-lmtpd postfix openssl ca-certificates)

# Where install keeps the policy-rc.d it replaced ("" if there was none).
policy_rc=/usr/sbin/policy-rc.d
policy_backup=""

installed() {
	local p
	for p in "${packages[@]}"; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || return 1
	done
	command -v dovecot >/dev/null 2>&1 && command -v postfix >/dev/null 2>&1
}

# apt_knows reports whether apt's package lists have a candidate for every
# package, i.e. whether install can go ahead without an apt-get update.
apt_knows() {
	local p cand
	for p in "${packages[@]}"; do
		cand=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
		[[ -n $cand && $cand != "(none)" ]] || return 1
	done
}

cmd_install() {
	[[ $# -eq 0 ]] || usage_error "install takes no arguments"
	if installed; then
		echo "$prog: dovecot and postfix already installed: $(command -v dovecot) $(command -v postfix)"
		return 0
	fi
	# The services would start on ports 25 and 143, where they would collide
	# with whatever else the machine runs and look like ours. A policy-rc.d
	# that answers 101 tells invoke-rc.d not to start anything; put back
	# whatever was there before.
	if [[ -e $policy_rc ]]; then
		policy_backup=$(mktemp)
		as_root cp -p "$policy_rc" "$policy_backup"
	fi
	trap restore_policy EXIT
	printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy_rc" >/dev/null
	as_root chmod 0755 "$policy_rc"

	# "No configuration" makes postfix's postinst ask nothing and write no
	# /etc/postfix/main.cf: every instance brings its own config directory.
	printf '%s\n' \
		'postfix postfix/main_mailer_type select No configuration' \
		'postfix postfix/mailname string mx.invalid' |
		as_root debconf-set-selections

	local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y --no-upgrade -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	# Lists that already know the packages are enough; when they are old the
	# mirror may have dropped the versions they name, so update and retry.
	if ! apt_knows; then
		as_root apt-get update
	fi
	if ! as_root "${apt[@]}" install "${packages[@]}"; then
		as_root apt-get update
		as_root "${apt[@]}" install "${packages[@]}"
	fi

	trap - EXIT
	restore_policy
	# Belt and braces for systems where the services got started anyway
	# (e.g. systemd ignoring policy-rc.d).
	local s
	for s in dovecot postfix; do
		if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
			as_root systemctl disable --now "$s" >/dev/null 2>&1 || true
		fi
		as_root service "$s" stop >/dev/null 2>&1 || true
	done
	installed || die "apt-get install finished but dovecot or postfix is missing"
	echo "$prog: installed $(dpkg-query -W -f='${Package} ${Version}\n' dovecot-imapd postfix 2>/dev/null | tr '\n' ' ')"
}

require_servers() {
	if ! command -v dovecot >/dev/null 2>&1 || ! command -v postfix >/dev/null 2>&1 ||
		[[ ! -x /usr/lib/dovecot/lmtp || ! -x /usr/lib/dovecot/imap ]]; then
		die "dovecot or postfix is not installed: run \`bash scripts/mail.sh install\` (or make test-deps)"
	fi
	[[ $(id -u) -eq 0 ]] || die "needs root: the masters of Postfix and Dovecot run as root and switch users"
}

check_only() {
	[[ -z $1 || $1 == dovecot || $1 == postfix ]] || die "--only must be dovecot or postfix, not '$1'"
}

# The helpers below read /proc with bash builtins only: stop scans every
# process, and a fork per process takes seconds on a busy machine.

# proc_stat sets proc_state and proc_sid (session id) of pid $1, or fails
# if there is no such process.
proc_stat() {
	local line
	[[ -n $1 ]] || return 1
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	# The fields after the command name, which may contain anything but
	# ends with the last ')'.
	local -a fields
	read -r -a fields <<<"${line##*) }"
	proc_state=${fields[0]} proc_sid=${fields[3]}
}

# running reports whether pid $1 exists and is not a zombie.
running() {
	proc_stat "$1" && [[ $proc_state != Z && $proc_state != X ]]
}

# alive reports whether pid $1 (from a pidfile, so possibly stale and reused)
# is running the executable $2.
alive() {
	running "$1" && [[ /proc/$1/exe -ef $2 ]]
}

dovecot_exe=/usr/sbin/dovecot
postfix_exe=/usr/lib/postfix/sbin/master

# Where each server keeps its master's pid: Dovecot in its base_dir, Postfix
# in its queue directory.
dovecot_pidfile() { echo "$1/dovecot/run/master.pid"; }
postfix_pidfile() { echo "$1/postfix-queue/pid/master.pid"; }

# instance_name gives DIR's Dovecot a name of its own, which shows in the
# titles of its processes.
instance_name() {
	echo "kakehashi-mail-$(printf '%s' "$1" | cksum | cut -d' ' -f1)"
}

# session_members prints the live pids of session $1 other than its leader.
# Both masters lead a session of their own (setsid), which their children
# stay in: that is how stop finds children that outlive their master.
session_members() {
	local sid=$1 p pid
	[[ -n $sid ]] || return 0
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[[ $pid != "$sid" ]] || continue
		if proc_stat "$pid" && [[ $proc_sid == "$sid" && $proc_state != Z && $proc_state != X ]]; then
			echo "$pid"
		fi
	done
	return 0
}

log_tail() {
	local dir=$1 f
	for f in "$dir/dovecot.stdout" "$dir/dovecot.log" "$dir/postfix.stdout" "$dir/postfix.log"; do
		if [[ -s $f ]]; then
			echo "--- tail of $f ---" >&2
			tail -n 30 "$f" >&2
		fi
	done
}

# load_settings reads what start recorded in DIR/settings.
load_settings() {
	local f=$1/settings line
	[[ -r $f ]] || die "no $f: run \`$prog start --dir $1\` first"
	while IFS= read -r line; do
		case $line in
		gateway_domain=*) gateway_domain=${line#*=} ;;
		customer_domains=*) read -r -a customer_domains <<<"${line#*=}" ;;
		bounce_domain=*) bounce_domain=${line#*=} ;;
		esac
	done <"$f"
}

# b64 prints its argument base64-encoded on one line: passwords go into the
# files in that form, so any character is fine in one.
b64() {
	printf '%s' "$1" | base64 -w0
}

# write_users regenerates, from DIR/users (the adduser list, "ADDRESS
# BASE64-PASSWORD" lines) and the gateway's account, Dovecot's passwd-file
# and Postfix's recipient table. Both servers notice the new files without a
# restart.
write_users() {
	local dir=$1 gw_b64=$2
	local users=$dir/dovecot/users recipients=$dir/postfix/recipients
	local addr pw local_part domain
	mkdir -p "$dir/dovecot"
	{
		printf 'gateway@%s:{PLAIN.BASE64}%s::::%s/mail/%s/gateway::\n' "$gateway_domain" "$gw_b64" "$dir" "$gateway_domain"
		if [[ -s $dir/users ]]; then
			while read -r addr pw; do
				local_part=${addr%@*} domain=${addr##*@}
				printf '%s:{PLAIN.BASE64}%s::::%s/mail/%s/%s::\n' "$addr" "$pw" "$dir" "$domain" "$local_part"
			done <"$dir/users"
		fi
	} >"$users.tmp"
	chgrp dovecot "$users.tmp"
	chmod 0640 "$users.tmp"
	local old
	old=$(mtime_of "$users")
	mv "$users.tmp" "$users"
	bump_mtime "$users" "$old"

	if [[ -d $dir/postfix ]]; then
		{
			# Catch-alls: any local part at the gateway domain (Dovecot
			# takes it) or at the bounce domain (Dovecot refuses it).
			printf '@%s OK\n' "$gateway_domain" "$bounce_domain"
			if [[ -s $dir/users ]]; then
				while read -r addr pw; do
					printf '%s OK\n' "$addr"
				done <"$dir/users"
			fi
		} >"$recipients.tmp"
		mv "$recipients.tmp" "$recipients"
		postmap_fresh "$dir/postfix" "$recipients"
	fi
}

# Both servers notice a changed table by its mtime, which has whole
# seconds: Postfix's daemons compare it with the one at open before taking
# the next connection, Dovecot's auth compares mtime and size at most once a
# second. So a table rewritten within the same second as the previous
# version is dated a second after it (bump_mtime), and a change returns
# only once the clock has passed the second of the last look Dovecot may
# have taken (wait_next_second).

# bump_mtime makes file $1's mtime later than $2 (its mtime before the
# rewrite).
bump_mtime() {
	local f=$1 old=$2 new
	new=$(stat -c %Y "$f")
	if ((new <= old)); then
		touch -d "@$((old + 1))" "$f"
	fi
}

mtime_of() {
	if [[ -e $1 ]]; then stat -c %Y "$1"; else echo 0; fi
}

wait_next_second() {
	local now=$EPOCHREALTIME us
	# The rest of this second, plus a little, in microseconds.
	us=$((1000000 - 10#${now#*.} + 20000))
	sleep "$((us / 1000000)).$(printf '%06d' $((us % 1000000)))"
}

# postmap_fresh rebuilds hash:$2 and dates it after the old one.
postmap_fresh() {
	local cfg=$1 map=$2 old
	old=$(mtime_of "$map.db")
	postmap -c "$cfg" "hash:$map" || die "postmap $map failed"
	bump_mtime "$map.db" "$old"
}

# check_reachable fails unless the unprivileged users the servers switch to
# can reach DIR: the Postfix daemons chdir into their queue directory there
# and Dovecot delivers mail there as user mail.
check_reachable() {
	local dir=$1 u
	for u in postfix mail dovecot; do
		if ! setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups test -x "$dir"; then
			local p=$dir blocked=""
			while [[ $p != / ]]; do
				p=$(dirname "$p")
				if ! setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups test -x "$p/."; then
					blocked=$p
				fi
			done
			die "user $u cannot reach $dir (search permission missing on ${blocked:-an ancestor}); use a directory whose ancestors are world-searchable (chmod o+x)"
		fi
	done
}

# make_cert writes a self-signed certificate for both servers, once per DIR.
make_cert() {
	local dir=$1 host=$2
	[[ -s $dir/tls/cert.pem && -s $dir/tls/key.pem ]] && return 0
	mkdir -p "$dir/tls"
	chmod 0755 "$dir/tls"
	(
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-days 3650 -subj "/CN=$host" \
			-addext "subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1" \
			-keyout "$dir/tls/key.pem.tmp" -out "$dir/tls/cert.pem.tmp" 2>"$dir/tls/openssl.err"
	) || {
		cat "$dir/tls/openssl.err" >&2
		die "openssl could not make a certificate"
	}
	chmod 0644 "$dir/tls/cert.pem.tmp"
	mv "$dir/tls/key.pem.tmp" "$dir/tls/key.pem"
	mv "$dir/tls/cert.pem.tmp" "$dir/tls/cert.pem"
	rm -f "$dir/tls/openssl.err"
}

write_dovecot_conf() {
	local dir=$1 conf=$1/dovecot/dovecot.conf
	local mail_uid mail_gid
	mail_uid=$(id -u mail)
	mail_gid=$(id -g mail)
	mkdir -p "$dir/dovecot/run" "$dir/dovecot/state"
	chmod 0755 "$dir/dovecot"
	# Mailboxes belong to user mail: Dovecot will not deliver as root.
	mkdir -p "$dir/mail"
	chown mail:mail "$dir/mail"
	chmod 0700 "$dir/mail"

	# The gateway domain's catch-all, as a passwd-file keyed by domain (see
	# the second userdb below): one entry for the whole domain, pointing at
	# the gateway's mailbox and renaming the user to the gateway's.
	printf '%s:::::%s/mail/%s/gateway::user=gateway@%s\n' \
		"$gateway_domain" "$dir" "$gateway_domain" "$gateway_domain" >"$dir/dovecot/catchall.tmp"
	chgrp dovecot "$dir/dovecot/catchall.tmp"
	chmod 0640 "$dir/dovecot/catchall.tmp"
	mv "$dir/dovecot/catchall.tmp" "$dir/dovecot/catchall"

	cat >"$conf.tmp" <<EOF
# Throwaway Dovecot config written by scripts/mail.sh; do not edit, it is
# rewritten on every start. Nothing from /etc/dovecot is read.

# Our own names, so that this instance shares no sockets, state or process
# titles with any other Dovecot on the machine.
instance_name = $(instance_name "$dir")
base_dir = $dir/dovecot/run
state_dir = $dir/dovecot/state
log_path = $dir/dovecot.log
# The system's host name would otherwise show up in Received: headers and
# LMTP replies, and tests check that mail does not leak it.
hostname = mx.$gateway_domain
postmaster_address = postmaster@$gateway_domain

protocols = imap lmtp
listen = 127.0.0.1

mail_uid = $mail_uid
mail_gid = $mail_gid
first_valid_uid = $mail_uid
first_valid_gid = $mail_gid
mail_location = maildir:~/Maildir
# Throwaway mail: no fsync. On a busy disk an fsync can hold up the LMTP
# reply for seconds after the message is already visible over IMAP, and a
# Postfix stopped in that window delivers it a second time after restart.
mail_fsync = never
# Deliveries to a folder that does not exist yet create it.
lda_mailbox_autocreate = yes
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Junk {
    special_use = \\Junk
  }
}

# Loopback test accounts: plaintext LOGIN without TLS is fine, STARTTLS is
# there for clients that want it.
disable_plaintext_auth = no
# Tests try wrong passwords on purpose; they should not wait seconds for
# the answer (see also anvil below).
auth_failure_delay = 0
auth_mechanisms = plain login
ssl = yes
ssl_cert = <$dir/tls/cert.pem
ssl_key = <$dir/tls/key.pem
ssl_min_protocol = TLSv1.2
# No finite-field DH: without ssl_dh, whose parameters take long to make,
# a DHE handshake would fail; the EC key needs only ECDHE.
ssl_cipher_list = ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL
ssl_prefer_server_ciphers = yes

# Delivered-To: carries the RCPT TO address of each LMTP delivery. That is
# what tells the gateway which of its addresses a mail was for, as all of
# them share one mailbox. (final is the default; spelled out because the
# gateway depends on it.)
lmtp_hdr_delivery_address = final

# Accounts: explicit users (the gateway, customers) by full address.
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/dovecot/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/dovecot/users
}
# Anyone else at the gateway domain: looked up by domain alone, so every
# such address is the gateway's mailbox. No passdb: only the gateway's own
# address can log in. Unknown users at other domains are not found, and
# LMTP refuses them.
userdb {
  driver = passwd-file
  args = username_format=%d $dir/dovecot/catchall
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $lmtp_port
  }
}
service auth {
  # Postfix's SMTP AUTH (smtpd_sasl_type = dovecot) asks here.
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  # Without this socket Dovecot's auth keeps no per-IP penalty, which
  # would otherwise delay each failed login from 127.0.0.1 by seconds more.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  # Mail processes run as user mail, which is not in group dovecot.
  unix_listener stats-writer {
    mode = 0666
  }
}
EOF
	mv "$conf.tmp" "$conf"
}

write_postfix_conf() {
	local dir=$1 cfg=$1/postfix
	mkdir -p "$cfg"
	chmod 0755 "$cfg"
	local d domains="$gateway_domain, $bounce_domain"
	for d in "${customer_domains[@]}"; do
		domains+=", $d"
	done

	cat >"$cfg/main.cf.tmp" <<EOF
# Throwaway Postfix config written by scripts/mail.sh; do not edit, it is
# rewritten on every start. Nothing from /etc/postfix is read but the
# package's list of its files (meta_directory).
compatibility_level = 3.6
# Outside the config directory: postfix start wants everything in that
# owned by root, and the queue belongs to user postfix.
queue_directory = $dir/postfix-queue
data_directory = $dir/postfix-data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-kakehashi
maillog_file = $dir/postfix.log
# maillog_file must start with one of these.
maillog_file_prefixes = $dir

# Never the machine's host name: it would end up in headers and DSNs.
myhostname = mx.$gateway_domain
mydomain = $gateway_domain
myorigin = \$myhostname
smtpd_banner = \$myhostname ESMTP
# Nothing is delivered locally; every domain we serve is virtual.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no

inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Nothing here may need DNS: there is none.
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no

# Our domains, all in Dovecot, reached over LMTP. The recipient table has
# the customers' users and catch-alls for the gateway and bounce domains,
# so smtpd rejects unknown customers at RCPT time
# (smtpd_reject_unlisted_recipient is on by default) and accepts anything
# at the other two.
virtual_mailbox_domains = $domains
virtual_mailbox_maps = hash:$cfg/recipients
virtual_transport = lmtp:inet:127.0.0.1:$lmtp_port
# One recipient per LMTP transaction: Dovecot (2.3.19) adds Delivered-To
# only to a delivery with a single RCPT TO, and the gateway needs it on
# every copy of a mail for two of its addresses.
lmtp_destination_recipient_limit = 1
# The bounce domain has no users in Dovecot, so its LMTP refuses every
# recipient there with a 5xx, and Postfix, which had already accepted the
# mail, sends the sender a DSN. (A transport_maps entry with Postfix's
# error transport would not do: smtpd rejects recipients that resolve to
# it at RCPT time already, and error(8) runs only under the service names
# error and retry.)
# There is no outside to deliver to: relayed mail for other domains goes
# to Dovecot too, which knows no one there, so it bounces at once like mail
# to the bounce domain rather than sitting in the queue retrying DNS. (Not
# error:, for the same reason as above: relaying must be accepted.)
default_transport = lmtp:inet:127.0.0.1:$lmtp_port

# Mail Dovecot could not take (e.g. while it is stopped) is retried soon.
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 10s
delay_warning_time = 0

# Clients on loopback are the tests and the gateway standing in for remote
# senders: Postfix must not rewrite their headers nor add missing ones
# (From, Date, Message-Id), so what they send is what gets stored.
local_header_rewrite_clients =

smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
# In place of an SPF verifier (there is no DNS here): mail whose envelope
# sender is at a customer domain gets the header a verifier on this MX
# would write, spf=pass under its authserv-id mx.$gateway_domain (the one
# the gateway trusts); any other sender, and the null sender, gets no
# verdict. The gateway answers only mail that passed.
smtpd_sender_restrictions = check_sender_access hash:$cfg/spf
smtpd_tls_cert_file = $dir/tls/cert.pem
smtpd_tls_key_file = $dir/tls/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
# AUTH is checked by Dovecot; it is turned on for the submission port only
# (master.cf).
smtpd_sasl_type = dovecot
smtpd_sasl_path = $dir/dovecot/run/auth-postfix
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
EOF
	mv "$cfg/main.cf.tmp" "$cfg/main.cf"

	# All daemons unchrooted: the queue and the Dovecot socket are under DIR.
	cat >"$cfg/master.cf.tmp" <<EOF
# Written by scripts/mail.sh; see main.cf.
# service     type  private unpriv  chroot  wakeup  maxproc command
$smtp_port     inet  n       -       n       -       -       smtpd
$submission_port     inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix-kakehashi/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sender_restrictions=
pickup      unix  n       -       n       60      1       pickup
cleanup     unix  n       -       n       -       0       cleanup
qmgr        unix  n       -       n       300     1       qmgr
tlsmgr      unix  -       -       n       1000?   1       tlsmgr
rewrite     unix  -       -       n       -       -       trivial-rewrite
bounce      unix  -       -       n       -       0       bounce
defer       unix  -       -       n       -       0       bounce
trace       unix  -       -       n       -       0       bounce
verify      unix  -       -       n       -       1       verify
flush       unix  n       -       n       1000?   0       flush
proxymap    unix  -       -       n       -       -       proxymap
proxywrite  unix  -       -       n       -       1       proxymap
smtp        unix  -       -       n       -       -       smtp
relay       unix  -       -       n       -       -       smtp
showq       unix  n       -       n       -       -       showq
error       unix  -       -       n       -       -       error
retry       unix  -       -       n       -       -       error
discard     unix  -       -       n       -       -       discard
lmtp        unix  -       -       n       -       -       lmtp
anvil       unix  -       -       n       -       1       anvil
scache      unix  -       -       n       -       1       scache
postlog     unix-dgram n  -       n       -       1       postlogd
EOF
	mv "$cfg/master.cf.tmp" "$cfg/master.cf"
	# Postfix commands will not read a main.cf modified within the last
	# second or so; they sleep until it is older (against half-written
	# files). Ours are complete, so date them back rather than wait.
	touch -d "@$((EPOCHSECONDS - 2))" "$cfg/main.cf" "$cfg/master.cf"

	for d in "${customer_domains[@]}"; do
		printf '%s PREPEND Authentication-Results: mx.%s; spf=pass smtp.mailfrom=%s\n' "${d,,}" "$gateway_domain" "${d,,}"
	done >"$cfg/spf.tmp"
	mv "$cfg/spf.tmp" "$cfg/spf"
	postmap_fresh "$cfg" "$cfg/spf"
}

# check_dovecot_free and check_postfix_free fail if the server already runs
# in DIR or its ports are taken, before start touches anything.
check_dovecot_free() {
	local dir=$1 pid p
	pid=$(read_pid "$(dovecot_pidfile "$dir")")
	if alive "$pid" "$dovecot_exe"; then
		die "dovecot is already running in $dir (pid $pid); stop it first"
	fi
	for p in "$imap_port" "$lmtp_port"; do
		port_open "$p" && die "127.0.0.1:$p is already in use (a system dovecot? try \`service dovecot stop\`)"
	done
	return 0
}

check_postfix_free() {
	local dir=$1 pid p
	pid=$(read_pid "$(postfix_pidfile "$dir")")
	if alive "$pid" "$postfix_exe"; then
		die "postfix is already running in $dir (pid $pid); stop it first"
	fi
	for p in "$smtp_port" "$submission_port"; do
		port_open "$p" && die "127.0.0.1:$p is already in use (a system postfix? try \`service postfix stop\`)"
	done
	return 0
}

start_dovecot() {
	local dir=$1 timeout=$2 pid
	rm -f "$(dovecot_pidfile "$dir")"
	# Left from an older config this one turns off (see service anvil):
	# auth would keep trying it.
	rm -f "$dir/dovecot/run/anvil-auth-penalty"
	started+=(dovecot)
	# -F keeps Dovecot's master in the foreground of its own process, so its
	# pid is $!. setsid detaches it from our session so a terminal's Ctrl-C
	# does not reach it; all standard streams are redirected so that a
	# caller capturing our output does not wait for Dovecot to exit.
	: >"$dir/dovecot.stdout"
	setsid dovecot -F -c "$dir/dovecot/dovecot.conf" >>"$dir/dovecot.stdout" 2>&1 </dev/null &
	pid=$!
	# Dovecot writes its own pidfile only once it is up; a failed start
	# must be able to stop it before that.
	echo "$pid" >"$dir/dovecot.pid"
	local deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		if ! running "$pid"; then
			log_tail "$dir"
			die "dovecot exited during startup (see $dir/dovecot.stdout and $dir/dovecot.log)"
		fi
		if port_open "$imap_port" && port_open "$lmtp_port"; then
			return 0
		fi
		sleep 0.05
	done
	kill -TERM "$pid" 2>/dev/null || true
	log_tail "$dir"
	die "dovecot did not accept TCP on 127.0.0.1:$imap_port (imap) and 127.0.0.1:$lmtp_port (lmtp) within ${timeout}s"
}

start_postfix() {
	local dir=$1 timeout=$2 cfg=$1/postfix pidfile pid
	pidfile=$(postfix_pidfile "$dir")
	started+=(postfix)
	# postfix start creates the rest of the queue; the postfix command
	# needs to chdir into it first. The master daemonizes: it is no child
	# of ours.
	: >"$dir/postfix.stdout"
	mkdir -p "$dir/postfix-queue"
	# Once the queue exists, skip the integrity checks of postfix start
	# (the file quick-start tells it to): they take a second or more, and
	# tests restart Postfix.
	if [[ -d $dir/postfix-queue/active && -d $dir/postfix-data ]]; then
		touch "$dir/postfix-queue/quick-start"
	fi
	if ! setsid postfix -c "$cfg" start >>"$dir/postfix.stdout" 2>&1 </dev/null; then
		log_tail "$dir"
		die "postfix did not start (see $dir/postfix.stdout and $dir/postfix.log)"
	fi
	local deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		pid=$(read_pid "$pidfile")
		if [[ -n $pid ]] && ! running "$pid"; then
			log_tail "$dir"
			die "postfix exited during startup (see $dir/postfix.log)"
		fi
		if [[ -n $pid ]] && port_open "$smtp_port" && port_open "$submission_port"; then
			# Postfix binds with SO_REUSEPORT: a port picked by another
			# start at the same moment is shared rather than refused. The
			# later of the two sees both listeners and gives the port up
			# (undo_start stops this Postfix).
			local p
			for p in "$smtp_port" "$submission_port"; do
				if (($(listeners "$p") > 1)); then
					die "127.0.0.1:$p is already in use (another server listens on it too)"
				fi
			done
			return 0
		fi
		sleep 0.05
	done
	[[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null
	log_tail "$dir"
	die "postfix did not accept TCP on 127.0.0.1:$smtp_port (smtp) and 127.0.0.1:$submission_port (submission) within ${timeout}s"
}

stop_watchdog() {
	local dir=$1 wd
	wd=$(read_pid "$dir/watchdog.pid")
	if [[ -n $wd ]] && running "$wd" && tr '\0' ' ' 2>/dev/null <"/proc/$wd/cmdline" | grep -q mail-watchdog; then
		kill -TERM "$wd" 2>/dev/null || true
	fi
	rm -f "$dir/watchdog.pid"
}

# start_watchdog makes sure one watchdog runs for DIR: once the parent is
# gone, it stops whatever of DIR's servers runs then (also ones restarted
# after the watchdog was started).
start_watchdog() {
	local dir=$1 parent=$2
	stop_watchdog "$dir"
	# shellcheck disable=SC2016 # expanded by the inner bash
	setsid bash -c '
		while kill -0 "$1" 2>/dev/null; do sleep 1; done
		# stop would kill the watchdog it finds: that is us.
		rm -f "$3/watchdog.pid"
		exec bash "$2" stop --dir "$3"
	' mail-watchdog "$parent" "$script" "$dir" >>"$dir/watchdog.log" 2>&1 </dev/null &
	echo $! >"$dir/watchdog.pid"
}

undo_start() {
	local rc=$? s
	((rc != 0)) || return 0
	for s in "${started[@]+"${started[@]}"}"; do
		"stop_$s" "$start_dir" >&2 || true
	done
	if [[ -z $only ]]; then
		stop_watchdog "$start_dir"
	fi
	exit "$rc"
}

cmd_start() {
	local dir="" timeout=30 parent_pid="" only="" gateway_pass=gateway-secret
	imap_port=1143 smtp_port=2525 submission_port=2587 lmtp_port=2424
	gateway_domain=contact.acme.test bounce_domain=bounce.test
	customer_domains=()
	while [[ $# -gt 0 ]]; do
		[[ $# -ge 2 ]] || usage_error "$1 needs a value"
		case $1 in
		--dir) dir=$2 ;;
		--imap-port) imap_port=$2 ;;
		--smtp-port) smtp_port=$2 ;;
		--submission-port) submission_port=$2 ;;
		--lmtp-port) lmtp_port=$2 ;;
		--gateway-domain) gateway_domain=$2 ;;
		--customer-domain) customer_domains+=("$2") ;;
		--bounce-domain) bounce_domain=$2 ;;
		--gateway-pass) gateway_pass=$2 ;;
		--only) only=$2 ;;
		--timeout) timeout=$2 ;;
		--parent-pid) parent_pid=$2 ;;
		*) usage_error "start: unknown option $1" ;;
		esac
		shift 2
	done
	[[ -n $dir ]] || usage_error "start: --dir DIR is required"
	[[ ${#customer_domains[@]} -gt 0 ]] || customer_domains=(mail.test)
	local p q
	for p in "$imap_port" "$smtp_port" "$submission_port" "$lmtp_port"; do
		check_port "$p"
	done
	[[ $(printf '%s\n' "$imap_port" "$smtp_port" "$submission_port" "$lmtp_port" | sort -u | wc -l) -eq 4 ]] ||
		die "the four ports must differ: $imap_port $smtp_port $submission_port $lmtp_port"
	local -a all_domains=("$gateway_domain" "$bounce_domain" "${customer_domains[@]}")
	for p in "${all_domains[@]}"; do
		check_domain "$p"
	done
	[[ $(printf '%s\n' "${all_domains[@],,}" | sort -u | wc -l) -eq ${#all_domains[@]} ]] ||
		die "the gateway, bounce and customer domains must all differ: ${all_domains[*]}"
	[[ -n $gateway_pass ]] || die "--gateway-pass must not be empty"
	check_only "$only"
	[[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || die "--timeout must be a positive number of seconds"
	[[ -z $parent_pid || $parent_pid =~ ^[0-9]+$ ]] || die "--parent-pid must be a pid"
	require_servers

	if [[ ! -d $dir ]]; then
		mkdir -p "$dir"
		chmod 0711 "$dir"
	fi
	dir=$(cd "$dir" && pwd)
	# Unix socket paths are at most 107 bytes; Dovecot's longest under its
	# base_dir is about 30.
	q="$dir/dovecot/run/"
	((${#q} <= 75)) || die "--dir is too long for Unix socket paths under it (keep it under 60 characters): $dir"
	[[ $dir != *[[:space:]:,=]* ]] || die "--dir must not contain whitespace, ':', ',' or '=': $dir"
	chmod go+x "$dir"
	check_reachable "$dir"
	[[ $only == postfix ]] || check_dovecot_free "$dir"
	[[ $only == dovecot ]] || check_postfix_free "$dir"

	{
		echo "gateway_domain=$gateway_domain"
		echo "customer_domains=${customer_domains[*]}"
		echo "bounce_domain=$bounce_domain"
		echo "ports=imap:$imap_port smtp:$smtp_port submission:$submission_port lmtp:$lmtp_port"
	} >"$dir/settings"
	touch "$dir/users"
	chmod 0600 "$dir/users"

	make_cert "$dir" "mx.$gateway_domain"
	if [[ $only != postfix ]]; then
		write_dovecot_conf "$dir"
	fi
	if [[ $only != dovecot ]]; then
		write_postfix_conf "$dir"
	fi
	write_users "$dir" "$(b64 "$gateway_pass")"

	if [[ -n $parent_pid ]]; then
		start_watchdog "$dir" "$parent_pid"
	fi
	# A failed start leaves nothing running that it started.
	start_dir=$dir started=()
	trap undo_start EXIT
	# Dovecot first: Postfix hands it mail and asks it about AUTH.
	if [[ $only != postfix ]]; then
		start_dovecot "$dir" "$timeout"
	fi
	if [[ $only != dovecot ]]; then
		start_postfix "$dir" "$timeout"
	fi
	trap - EXIT

	echo "IMAP=127.0.0.1:$imap_port SMTP=127.0.0.1:$smtp_port SUBMISSION=127.0.0.1:$submission_port LMTP=127.0.0.1:$lmtp_port DIR=$dir"
}

parse_dir() {
	# Sets dir from "--dir DIR" and only from "--only X"; other arguments
	# are left in rest[].
	dir="" only="" rest=()
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir | --only)
			[[ $# -ge 2 ]] || usage_error "$1 needs a value"
			if [[ $1 == --dir ]]; then dir=$2; else only=$2; fi
			shift 2
			;;
		--dir=*)
			dir=${1#--dir=}
			shift
			;;
		--only=*)
			only=${1#--only=}
			shift
			;;
		*)
			rest+=("$1")
			shift
			;;
		esac
	done
	[[ -n $dir ]] || usage_error "--dir DIR is required"
	check_only "$only"
}

cmd_adduser() {
	parse_dir "$@"
	set -- "${rest[@]+"${rest[@]}"}"
	[[ -z $only ]] || usage_error "adduser: --only makes no sense here"
	[[ $# -eq 2 ]] || usage_error "adduser: want --dir DIR ADDRESS PASSWORD"
	local addr=${1,,} pass=$2
	[[ -d $dir ]] || die "no such directory: $dir"
	dir=$(cd "$dir" && pwd)
	load_settings "$dir"
	require_servers
	[[ $addr =~ ^[a-z0-9._+-]+@[a-z0-9.-]+$ ]] || die "not a plain mail address (letters, digits, . _ + - before the @): '$1'"
	[[ -n $pass ]] || die "the password must not be empty"
	local domain=${addr##*@} d ok=""
	for d in "$gateway_domain" "${customer_domains[@]}"; do
		[[ $domain == "${d,,}" ]] && ok=1
	done
	[[ -n $ok ]] || die "$addr is not at a domain of this server (${customer_domains[*]} $gateway_domain)"
	[[ $addr != "gateway@${gateway_domain,,}" ]] || die "the gateway's account is set with start --gateway-pass"
	# The gateway's password is in Dovecot's file already; keep it.
	local gw_b64
	gw_b64=$(sed -n "1s/^[^:]*:{PLAIN.BASE64}\([^:]*\):.*/\1/p" "$dir/dovecot/users")
	[[ -n $gw_b64 ]] || die "cannot read the gateway's entry from $dir/dovecot/users"
	{
		grep -v "^$addr " "$dir/users" || true
		echo "$addr $(b64 "$pass")"
	} >"$dir/users.tmp"
	chmod 0600 "$dir/users.tmp"
	mv "$dir/users.tmp" "$dir/users"
	write_users "$dir" "$gw_b64"
	wait_next_second
	echo "$prog: $addr ready"
}

stop_dovecot() {
	local dir=$1 pid
	pid=$(read_pid "$(dovecot_pidfile "$dir")")
	[[ -n $pid ]] || pid=$(read_pid "$dir/dovecot.pid")
	stop_session dovecot "$dovecot_exe" "$pid"
	rm -f "$(dovecot_pidfile "$dir")" "$dir/dovecot.pid"
}

stop_postfix() {
	local dir=$1 pid
	pid=$(read_pid "$(postfix_pidfile "$dir")")
	# Straight to the master rather than `postfix stop`, which would first
	# check a config that may be what is broken.
	stop_session postfix "$postfix_exe" "$pid"
	rm -f "$(postfix_pidfile "$dir")"
}

# stop_session stops the master $3 (running $2) of server $1, then whatever
# of its children outlives it: the masters take their children down, but
# one busy with a client may linger a moment.
stop_session() {
	local what=$1 exe=$2 pid=$3 kids
	if ! alive "$pid" "$exe"; then
		echo "$prog: $what not running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	wait_gone "$what" 15 "$pid"
	kids=$(session_members "$pid")
	if [[ -n $kids ]]; then
		# shellcheck disable=SC2086 # a list of pids
		kill -TERM $kids 2>/dev/null || true
		# shellcheck disable=SC2086
		wait_gone "$what's children" 5 $kids
	fi
	echo "$prog: stopped $what (pid $pid)"
}

# wait_gone waits up to $2 seconds for the pids after it to exit, then kills
# them.
wait_gone() {
	local what=$1 secs=$2 p left
	shift 2
	local deadline=$((SECONDS + secs))
	while :; do
		left=()
		for p in "$@"; do
			running "$p" && left+=("$p")
		done
		[[ ${#left[@]} -eq 0 ]] && return 0
		((SECONDS < deadline)) || break
		sleep 0.05
	done
	echo "$prog: $what (pid ${left[*]}) ignored SIGTERM for ${secs}s; sending SIGKILL" >&2
	kill -KILL "${left[@]}" 2>/dev/null || true
	deadline=$((SECONDS + 5))
	for p in "${left[@]}"; do
		while running "$p" && ((SECONDS < deadline)); do
			sleep 0.05
		done
		running "$p" && die "$what (pid $p) did not exit"
	done
	return 0
}

cmd_stop() {
	parse_dir "$@"
	[[ ${#rest[@]} -eq 0 ]] || usage_error "stop: unexpected arguments: ${rest[*]}"
	[[ -d $dir ]] || die "no such directory: $dir"
	dir=$(cd "$dir" && pwd)
	if [[ -z $only ]]; then
		stop_watchdog "$dir"
	fi
	# Postfix first: it feeds Dovecot.
	[[ $only == dovecot ]] || stop_postfix "$dir"
	[[ $only == postfix ]] || stop_dovecot "$dir"
}

cmd_status() {
	parse_dir "$@"
	[[ ${#rest[@]} -eq 0 ]] || usage_error "status: unexpected arguments: ${rest[*]}"
	local pid rc=0
	if [[ $only != postfix ]]; then
		pid=$(read_pid "$(dovecot_pidfile "$dir")")
		if alive "$pid" "$dovecot_exe"; then
			echo "dovecot running pid=$pid"
		else
			echo "dovecot stopped"
			rc=1
		fi
	fi
	if [[ $only != dovecot ]]; then
		pid=$(read_pid "$(postfix_pidfile "$dir")")
		if alive "$pid" "$postfix_exe"; then
			echo "postfix running pid=$pid"
		else
			echo "postfix stopped"
			rc=1
		fi
	fi
	return $rc
}

main() {
	[[ $# -ge 1 ]] || usage_error "missing command"
	local cmd=$1
	shift
	case $cmd in
	install) cmd_install "$@" ;;
	start) cmd_start "$@" ;;
	adduser) cmd_adduser "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	-h | --help | help) usage ;;
	*) usage_error "unknown command: $cmd" ;;
	esac
}

main "$@"
