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

# read_pid prints the pid in file $1, or nothing.
read_pid() {
	local f=$1 pid=""
	[[ -s $f ]] && pid=$(tr -dc '0-9' <"$f")
	echo "$pid"
}
