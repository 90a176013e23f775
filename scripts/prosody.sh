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

  prosody.sh start --dir DIR [--c2s-port N] [--component-port N] [--secret S]
                   [--inside DOMAIN] [--outside DOMAIN] [--component DOMAIN]...
                   [--log-level LEVEL] [--timeout SECONDS] [--parent-pid PID]
      Write DIR/prosody.cfg.lua, start Prosody in the background on 127.0.0.1,
      wait until its ports accept TCP, then print
        C2S=127.0.0.1:N COMPONENT=127.0.0.1:M DIR=DIR
      Defaults: --c2s-port 5222, --component-port 5347, --secret secret,
      --inside corp.test, --outside ext.test, --log-level info, --timeout 20,
      and, when no --component is given, gw.corp.test and contact.acme.test.
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

# running reports whether pid $1 exists and is not a zombie.
running() {
	local pid=$1 stat state
	[[ -n $pid ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	state=${stat##*) }
	state=${state%% *}
	[[ $state != Z && $state != X ]]
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

parse_dir() {
	# Sets dir from "--dir DIR"; other arguments are left in rest[].
	dir="" rest=()
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir)
			[[ $# -ge 2 ]] || usage_error "--dir needs a value"
			dir=$2
			shift 2
			;;
		--dir=*)
			dir=${1#--dir=}
			shift
			;;
		*)
			rest+=("$1")
			shift
			;;
		esac
	done
	[[ -n $dir ]] || usage_error "--dir DIR is required"
}

cmd_start() {
	local dir="" c2s_port=5222 component_port=5347 secret=secret
	local inside=corp.test outside=ext.test log_level=info timeout=20 parent_pid=""
	local -a components=()
	while [[ $# -gt 0 ]]; do
		[[ $# -ge 2 ]] || usage_error "$1 needs a value"
		case $1 in
		--dir) dir=$2 ;;
		--c2s-port) c2s_port=$2 ;;
		--component-port) component_port=$2 ;;
		--secret) secret=$2 ;;
		--inside) inside=$2 ;;
		--outside) outside=$2 ;;
		--component) components+=("$2") ;;
		--log-level) log_level=$2 ;;
		--timeout) timeout=$2 ;;
		--parent-pid) parent_pid=$2 ;;
		*) usage_error "start: unknown option $1" ;;
		esac
		shift 2
	done
	[[ -n $dir ]] || usage_error "start: --dir DIR is required"
	[[ ${#components[@]} -gt 0 ]] || components=(gw.corp.test contact.acme.test)
	check_port "$c2s_port"
	check_port "$component_port"
	[[ $c2s_port != "$component_port" ]] || die "--c2s-port and --component-port are both $c2s_port"
	check_domain "$inside"
	check_domain "$outside"
	[[ $inside != "$outside" ]] || die "--inside and --outside are both $inside"
	local c
	for c in "${components[@]}"; do
		check_domain "$c"
		[[ $c != "$inside" && $c != "$outside" ]] || die "component $c is also a user host"
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
	for p in "$c2s_port" "$component_port"; do
		if port_open "$p"; then
			die "127.0.0.1:$p is already in use (a system prosody? try \`service prosody stop\`)"
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

modules_enabled = {
	"roster";
	"saslauth";
	"disco";
	"ping";
	"presence";
	"vcard";
	"offline";
	"blocklist"; -- XEP-0191: contacts block personas
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
		if port_open "$c2s_port" && port_open "$component_port"; then
			ready=1
			break
		fi
		sleep 0.1
	done
	if [[ -z $ready ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		log_tail "$dir"
		die "prosody did not accept TCP on 127.0.0.1:$c2s_port (c2s) and 127.0.0.1:$component_port (component) within ${timeout}s"
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

	echo "C2S=127.0.0.1:$c2s_port COMPONENT=127.0.0.1:$component_port DIR=$dir"
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
