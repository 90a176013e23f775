#!/usr/bin/env bash
# lib.sh holds the helpers that scripts/prosody.sh and scripts/mail.sh share.
# It is sourced, not run: callers set $prog (the script's name for
# messages), define usage, and, around package installs, $policy_rc and
# $policy_backup.
# shellcheck disable=SC2154

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage_error() {
	echo "$prog: $*" >&2
	echo >&2
	usage >&2
	exit 2
}

# as_root runs a command as root, through sudo when we are not root already.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# restore_policy puts back the policy-rc.d that an install replaced (so
# that package installs start no system services meanwhile).
restore_policy() {
	if [[ -n $policy_backup ]]; then
		as_root cp -p "$policy_backup" "$policy_rc"
		rm -f "$policy_backup"
		policy_backup=""
	else
		as_root rm -f "$policy_rc"
	fi
}

check_domain() {
	[[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] || die "not a domain name: '$1'"
}

check_port() {
	if ! [[ $1 =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
		die "not a port number: '$1'"
	fi
}

# port_open reports whether something accepts TCP on 127.0.0.1:$1.
port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# listeners prints how many TCP sockets of this network namespace listen
# on port $1, on any address (IPv4 or IPv6). A server that binds with
# SO_REUSEPORT (Postfix does) shares its port with another that did the
# same instead of failing: two tests that picked the same free port a
# moment apart would then each get half the other's connections.
listeners() {
	local hex
	printf -v hex '%04X' "$1"
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { n++ } END { print n + 0 }'
}

# read_pid prints the pid in file $1, or nothing.
read_pid() {
	local f=$1 pid=""
	[[ -s $f ]] && pid=$(tr -dc '0-9' <"$f")
	echo "$pid"
}

# xmpp_start_options reads and checks the options of an XMPP server
# script's start command (prosody.sh and ejabberd.sh take the same) into
# the caller's own variables, which it declares with their defaults:
# dir c2s_port component_port http_port secret inside outside log_level
# timeout parent_pid upload_limit, and the arrays components and uploads.
xmpp_start_options() {
	while [[ $# -gt 0 ]]; do
		[[ $# -ge 2 ]] || usage_error "$1 needs a value"
		case $1 in
		--dir) dir=$2 ;;
		--c2s-port) c2s_port=$2 ;;
		--component-port) component_port=$2 ;;
		--http-port) http_port=$2 ;;
		--upload) uploads+=("$2") ;;
		--upload-limit) upload_limit=$2 ;;
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
	check_port "$http_port"
	[[ $c2s_port != "$component_port" ]] || die "--c2s-port and --component-port are both $c2s_port"
	[[ $http_port != "$c2s_port" && $http_port != "$component_port" ]] ||
		die "--http-port $http_port is also the c2s or component port"
	check_domain "$inside"
	check_domain "$outside"
	[[ $inside != "$outside" ]] || die "--inside and --outside are both $inside"
	local c
	for c in "${components[@]}"; do
		check_domain "$c"
		[[ $c != "$inside" && $c != "$outside" ]] || die "component $c is also a user host"
	done
	[[ $upload_limit =~ ^[0-9]+$ && $upload_limit -gt 0 ]] || die "--upload-limit must be a positive number of bytes"
}

# parent_domain prints $1 without its first label, or nothing when it has
# only one.
parent_domain() {
	if [[ $1 == *.* ]]; then
		echo "${1#*.}"
	fi
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

# running reports whether pid $1 exists and is not a zombie.
running() {
	local pid=$1 stat state
	[[ -n $pid ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	state=${stat##*) }
	state=${state%% *}
	[[ $state != Z && $state != X ]]
}
