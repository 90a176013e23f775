#!/usr/bin/env bash
# postgres.sh installs PostgreSQL from Debian's packages and runs throwaway
# clusters of it on loopback: the shared store of the end-to-end tests
# (internal/testenv) and of anyone trying several instances by hand.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

prog=postgres.sh
script=$(readlink -f "${BASH_SOURCE[0]}")

usage() {
	cat <<'EOF'
Usage:
  postgres.sh install
      Install PostgreSQL from Debian's packages if it is missing (needs root
      or sudo). The package's own cluster is not left running.

  postgres.sh start --dir DIR [--port N] [--user U] [--password P]
                    [--database D] [--timeout SECONDS] [--parent-pid PID]
                    [--remove-dir]
      Create a cluster in DIR/pgdata on the first start (initdb), start it in
      the background listening on 127.0.0.1:N only (its Unix socket in
      DIR/run), wait until it accepts connections, create database D if it is
      missing, then print
        URL=postgres://U:P@127.0.0.1:N/D?sslmode=disable DIR=DIR SOCKET=DIR/run
      Defaults: --port 5432, --user kakehashi (the cluster's superuser),
      --password kakehashi, --database kakehashi, --timeout 30.
      Durability is as in production: fsync, synchronous_commit and
      full_page_writes are on (only initdb's own writes are not synced: a
      cluster lost with the machine is a throwaway one anyway). TCP
      connections authenticate with the password (scram-sha-256); the Unix
      socket trusts local users.
      As root, the server runs as the "postgres" system user (PostgreSQL
      refuses to run as root), so DIR's ancestors must be searchable by it.
      Data lives in DIR/pgdata, so a start after a stop keeps it; the user,
      password and database of later starts are those of the first.
      With --parent-pid, the cluster is stopped once that process is gone
      (tests pass their own pid so a killed test run leaves nothing behind),
      and with --remove-dir as well, DIR is then removed.

  postgres.sh stop --dir DIR [--mode fast|immediate|smart]
      Stop the cluster in DIR and wait for it to exit. fast (the default)
      rolls back open transactions and disconnects clients; immediate is a
      crash: no shutdown checkpoint, recovery from the WAL at the next start;
      smart waits for clients to disconnect.

  postgres.sh status --dir DIR
      Exit 0 and print the pid if the cluster in DIR runs, 1 if not.

  postgres.sh psql --dir DIR [PSQL-ARGUMENTS...]
      Run psql as the superuser on DIR's cluster, through its socket.

Log: DIR/log/postgres.log.
EOF
}

# Where install keeps the policy-rc.d it replaced ("" if there was none).
policy_rc=/usr/sbin/policy-rc.d
policy_backup=""

# bindir prints the directory of the newest installed PostgreSQL's
# programs (Debian keeps them out of PATH: /usr/lib/postgresql/15/bin).
bindir() {
	local d best=""
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/postgres && -x $d/initdb && -x $d/pg_ctl ]] || continue
		if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "$best" "$d" | sort -V | tail -n1) == "$d" ]]; then
			best=$d
		fi
	done
	[[ -n $best ]] || return 1
	echo "$best"
}

cmd_install() {
	[[ $# -eq 0 ]] || usage_error "install takes no arguments"
	local b
	if b=$(bindir); then
		echo "$prog: postgresql already installed: $b"
		return 0
	fi
	# The package would start its own cluster on port 5432. A policy-rc.d
	# that answers 101 tells invoke-rc.d not to start anything; put back
	# whatever was there before.
	if [[ -e $policy_rc ]]; then
		policy_backup=$(mktemp)
		as_root cp -p "$policy_rc" "$policy_backup"
	fi
	trap restore_policy EXIT
	printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy_rc" >/dev/null
	as_root chmod 0755 "$policy_rc"

	local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y --no-install-recommends --no-upgrade -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	# Lists that know the package are enough; when they are old the
	# mirror may have dropped the version they name, so update and retry.
	if ! as_root "${apt[@]}" install postgresql; then
		as_root apt-get update
		as_root "${apt[@]}" install postgresql
	fi

	trap - EXIT
	restore_policy
	# Belt and braces for systems where the service got started anyway
	# (e.g. systemd ignoring policy-rc.d).
	if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
		as_root systemctl disable --now postgresql >/dev/null 2>&1 || true
	fi
	as_root service postgresql stop >/dev/null 2>&1 || true
	b=$(bindir) || die "apt-get install postgresql finished but no /usr/lib/postgresql/*/bin/postgres"
	echo "$prog: installed $(dpkg-query -W -f='postgresql ${Version}' postgresql 2>/dev/null || echo postgresql) in $b"
}

require_postgres() {
	bin=$(bindir) || die "postgresql is not installed: run \`bash scripts/postgres.sh install\` (or make test-deps)"
}

# as_pg runs a command as the user that owns the cluster: "postgres" when we
# are root, ourselves otherwise.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# postmaster_pid prints the pid of DIR's running postmaster, or nothing.
postmaster_pid() {
	local dir=$1 pid
	[[ -r $dir/pgdata/postmaster.pid ]] || return 0
	pid=$(head -n1 "$dir/pgdata/postmaster.pid" 2>/dev/null | tr -dc '0-9')
	if running "$pid" && [[ /proc/$pid/exe -ef $bin/postgres ]]; then
		echo "$pid"
	fi
}

log_tail() {
	local f=$1/log/postgres.log
	if [[ -s $f ]]; then
		echo "--- tail of $f ---" >&2
		tail -n 30 "$f" >&2
	fi
}

# check_reachable fails unless the postgres user can reach DIR.
check_reachable() {
	local dir=$1
	[[ $(id -u) -eq 0 ]] || return 0
	if ! runuser -u postgres -- test -x "$dir"; then
		local p=$dir blocked=""
		while [[ $p != / ]]; do
			p=$(dirname "$p")
			if ! runuser -u postgres -- test -x "$p/."; then
				blocked=$p
			fi
		done
		die "user postgres cannot reach $dir (search permission missing on ${blocked:-an ancestor}); use a directory whose ancestors are world-searchable (chmod o+x)"
	fi
}

# The settings of every start, in DIR/settings: what the first start chose.
load_settings() {
	local f=$1/settings line
	[[ -r $f ]] || return 0
	while IFS= read -r line; do
		case $line in
		user=*) user=${line#*=} ;;
		password=*) password=${line#*=} ;;
		database=*) database=${line#*=} ;;
		esac
	done <"$f"
}

# urlenc percent-encodes its argument for a URL's user info or path.
urlenc() {
	local s=$1 i c out=""
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

# sql_ident and sql_lit quote a name and a string for SQL.
sql_ident() { printf '"%s"' "${1//\"/\"\"}"; }
sql_lit() { printf "'%s'" "${1//\'/\'\'}"; }

stop_watchdog() {
	local dir=$1 wd
	wd=$(read_pid "$dir/watchdog.pid")
	if [[ -n $wd ]] && running "$wd" && tr '\0' ' ' 2>/dev/null <"/proc/$wd/cmdline" | grep -q postgres-watchdog; then
		kill -TERM "$wd" 2>/dev/null || true
	fi
	rm -f "$dir/watchdog.pid"
}

# start_watchdog makes sure one watchdog runs for DIR: once the parent is
# gone, it stops the cluster running then (also one restarted after the
# watchdog was started) and, if asked, removes DIR.
start_watchdog() {
	local dir=$1 parent=$2 remove=$3
	stop_watchdog "$dir"
	# shellcheck disable=SC2016 # expanded by the inner bash
	setsid bash -c '
		while kill -0 "$1" 2>/dev/null; do sleep 1; done
		# stop would kill the watchdog it finds: that is us.
		rm -f "$3/watchdog.pid"
		bash "$2" stop --dir "$3" --mode immediate
		# Only a directory this script made a cluster in.
		if [[ $4 == 1 && -f $3/pgdata/PG_VERSION && -f $3/settings ]]; then
			rm -rf -- "$3"
		fi
	' postgres-watchdog "$parent" "$script" "$dir" "$remove" >>"$dir/watchdog.log" 2>&1 </dev/null &
	echo $! >"$dir/watchdog.pid"
}

cmd_start() {
	local dir="" port=5432 timeout=30 parent_pid="" remove=0
	local user=kakehashi password=kakehashi database=kakehashi
	local -a given=()
	while [[ $# -gt 0 ]]; do
		if [[ $1 == --remove-dir ]]; then
			remove=1
			shift
			continue
		fi
		[[ $# -ge 2 ]] || usage_error "$1 needs a value"
		case $1 in
		--dir) dir=$2 ;;
		--port) port=$2 ;;
		--user) user=$2 given+=(user) ;;
		--password) password=$2 given+=(password) ;;
		--database) database=$2 given+=(database) ;;
		--timeout) timeout=$2 ;;
		--parent-pid) parent_pid=$2 ;;
		*) usage_error "start: unknown option $1" ;;
		esac
		shift 2
	done
	[[ -n $dir ]] || usage_error "start: --dir DIR is required"
	check_port "$port"
	[[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || die "--timeout must be a positive number of seconds"
	[[ -z $parent_pid || $parent_pid =~ ^[0-9]+$ ]] || die "--parent-pid must be a pid"
	[[ $user =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--user must be letters, digits and underscores"
	[[ $database =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--database must be letters, digits and underscores"
	[[ -n $password && $password != *$'\n'* ]] || die "--password must be one non-empty line"
	local bin
	require_postgres

	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# The socket's path must fit in sun_path (107 bytes).
	((${#dir} + 30 < 107)) || die "DIR is too long for a Unix socket path inside it: $dir"
	check_reachable "$dir"
	local pgdata=$dir/pgdata old
	old=$(postmaster_pid "$dir")
	[[ -z $old ]] || die "a cluster is already running in $dir (pid $old); stop it first"
	if port_open "$port"; then
		die "127.0.0.1:$port is already in use (a system postgresql? try \`service postgresql stop\`)"
	fi

	mkdir -p "$dir/run" "$dir/log"
	if [[ ! -f $pgdata/PG_VERSION ]]; then
		rm -rf "$pgdata"
		mkdir -p "$pgdata"
		printf 'user=%s\npassword=%s\ndatabase=%s\n' "$user" "$password" "$database" >"$dir/settings"
		chmod 0600 "$dir/settings"
		local pwfile=$dir/run/pwfile
		printf '%s\n' "$password" >"$pwfile"
		if [[ $(id -u) -eq 0 ]]; then
			chown postgres:postgres "$pgdata" "$dir/run" "$dir/log" "$pwfile"
		fi
		chmod 0700 "$pgdata"
		chmod 0600 "$pwfile"
		# --no-sync: initdb's own files only; the server syncs as usual.
		if ! as_pg "$bin/initdb" -D "$pgdata" -U "$user" --pwfile="$pwfile" \
			--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
			--no-sync >"$dir/log/initdb.log" 2>&1; then
			rm -f "$pwfile"
			tail -n 30 "$dir/log/initdb.log" >&2
			die "initdb failed (see $dir/log/initdb.log)"
		fi
		rm -f "$pwfile"
		echo "include 'kakehashi.conf'" >>"$pgdata/postgresql.conf"
	else
		local -a mine=("${given[@]+"${given[@]}"}")
		load_settings "$dir"
		((${#mine[@]} == 0)) || echo "$prog: $dir has a cluster: --${mine[*]} of its first start are kept" >&2
	fi
	# Rewritten on every start: the port may change.
	cat >"$pgdata/kakehashi.conf.tmp" <<EOF
# Written by scripts/postgres.sh on every start; do not edit.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = $(sql_lit "$dir/run")
# Durable, as in production: a test of "nothing lost" means nothing here.
fsync = on
synchronous_commit = on
full_page_writes = on
# Test binaries open a pool per store, and several run at once.
max_connections = 300
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
	mv "$pgdata/kakehashi.conf.tmp" "$pgdata/kakehashi.conf"
	if [[ $(id -u) -eq 0 ]]; then
		chown postgres:postgres "$pgdata/kakehashi.conf" "$dir/run" "$dir/log"
	fi

	# setsid detaches the server from our session so a terminal's Ctrl-C
	# does not reach it; all standard streams are redirected so that a
	# caller capturing our output does not wait for the server to exit.
	if ! setsid "${as_pg_cmd[@]}" "$bin/pg_ctl" -D "$pgdata" -l "$dir/log/postgres.log" \
		-w -t "$timeout" -o "-c port=$port" start >"$dir/log/pg_ctl.log" 2>&1 </dev/null; then
		cat "$dir/log/pg_ctl.log" >&2
		log_tail "$dir"
		if grep -qE 'could not bind|Address already in use' "$dir/log/postgres.log" 2>/dev/null; then
			die "127.0.0.1:$port is already in use"
		fi
		die "postgres did not start within ${timeout}s (see $dir/log/postgres.log)"
	fi

	local psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" -U "$user")
	if [[ -z $("${psql[@]}" -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = $(sql_lit "$database")") ]]; then
		"${psql[@]}" -d postgres -c "CREATE DATABASE $(sql_ident "$database")" ||
			die "create database $database failed"
	fi

	if [[ -n $parent_pid ]]; then
		start_watchdog "$dir" "$parent_pid" "$remove"
	fi
	echo "URL=postgres://$(urlenc "$user"):$(urlenc "$password")@127.0.0.1:$port/$database?sslmode=disable DIR=$dir SOCKET=$dir/run"
}

cmd_stop() {
	local mode=fast
	parse_dir "$@"
	set -- "${rest[@]+"${rest[@]}"}"
	while [[ $# -gt 0 ]]; do
		[[ $# -ge 2 ]] || usage_error "$1 needs a value"
		case $1 in
		--mode) mode=$2 ;;
		*) usage_error "stop: unknown option $1" ;;
		esac
		shift 2
	done
	[[ $mode =~ ^(fast|immediate|smart)$ ]] || die "--mode must be fast, immediate or smart"
	[[ -d $dir ]] || die "no such directory: $dir"
	local bin
	require_postgres
	stop_watchdog "$dir"
	local pid
	pid=$(postmaster_pid "$dir")
	if [[ -z $pid ]]; then
		echo "$prog: not running in $dir"
		return 0
	fi
	if ! as_pg "$bin/pg_ctl" -D "$dir/pgdata" -m "$mode" -w -t 60 stop >>"$dir/log/pg_ctl.log" 2>&1; then
		echo "$prog: pg_ctl stop failed; sending SIGQUIT to $pid" >&2
		kill -QUIT "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + 10))
		while running "$pid" && ((SECONDS < deadline)); do
			sleep 0.1
		done
		! running "$pid" || die "postgres (pid $pid) did not exit"
	fi
	echo "$prog: stopped postgres (pid $pid) in $dir"
}

cmd_status() {
	parse_dir "$@"
	[[ ${#rest[@]} -eq 0 ]] || usage_error "status: unexpected arguments: ${rest[*]}"
	local bin pid
	require_postgres
	pid=$(postmaster_pid "$dir")
	if [[ -n $pid ]]; then
		echo "running pid=$pid"
		return 0
	fi
	echo "stopped"
	return 1
}

cmd_psql() {
	parse_dir "$@"
	local bin port user=kakehashi password="" database=kakehashi
	require_postgres
	load_settings "$dir"
	port=$(sed -n 's/^port = //p' "$dir/pgdata/kakehashi.conf" 2>/dev/null) || true
	[[ -n $port ]] || die "no cluster in $dir"
	exec "$bin/psql" -X -h "$dir/run" -p "$port" -U "$user" -d "$database" "${rest[@]+"${rest[@]}"}"
}

main() {
	[[ $# -ge 1 ]] || usage_error "missing command"
	local cmd=$1
	shift
	as_pg_cmd=()
	if [[ $(id -u) -eq 0 ]]; then
		as_pg_cmd=(runuser -u postgres --)
	fi
	case $cmd in
	install) cmd_install "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	psql) cmd_psql "$@" ;;
	-h | --help | help) usage ;;
	*) usage_error "unknown command: $cmd" ;;
	esac
}

main "$@"
