#!/usr/bin/env bash
# prosody.sh installs Prosody from Debian's packages and runs throwaway
# instances of it on loopback. It is the one way both the demo and the
# end-to-end tests (internal/testenv) get an XMPP server, so that a config that
# works for one works for the other.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

prog=prosody.sh

usage() {
	cat <<'EOF'
Usage:
  prosody.sh install
      Install Prosody from Debian's packages if it is missing (needs root or
      sudo). The package's own system service is not left running.

  prosody.sh start --dir DIR [--c2s-port N] [--component-port N] [--http-port N]
                   [--secret S] [--inside DOMAIN] [--outside DOMAIN]
                   [--component DOMAIN]... [--upload DOMAIN=HOST]...
                   [--upload-limit BYTES] [--log-level LEVEL]
                   [--timeout SECONDS] [--parent-pid PID]
      Write DIR/prosody.cfg.lua, start Prosody in the background on 127.0.0.1,
      wait until its ports accept TCP, then print
        C2S=127.0.0.1:N COMPONENT=127.0.0.1:M HTTP=127.0.0.1:H DIR=DIR
      followed by one line per upload service,
        UPLOAD=DOMAIN URL=http://HOST:H/
      Defaults: --c2s-port 5222, --component-port 5347, --http-port 5280,
      --secret secret, --inside corp.test, --outside ext.test,
      --upload-limit 67108864 (64 MiB), --log-level info, --timeout 20,
      and, when no --component is given, gw.corp.test and contact.acme.test.
      Each --upload adds a XEP-0363 HTTP upload service (mod_http_file_share)
      as component DOMAIN, whose slots are http://HOST:H/file_share/...;
      Prosody tells the services apart by the Host header, so every HOST must
      differ. HOST is a 127.x.y.z address (Prosody then listens on it too) or
      a name that resolves to 127.0.0.1, such as localhost. Users of every
      host, and components, may upload to every service, up to 10 GiB a day
      each; files expire after a week. When no --upload is given:
        upload.INSIDE=127.0.0.1        the employees' server
        upload.PARENT=localhost        the outside company's (PARENT is the
                                       parent domain of the first component
                                       outside INSIDE: contact.acme.test gives
                                       upload.acme.test)
        upload.OUTSIDE=127.0.0.2       the contacts' own server
      Accounts live in DIR/data, so a start after a stop keeps them.
      With --parent-pid, the instance is stopped once that process is gone
      (tests pass their own pid so a killed test run leaves nothing behind).

  prosody.sh register --dir DIR USER HOST PASS
      Create (or reset the password of) USER@HOST; works while running.

  prosody.sh stop --dir DIR
      Stop the instance started in DIR and wait for it to exit.

  prosody.sh status --dir DIR
      Exit 0 and print the pid if the instance in DIR is running, 1 if not.
EOF
}

# Where install keeps the policy-rc.d it replaced ("" if there was none).
policy_rc=/usr/sbin/policy-rc.d
policy_backup=""

cmd_install() {
	[[ $# -eq 0 ]] || usage_error "install takes no arguments"
	if command -v prosody >/dev/null 2>&1 && command -v prosodyctl >/dev/null 2>&1; then
		echo "$prog: prosody already installed: $(command -v prosody)"
		return 0
	fi
	export DEBIAN_FRONTEND=noninteractive
	# The package would start its system service on the default ports (5222,
	# 5269, 5347), where it would collide with our instances. A policy-rc.d
	# that answers 101 tells invoke-rc.d not to start anything; put back
	# whatever was there before.
	if [[ -e $policy_rc ]]; then
		policy_backup=$(mktemp)
		as_root cp -p "$policy_rc" "$policy_backup"
	fi
	trap restore_policy EXIT
	printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy_rc" >/dev/null
	as_root chmod 0755 "$policy_rc"

	as_root apt-get update
	# With its recommended packages, as tested here (lua-event, lua-unbound).
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y prosody

	trap - EXIT
	restore_policy
	# Belt and braces for systems where the service got started anyway
	# (e.g. systemd ignoring policy-rc.d).
	if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
		as_root systemctl disable --now prosody >/dev/null 2>&1 || true
	fi
	as_root service prosody stop >/dev/null 2>&1 || true
	command -v prosody >/dev/null 2>&1 || die "apt-get install prosody finished but prosody is not on PATH"
	echo "$prog: installed $(dpkg-query -W -f='prosody ${Version}' prosody 2>/dev/null || echo prosody)"
}

require_prosody() {
	if ! command -v prosody >/dev/null 2>&1 || ! command -v prosodyctl >/dev/null 2>&1; then
		die "prosody is not installed: run \`bash scripts/prosody.sh install\` (or make test-deps)"
	fi
}

# lua_str prints its argument as a Lua string literal.
lua_str() {
	local s=$1
	[[ $s != *$'\n'* && $s != *$'\r'* ]] || die "value contains a newline: $s"
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# lua_list prints its arguments as Lua string literals separated by commas.
lua_list() {
	local s sep=""
	for s in "$@"; do
		printf '%s%s' "$sep" "$(lua_str "$s")"
		sep=", "
	done
}

# tcp_open reports whether something accepts TCP on $1:$2.
tcp_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}


# alive reports whether pid $1 (read from a pidfile, so possibly stale and
# reused) is a running prosody. Not for a process still starting: its
# cmdline reads empty while it execs.
alive() {
	running "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q prosody
}

log_tail() {
	local dir=$1 f
	for f in "$dir/prosody.stdout" "$dir/prosody.log"; do
		if [[ -s $f ]]; then
			echo "--- tail of $f ---" >&2
			tail -n 30 "$f" >&2
		fi
	done
}

cmd_start() {
	local dir="" c2s_port=5222 component_port=5347 http_port=5280 secret=secret
	local inside=corp.test outside=ext.test log_level=info timeout=20 parent_pid=""
	local upload_limit=67108864
	local -a components=() uploads=()
	xmpp_start_options "$@"
	local c

	# Upload services: upload_domains[i] is served at http://upload_hosts[i]:PORT/.
	# http_ifaces are the addresses the HTTP server listens on.
	local -a upload_domains=() upload_hosts=() http_ifaces=(127.0.0.1)
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
	local u d h
	for u in "${uploads[@]}"; do
		[[ $u == ?*=?* ]] || die "--upload wants DOMAIN=HOST, not '$u'"
		d=${u%%=*} h=${u#*=}
		check_domain "$d"
		check_domain "$h"
		[[ $d != "$inside" && $d != "$outside" ]] || die "upload service $d is also a user host"
		for c in "${components[@]}"; do
			[[ $d != "$c" ]] || die "upload service $d is also a component"
		done
		for c in "${upload_domains[@]}"; do
			[[ $d != "$c" ]] || die "upload service $d is given twice"
		done
		for c in "${upload_hosts[@]}"; do
			[[ ${h,,} != "${c,,}" ]] || die "upload services share the HTTP host $h (Prosody routes by Host header)"
		done
		if [[ $h =~ ^[0-9.]+$ ]]; then
			[[ $h =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "upload host $h is not a 127.x.y.z address"
			[[ $h == 127.0.0.1 ]] || http_ifaces+=("$h")
		fi
		upload_domains+=("$d")
		upload_hosts+=("$h")
	done
	[[ -n $secret ]] || die "--secret must not be empty"
	[[ $log_level =~ ^(debug|info|warn|error)$ ]] || die "--log-level must be debug, info, warn or error"
	[[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || die "--timeout must be a positive number of seconds"
	[[ -z $parent_pid || $parent_pid =~ ^[0-9]+$ ]] || die "--parent-pid must be a pid"
	require_prosody

	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	local cfg=$dir/prosody.cfg.lua pidfile=$dir/prosody.pid logfile=$dir/prosody.log

	local old
	old=$(read_pid "$pidfile")
	if alive "$old"; then
		die "an instance is already running in $dir (pid $old); stop it first"
	fi
	rm -f "$pidfile"
	local p
	for p in "$c2s_port" "$component_port" "$http_port"; do
		if port_open "$p"; then
			die "127.0.0.1:$p is already in use (a system prosody? try \`service prosody stop\`)"
		fi
	done
	for h in "${http_ifaces[@]:1}"; do
		if tcp_open "$h" "$http_port"; then
			die "$h:$http_port is already in use"
		fi
	done

	mkdir -p "$dir/data" "$dir/certs"
	{
		cat <<EOF
-- Throwaway Prosody config written by scripts/prosody.sh; do not edit, it is
-- rewritten on every start.

-- We run as root in CI and containers; without this Prosody would switch to
-- the "prosody" user, which cannot write to DIR.
run_as_root = true

data_path = $(lua_str "$dir/data")
pidfile = $(lua_str "$pidfile")
-- No TLS, but Prosody indexes this directory at startup and logs an error
-- if it is missing.
certificates = $(lua_str "$dir/certs")
log = {
	{ levels = { min = $(lua_str "$log_level") }; to = "file"; filename = $(lua_str "$logfile") };
}

-- Loopback only. No s2s: all our domains are hosts or components of this one
-- server, so nothing ever has to leave it.
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
component_interfaces = { "127.0.0.1" }
c2s_ports = { $c2s_port }
component_ports = { $component_port }
s2s_ports = { }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
-- HTTP for the upload services (XEP-0363); no HTTPS, there are no
-- certificates. Clients and the gateway reach a service by the host in its
-- URL, and Prosody picks the service by the Host header.
http_interfaces = { $(lua_list "${http_ifaces[@]}") }
http_ports = { $http_port }
https_interfaces = { }
https_ports = { }
-- Bodies above this are streamed to disk as they arrive (mod_http_file_share
-- can); below it Prosody buffers them, which is slow for large ones. The
-- upload size limit is the slot's, set per service below.
http_max_content_size = 1048576

modules_enabled = {
	"roster";
	"saslauth";
	"disco";
	"ping";
	"presence";
	"vcard";
	"offline";
	"blocklist"; -- XEP-0191: contacts block personas
	"http"; -- listens even without upload services
}
-- s2s and s2s_auth_certs are auto-loaded otherwise; limits would throttle
-- benchmarks; tls would offer STARTTLS without certificates.
modules_disabled = {
	"s2s";
	"s2s_auth_certs";
	"limits";
	"tls";
}
limits = { }
-- Read up to 1 MiB at a time from every connection (c2s, components, HTTP),
-- not 4 KiB: an 11 MiB upload took 7 s with the default, under 1 s with this.
network_default_read_size = 1048576

-- Plain-text auth over plain TCP: test accounts, loopback only.
authentication = "internal_plain"
storage = "internal"
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = false
admins = { }

VirtualHost $(lua_str "$inside")
VirtualHost $(lua_str "$outside")
EOF
		for c in "${components[@]}"; do
			printf '\nComponent %s\n\tcomponent_secret = %s\n' "$(lua_str "$c")" "$(lua_str "$secret")"
		done
		local i
		for i in "${!upload_domains[@]}"; do
			# With http_file_share_access empty, the users of every host
			# and every component (prosody.hosts) may ask for slots.
			cat <<EOF

Component $(lua_str "${upload_domains[i]}") "http_file_share"
	http_host = $(lua_str "${upload_hosts[i]}")
	http_external_url = $(lua_str "http://${upload_hosts[i]}:$http_port/")
	http_file_share_size_limit = $upload_limit
	http_file_share_daily_quota = 10737418240 -- 10 GiB, for benchmarks
EOF
		done
	} >"$cfg.tmp"
	mv "$cfg.tmp" "$cfg"

	# -F keeps Prosody in the foreground of its own process, so its pid is $!
	# (and mod_posix writes the same pid to the pidfile). setsid detaches it
	# from our session so a terminal's Ctrl-C or hangup does not reach it; all
	# three standard streams are redirected so that a caller capturing our
	# output (e.g. Go's exec.Cmd.Output) does not wait for Prosody to exit.
	: >"$dir/prosody.stdout"
	setsid prosody -F --config "$cfg" >>"$dir/prosody.stdout" 2>&1 </dev/null &
	local pid=$!

	http_up() {
		local a
		for a in "${http_ifaces[@]}"; do
			tcp_open "$a" "$http_port" || return 1
		done
	}
	local deadline=$((SECONDS + timeout)) ready=""
	while ((SECONDS < deadline)); do
		# $pid is our child, so it cannot have been reused.
		if ! running "$pid"; then
			log_tail "$dir"
			die "prosody exited during startup (see $dir/prosody.log)"
		fi
		if grep -qE 'Failed to open server port|Failed to activate service|Error loading|Unable to load' "$logfile" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			log_tail "$dir"
			die "prosody failed to start (see $logfile)"
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
		die "prosody did not accept TCP on 127.0.0.1:$c2s_port (c2s), 127.0.0.1:$component_port (component) and ${http_ifaces[*]} port $http_port (http) within ${timeout}s"
	fi
	# The pidfile is written while loading modules, before ports open; keep
	# ours in case a future version stops writing it.
	[[ -s $pidfile ]] || echo "$pid" >"$pidfile"

	if [[ -n $parent_pid ]]; then
		# Watchdog: stop this instance once the parent (a test binary) is
		# gone, even if it was killed before its cleanup ran.
		# shellcheck disable=SC2016 # expanded by the inner bash
		setsid bash -c '
			while kill -0 "$1" 2>/dev/null && [[ -d /proc/$2 ]]; do sleep 1; done
			if tr "\0" " " <"/proc/$2/cmdline" 2>/dev/null | grep -q prosody; then kill -TERM "$2" 2>/dev/null; fi
		' watchdog "$parent_pid" "$pid" >/dev/null 2>&1 </dev/null &
		echo $! >"$dir/watchdog.pid"
	fi

	echo "C2S=127.0.0.1:$c2s_port COMPONENT=127.0.0.1:$component_port HTTP=127.0.0.1:$http_port DIR=$dir"
	for i in "${!upload_domains[@]}"; do
		echo "UPLOAD=${upload_domains[i]} URL=http://${upload_hosts[i]}:$http_port/"
	done
}

cmd_register() {
	parse_dir "$@"
	set -- "${rest[@]+"${rest[@]}"}"
	[[ $# -eq 3 ]] || usage_error "register: want --dir DIR USER HOST PASS"
	local user=$1 host=$2 pass=$3
	local cfg=$dir/prosody.cfg.lua
	[[ -r $cfg ]] || die "no $cfg: run \`$prog start --dir $dir\` first"
	require_prosody
	# prosodyctl writes straight to the data store, which the running server
	# reads on each login, so this works with the server up or down.
	prosodyctl --config "$cfg" register "$user" "$host" "$pass" ||
		die "prosodyctl register $user $host failed"
}

cmd_stop() {
	parse_dir "$@"
	[[ ${#rest[@]} -eq 0 ]] || usage_error "stop: unexpected arguments: ${rest[*]}"
	[[ -d $dir ]] || die "no such directory: $dir"
	local pidfile=$dir/prosody.pid pid wd
	wd=$(read_pid "$dir/watchdog.pid")
	if [[ -n $wd ]]; then
		kill -TERM "$wd" 2>/dev/null || true
		rm -f "$dir/watchdog.pid"
	fi
	pid=$(read_pid "$pidfile")
	if ! alive "$pid"; then
		rm -f "$pidfile"
		echo "$prog: not running in $dir"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 15))
	while alive "$pid" && ((SECONDS < deadline)); do
		sleep 0.1
	done
	if alive "$pid"; then
		echo "$prog: prosody (pid $pid) ignored SIGTERM for 15s; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 5))
		while alive "$pid" && ((SECONDS < deadline)); do
			sleep 0.1
		done
		alive "$pid" && die "prosody (pid $pid) did not exit"
	fi
	rm -f "$pidfile"
	echo "$prog: stopped prosody (pid $pid) in $dir"
}

cmd_status() {
	parse_dir "$@"
	[[ ${#rest[@]} -eq 0 ]] || usage_error "status: unexpected arguments: ${rest[*]}"
	local pid
	pid=$(read_pid "$dir/prosody.pid")
	if alive "$pid"; then
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
