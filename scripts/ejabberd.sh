#!/usr/bin/env bash
# ejabberd.sh installs ejabberd from Debian's packages and runs throwaway
# instances of it on loopback, as a second XMPP server beside Prosody. It
# takes the same commands and options as scripts/prosody.sh and prints the
# same lines, so that the demo and the end-to-end tests (internal/testenv)
# drive either server the same way.
#
# Each instance is its own Erlang node: its own node name, cookie, Mnesia
# spool, log and distribution port, and no epmd (-start_epmd false with a
# fixed -erl_epmd_port, as ejabberdctl does with ERL_DIST_PORT), so several
# run at once and nothing is left behind. ejabberdctl itself is not used: as
# root it switches to the "ejabberd" user, which cannot write to DIR, and as
# anyone else it refuses to run.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

prog=ejabberd.sh

usage() {
	cat <<'EOF'
Usage:
  ejabberd.sh install
      Install ejabberd from Debian's packages if it is missing (needs root or
      sudo). The package's own system service is not left running.

  ejabberd.sh start --dir DIR [--c2s-port N] [--component-port N] [--http-port N]
                    [--secret S] [--inside DOMAIN] [--outside DOMAIN]
                    [--component DOMAIN]... [--upload DOMAIN=HOST]...
                    [--upload-limit BYTES] [--log-level LEVEL]
                    [--timeout SECONDS] [--parent-pid PID]
      Write DIR/ejabberd.yml, start ejabberd in the background on 127.0.0.1,
      wait until its ports accept TCP, then print
        C2S=127.0.0.1:N COMPONENT=127.0.0.1:M HTTP=127.0.0.1:H DIR=DIR
      followed by one line per upload service,
        UPLOAD=DOMAIN URL=http://HOST:H/
      The options and defaults are prosody.sh's: --c2s-port 5222,
      --component-port 5347, --http-port 5280, --secret secret, --inside
      corp.test, --outside ext.test, --upload-limit 67108864 (64 MiB),
      --log-level info, --timeout 30, and, when no --component is given,
      gw.corp.test and contact.acme.test. Every component may connect more
      than once (ejabberd balances stanzas between the connections; see
      README) and gets only its own domain (global_routes: false).
      Each --upload adds a XEP-0363 HTTP upload service (mod_http_upload)
      as DOMAIN, whose slots are http://HOST:H/upload/...; ejabberd hangs
      an upload service off a virtual host, so DOMAIN's parent domain
      becomes one (upload.acme.test adds acme.test, with no users) and no
      two services may share a parent. HOST is a 127.x.y.z address
      (ejabberd then listens on it too) or a name that resolves to
      127.0.0.1, such as localhost; every HOST must differ. Anyone, users
      and components, may upload to every service. The default services
      are prosody.sh's: upload.INSIDE=127.0.0.1, upload.PARENT=localhost
      (PARENT as in prosody.sh) and upload.OUTSIDE=127.0.0.2.
      Accounts live in DIR/spool, so a start after a stop keeps them.
      With --parent-pid, the instance is stopped once that process is gone.

  ejabberd.sh register --dir DIR USER HOST PASS
      Create (or reset the password of) USER@HOST; needs the instance running.

  ejabberd.sh stop --dir DIR
      Stop the instance started in DIR and wait for it to exit.

  ejabberd.sh status --dir DIR
      Exit 0 and print the pid if the instance in DIR is running, 1 if not.
EOF
}

# Where install keeps the policy-rc.d it replaced ("" if there was none).
policy_rc=/usr/sbin/policy-rc.d
policy_backup=""

cmd_install() {
	[[ $# -eq 0 ]] || usage_error "install takes no arguments"
	if command -v erl >/dev/null 2>&1 && erl_libs >/dev/null 2>&1; then
		echo "$prog: ejabberd already installed: $(erl_libs)"
		return 0
	fi
	export DEBIAN_FRONTEND=noninteractive
	# The package would start its system service on the default ports (5222,
	# 5269, 5280, 5443) and epmd; a policy-rc.d that answers 101 tells
	# invoke-rc.d not to start anything. Put back whatever was there before.
	if [[ -e $policy_rc ]]; then
		policy_backup=$(mktemp)
		as_root cp -p "$policy_rc" "$policy_backup"
	fi
	trap restore_policy EXIT
	printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy_rc" >/dev/null
	as_root chmod 0755 "$policy_rc"

	# The package's scripts may start an epmd daemon; our instances use
	# none, so one that was not running before is stopped afterwards.
	local epmd_before=""
	if pgrep -x epmd >/dev/null 2>&1; then
		epmd_before=1
	fi
	# apt-get update only when the package lists do not know ejabberd yet.
	if ! apt-cache show ejabberd >/dev/null 2>&1; then
		as_root apt-get update
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y ejabberd

	trap - EXIT
	restore_policy
	if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
		as_root systemctl disable --now ejabberd >/dev/null 2>&1 || true
	fi
	as_root service ejabberd stop >/dev/null 2>&1 || true
	if [[ -z $epmd_before ]] && command -v epmd >/dev/null 2>&1 && ! epmd -names 2>/dev/null | grep -q '^name '; then
		epmd -kill >/dev/null 2>&1 || true
	fi
	erl_libs >/dev/null || die "apt-get install ejabberd finished but its Erlang code was not found"
	echo "$prog: installed $(dpkg-query -W -f='ejabberd ${Version}' ejabberd 2>/dev/null || echo ejabberd)"
}

# erl_libs prints the directory that holds ejabberd-VERSION/ebin (Debian's
# ejabberdctl sets ERL_LIBS to it), or fails.
erl_libs() {
	local d
	for d in /usr/lib/*/ejabberd-*/ebin /usr/lib/ejabberd-*/ebin; do
		if [[ -f $d/ejabberd.app ]]; then
			dirname "$(dirname "$d")"
			return 0
		fi
	done
	return 1
}

require_ejabberd() {
	if ! command -v erl >/dev/null 2>&1 || ! erl_libs >/dev/null 2>&1; then
		die "ejabberd is not installed: run \`bash scripts/ejabberd.sh install\`"
	fi
}

# yaml_str prints its argument as a double-quoted YAML string.
yaml_str() {
	local s=$1
	[[ $s != *$'\n'* && $s != *$'\r'* ]] || die "value contains a newline: $s"
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# tcp_open reports whether something accepts TCP on $1:$2.
tcp_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}


# alive reports whether pid $1 (read from a pidfile, so possibly stale and
# reused) is the Erlang node of the instance in $2.
alive() {
	running "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2/spool"
}

log_tail() {
	local dir=$1 f
	for f in "$dir/ejabberd.stdout" "$dir/logs/error.log" "$dir/logs/ejabberd.log"; do
		if [[ -s $f ]]; then
			echo "--- tail of $f ---" >&2
			tail -n 30 "$f" >&2
		fi
	done
}

# node_env reads DIR/node.env, which start writes: NODE, COOKIE and
# DIST_PORT of the instance in $1.
node_env() {
	local f=$1/node.env
	[[ -r $f ]] || die "no $f: run \`$prog start --dir $1\` first"
	NODE=$(sed -n 's/^NODE=//p' "$f")
	COOKIE=$(sed -n 's/^COOKIE=//p' "$f")
	DIST_PORT=$(sed -n 's/^DIST_PORT=//p' "$f")
	[[ -n $NODE && -n $COOKIE && -n $DIST_PORT ]] || die "$f is incomplete"
}

# erl_str prints its argument as an Erlang UTF-8 binary literal.
erl_str() {
	local s=$1
	[[ $s != *$'\n'* && $s != *$'\r'* ]] || die "value contains a newline: $s"
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '<<"%s"/utf8>>' "$s"
}

# node_call evaluates the Erlang expression $2 on the instance in $1 and
# prints the result as {ok, Result}. erl_call (from erlang-base) connects
# straight to the node's distribution port, without epmd and without
# starting a VM of its own (ejabberdctl's way takes a second or more).
node_call() {
	local dir=$1 expr=$2 erl_call
	node_env "$dir"
	erl_call=$(command -v erl_call 2>/dev/null || echo /usr/lib/erlang/bin/erl_call)
	[[ -x $erl_call ]] || die "erl_call not found (Debian's erlang-base has it)"
	printf '%s\n' "$expr" | "$erl_call" -address "localhost:$DIST_PORT" -c "$COOKIE" -timeout 30 -e
}

cmd_start() {
	local dir="" c2s_port=5222 component_port=5347 http_port=5280 secret=secret
	local inside=corp.test outside=ext.test log_level=info timeout=30 parent_pid=""
	local upload_limit=67108864
	local -a components=() uploads=()
	xmpp_start_options "$@"
	local c

	# Upload services: upload_domains[i] is served at http://upload_hosts[i]:PORT/
	# by mod_http_upload on virtual host upload_vhosts[i]. http_ifaces are
	# the addresses the HTTP listeners bind; vhosts are all virtual hosts.
	local -a upload_domains=() upload_hosts=() upload_vhosts=() http_ifaces=(127.0.0.1)
	local -a vhosts=("$inside" "$outside")
	if [[ ${#uploads[@]} -eq 0 ]]; then
		uploads=("upload.$inside=127.0.0.1")
		local parent=""
		for c in "${components[@]}"; do
			if [[ $c != *".$inside" ]]; then
				parent=$(parent_domain "$c")
				break
			fi
		done
		if [[ -n $parent && $parent != "$inside" && $parent != "$outside" ]]; then
			uploads+=("upload.$parent=localhost")
		fi
		uploads+=("upload.$outside=127.0.0.2")
	fi
	local u d h v
	for u in "${uploads[@]}"; do
		[[ $u == ?*=?* ]] || die "--upload wants DOMAIN=HOST, not '$u'"
		d=${u%%=*} h=${u#*=}
		check_domain "$d"
		check_domain "$h"
		v=$(parent_domain "$d")
		[[ -n $v ]] || die "upload service $d has no parent domain to hang off (ejabberd needs a virtual host)"
		[[ $d != "$inside" && $d != "$outside" ]] || die "upload service $d is also a user host"
		for c in "${components[@]}"; do
			[[ $d != "$c" ]] || die "upload service $d is also a component"
			[[ $v != "$c" ]] || die "upload service $d would make component $c a virtual host"
		done
		for c in "${upload_domains[@]}"; do
			[[ $d != "$c" ]] || die "upload service $d is given twice"
		done
		for c in "${upload_vhosts[@]}"; do
			[[ $v != "$c" ]] || die "upload services share the parent domain $v (ejabberd has one per virtual host)"
		done
		for c in "${upload_hosts[@]}"; do
			[[ ${h,,} != "${c,,}" ]] || die "upload services share the HTTP host $h"
		done
		if [[ $h =~ ^[0-9.]+$ ]]; then
			[[ $h =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "upload host $h is not a 127.x.y.z address"
			[[ $h == 127.0.0.1 ]] || http_ifaces+=("$h")
		fi
		if [[ $v != "$inside" && $v != "$outside" ]]; then
			vhosts+=("$v")
		fi
		upload_domains+=("$d")
		upload_hosts+=("$h")
		upload_vhosts+=("$v")
	done
	[[ -n $secret ]] || die "--secret must not be empty"
	local ej_level
	case $log_level in
	debug | info | error) ej_level=$log_level ;;
	warn) ej_level=warning ;;
	*) die "--log-level must be debug, info, warn or error" ;;
	esac
	[[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || die "--timeout must be a positive number of seconds"
	[[ -z $parent_pid || $parent_pid =~ ^[0-9]+$ ]] || die "--parent-pid must be a pid"
	require_ejabberd

	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	local cfg=$dir/ejabberd.yml pidfile=$dir/ejabberd.pid

	local old
	old=$(read_pid "$pidfile")
	if alive "$old" "$dir"; then
		die "an instance is already running in $dir (pid $old); stop it first"
	fi
	rm -f "$pidfile"
	local p
	for p in "$c2s_port" "$component_port" "$http_port"; do
		if port_open "$p"; then
			die "127.0.0.1:$p is already in use (a system ejabberd? try \`service ejabberd stop\`)"
		fi
	done
	for h in "${http_ifaces[@]:1}"; do
		if tcp_open "$h" "$http_port"; then
			die "$h:$http_port is already in use"
		fi
	done

	# The node's name and cookie are chosen at the first start and kept
	# (Mnesia's spool belongs to the node name); its Erlang distribution
	# port, on loopback only, is any free one at each start. register
	# reads all three from DIR/node.env.
	mkdir -p "$dir/spool" "$dir/logs"
	local node cookie dist
	if [[ -s $dir/node.env ]]; then
		node_env "$dir"
		node=$NODE cookie=$COOKIE
	else
		node="kakehashi-$(od -An -N6 -tx1 /dev/urandom | tr -dc '0-9a-f')@localhost"
		cookie=$(od -An -N16 -tx1 /dev/urandom | tr -dc '0-9a-f')
	fi
	dist=$(free_port) || die "no free port for the Erlang distribution"
	(
		umask 077
		printf 'NODE=%s\nCOOKIE=%s\nDIST_PORT=%s\n' "$node" "$cookie" "$dist" >"$dir/node.env.tmp"
	)
	mv "$dir/node.env.tmp" "$dir/node.env"
	node_env "$dir"

	{
		cat <<EOF
# Throwaway ejabberd config written by scripts/ejabberd.sh; do not edit, it
# is rewritten on every start.
hosts:
EOF
		for v in "${vhosts[@]}"; do
			printf '  - %s\n' "$(yaml_str "$v")"
		done
		cat <<EOF
loglevel: $ej_level
log_rotate_count: 0
hide_sensitive_log_data: false
# No TLS anywhere: no certificates, and c2s offers no STARTTLS.
certfiles: []
# No s2s: all our domains are hosts or components of this one server, so
# nothing ever has to leave it; a stanza to any other domain bounces at once
# instead of waiting for DNS.
s2s_access: none
# Accounts, rosters and offline messages in Mnesia under DIR/spool.
auth_method: internal
auth_password_format: plain
default_db: mnesia
shaper: {}
acl: {}
access_rules:
  c2s:
    allow: all
  upload:
    allow: all

listen:
  # Plain-text auth over plain TCP: test accounts, loopback only.
  -
    port: $c2s_port
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
    starttls_required: false
    access: c2s
    shaper: none
  # XEP-0114 components, all with the same secret. global_routes: false
  # routes to a connection only the domain it authenticated as; ejabberd's
  # default (true) gives every connection to this listener every domain
  # listed here, so the gateway's inside component would receive half of
  # the personas' stanzas.
  -
    port: $component_port
    ip: "127.0.0.1"
    module: ejabberd_service
    global_routes: false
    shaper: none
    hosts:
EOF
		for c in "${components[@]}"; do
			printf '      %s:\n        password: %s\n' "$(yaml_str "$c")" "$(yaml_str "$secret")"
		done
		# One HTTP listener per loopback address of an upload service; the
		# services are told apart by the Host header and path.
		for h in "${http_ifaces[@]}"; do
			cat <<EOF
  -
    port: $http_port
    ip: $(yaml_str "$h")
    module: ejabberd_http
    request_handlers:
      /upload: mod_http_upload
EOF
		done
		# A host's modules in host_config replace these rather than add
		# to them, so every host with an upload service repeats them.
		# mod_blocking is XEP-0191: contacts block personas.
		local -a modules=(mod_roster mod_disco mod_ping mod_vcard mod_offline mod_privacy mod_blocking)
		printf '\nmodules:\n'
		printf '  %s: {}\n' "${modules[@]}"
		if [[ ${#upload_domains[@]} -gt 0 ]]; then
			printf '\nhost_config:\n'
			local i
			for i in "${!upload_domains[@]}"; do
				printf '  %s:\n    modules:\n' "$(yaml_str "${upload_vhosts[i]}")"
				printf '      %s: {}\n' "${modules[@]}"
				cat <<EOF
      mod_http_upload:
        hosts: [$(yaml_str "${upload_domains[i]}")]
        put_url: $(yaml_str "http://${upload_hosts[i]}:$http_port/upload")
        docroot: $(yaml_str "$dir/upload/${upload_domains[i]}")
        max_size: $upload_limit
        access: upload
        thumbnail: false
EOF
			done
		fi
	} >"$cfg.tmp"
	mv "$cfg.tmp" "$cfg"

	# erl execs the node itself, so its pid is $!. setsid detaches it from
	# our session so a terminal's Ctrl-C or hangup does not reach it; all
	# three standard streams are redirected so that a caller capturing our
	# output (e.g. Go's exec.Cmd.Output) does not wait for the node to exit.
	: >"$dir/ejabberd.stdout"
	(
		cd "$dir/spool"
		export EJABBERD_CONFIG_PATH=$cfg EJABBERD_LOG_PATH=$dir/logs/ejabberd.log
		export ERL_LIBS
		ERL_LIBS=$(erl_libs)
		export ERL_CRASH_DUMP=$dir/logs/erl_crash.dump ERL_CRASH_DUMP_BYTES=0
		exec setsid erl -sname "$NODE" -setcookie "$COOKIE" \
			-erl_epmd_port "$DIST_PORT" -start_epmd false -kernel inet_dist_use_interface '{127,0,0,1}' \
			+K true +P 250000 -noinput -mnesia dir "\"$dir/spool\"" -s ejabberd \
			>>"$dir/ejabberd.stdout" 2>&1 </dev/null
	) &
	local pid=$!

	http_up() {
		local a
		for a in "${http_ifaces[@]}"; do
			tcp_open "$a" "$http_port" || return 1
		done
	}
	local deadline=$((SECONDS + timeout)) ready=""
	while ((SECONDS < deadline)); do
		if ! running "$pid"; then
			log_tail "$dir"
			# The distribution port (free a moment ago) may have been taken.
			if grep -q eaddrinuse "$dir/ejabberd.stdout" 2>/dev/null; then
				die "a port is already in use (see $dir/ejabberd.stdout)"
			fi
			die "ejabberd exited during startup (see $dir/logs/ejabberd.log)"
		fi
		if grep -qE 'Failed to start|eaddrinuse|Invalid value|Unknown option|failed to start' "$dir/logs/ejabberd.log" "$dir/ejabberd.stdout" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			log_tail "$dir"
			if grep -q eaddrinuse "$dir/logs/ejabberd.log" "$dir/ejabberd.stdout" 2>/dev/null; then
				die "a port is already in use (see $dir/logs/ejabberd.log)"
			fi
			die "ejabberd failed to start (see $dir/logs/ejabberd.log)"
		fi
		if port_open "$c2s_port" && port_open "$component_port" && http_up; then
			ready=1
			break
		fi
		sleep 0.1
	done
	if [[ -z $ready ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		log_tail "$dir"
		die "ejabberd did not accept TCP on 127.0.0.1:$c2s_port (c2s), 127.0.0.1:$component_port (component) and ${http_ifaces[*]} port $http_port (http) within ${timeout}s"
	fi
	echo "$pid" >"$pidfile"

	if [[ -n $parent_pid ]]; then
		# Watchdog: stop this instance once the parent (a test binary) is
		# gone, even if it was killed before its cleanup ran.
		# shellcheck disable=SC2016 # expanded by the inner bash
		setsid bash -c '
			while kill -0 "$1" 2>/dev/null && [[ -d /proc/$2 ]]; do sleep 1; done
			if tr "\0" " " <"/proc/$2/cmdline" 2>/dev/null | grep -qF -- "$3/spool"; then kill -TERM "$2" 2>/dev/null; fi
		' watchdog "$parent_pid" "$pid" "$dir" >/dev/null 2>&1 </dev/null &
		echo $! >"$dir/watchdog.pid"
	fi

	echo "C2S=127.0.0.1:$c2s_port COMPONENT=127.0.0.1:$component_port HTTP=127.0.0.1:$http_port DIR=$dir"
	for i in "${!upload_domains[@]}"; do
		echo "UPLOAD=${upload_domains[i]} URL=http://${upload_hosts[i]}:$http_port/"
	done
}

# free_port prints a TCP port that was free on 127.0.0.1 a moment ago.
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! port_open "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

cmd_register() {
	parse_dir "$@"
	set -- "${rest[@]+"${rest[@]}"}"
	[[ $# -eq 3 ]] || usage_error "register: want --dir DIR USER HOST PASS"
	local user=$1 host=$2 pass=$3 u h p out
	require_ejabberd
	alive "$(read_pid "$dir/ejabberd.pid")" "$(cd "$dir" && pwd)" || die "ejabberd is not running in $dir"
	u=$(erl_str "$user") h=$(erl_str "$host") p=$(erl_str "$pass")
	# What `ejabberdctl register` does, and a new password for an account
	# that exists (ejabberdctl has no command for that without
	# mod_admin_extra).
	# The ports open before mnesia has made and loaded the account table
	# on a fresh spool: try_register then answers {no_exists,passwd,...}
	# or db_failure. So it waits for the table first, and any answer but
	# ok is tried again, for up to 10 seconds.
	local tries
	for tries in $(seq 1 50); do
		out=$(node_call "$dir" "mnesia:wait_for_tables([passwd], 2000),
		case ejabberd_auth:try_register($u, $h, $p) of
			{error, exists} -> ejabberd_auth:set_password($u, $h, $p);
			R -> R
		end.") || die "register $user@$host: erl_call failed: $out"
		[[ $out != "{ok, ok}" ]] || break
		sleep 0.2
	done
	[[ $out == "{ok, ok}" ]] || die "register $user@$host: $out (after $tries tries)"
}

cmd_stop() {
	parse_dir "$@"
	[[ ${#rest[@]} -eq 0 ]] || usage_error "stop: unexpected arguments: ${rest[*]}"
	[[ -d $dir ]] || die "no such directory: $dir"
	dir=$(cd "$dir" && pwd)
	local pidfile=$dir/ejabberd.pid pid wd
	wd=$(read_pid "$dir/watchdog.pid")
	if [[ -n $wd ]]; then
		kill -TERM "$wd" 2>/dev/null || true
		rm -f "$dir/watchdog.pid"
	fi
	pid=$(read_pid "$pidfile")
	if ! alive "$pid" "$dir"; then
		rm -f "$pidfile"
		echo "$prog: not running in $dir"
		return 0
	fi
	# SIGTERM makes the Erlang VM stop cleanly (init:stop), as
	# `ejabberdctl stop` does, without starting another node for it.
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 15))
	while alive "$pid" "$dir" && ((SECONDS < deadline)); do
		sleep 0.1
	done
	if alive "$pid" "$dir"; then
		echo "$prog: ejabberd (pid $pid) ignored SIGTERM for 15s; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 5))
		while alive "$pid" "$dir" && ((SECONDS < deadline)); do
			sleep 0.1
		done
		alive "$pid" "$dir" && die "ejabberd (pid $pid) did not exit"
	fi
	rm -f "$pidfile"
	echo "$prog: stopped ejabberd (pid $pid) in $dir"
}

cmd_status() {
	parse_dir "$@"
	[[ ${#rest[@]} -eq 0 ]] || usage_error "status: unexpected arguments: ${rest[*]}"
	local pid
	pid=$(read_pid "$dir/ejabberd.pid")
	if alive "$pid" "$(cd "$dir" 2>/dev/null && pwd)"; then
		echo "running pid=$pid"
		return 0
	fi
	echo "stopped"
	return 1
}

main() {
	[[ $# -ge 1 ]] || usage_error "missing command"
	local cmd=$1
	shift
	case $cmd in
	install) cmd_install "$@" ;;
	start) cmd_start "$@" ;;
	register) cmd_register "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	-h | --help | help) usage ;;
	*) usage_error "unknown command: $cmd" ;;
	esac
}

main "$@"
