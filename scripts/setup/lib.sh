# shellcheck shell=bash
# Building blocks of scripts/setup.sh: logging, the --root prefix, dry-run aware writes that
# compare before writing, and commands that act on the running system.

# Paths inside the target system ("" = this machine).
p() { printf '%s%s' "$ROOT" "$1"; }

_log_line() {
  [ "$DRY" = 1 ] && return 0
  [ -z "${LOG_OFF:-}" ] || return 0
  local f; f=$(p "$LOG_FILE")
  if [ ! -e "$f" ]; then
    mkdir -p "$(dirname "$f")" && (umask 027 && : >>"$f") || return 0
  fi
  TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T %s\n' -1 "$*" >>"$f" 2>/dev/null || true
}
say() { printf '[setup] %s\n' "$*"; _log_line "$*"; }
warn() { printf '[setup] warning: %s\n' "$*" >&2; _log_line "warning: $*"; }
die() { printf 'setup.sh: %s\n' "$*" >&2; _log_line "error: $*"; exit 1; }
usage_error() { printf 'setup.sh: %s\n(see setup.sh --help)\n' "$*" >&2; _log_line "error: $*"; exit 2; }
changed() { CHANGES=$((CHANGES + 1)); }

# A command that changes the running system. Under --root it is not run against this
# machine: it is printed and logged as skipped, so a scratch-root install stays honest.
sys() {
  if [ "$DRY" = 1 ]; then say "would run: $*"; return 0; fi
  if [ -n "$ROOT" ]; then say "skipped under --root (would run: $*)"; return 0; fi
  _log_line "run: $*"
  "$@"
}

# uid/gid from the target system's own files (a --root install has its own /etc/passwd).
_id_in() { # _id_in FILE NAME: third field of NAME's line (no fork: this runs for every file)
  local name _x id _rest
  [ -f "$1" ] || return 0
  while IFS=: read -r name _x id _rest; do
    if [ "$name" = "$2" ]; then printf '%s' "$id"; return 0; fi
  done <"$1"
}
uid_of() { _id_in "$(p /etc/passwd)" "$1"; }
gid_of() { _id_in "$(p /etc/group)" "$1"; }
group_exists() { [ -n "$(gid_of "$1")" ]; }
user_exists() { [ -n "$(uid_of "$1")" ]; }

# "uid:gid" to give a file, or "" when ownership cannot be set (not root, user not there yet).
owner_ids() {
  local user=$1 group=$2 u g
  [ "$EUID" = 0 ] || { printf ''; return; }
  u=$(uid_of "$user"); g=$(gid_of "$group")
  if [ -z "$u" ] || [ -z "$g" ]; then printf ''; return; fi
  printf '%s:%s' "$u" "$g"
}

# put_file SRC DEST MODE [USER GROUP]: DEST gets SRC's bytes, MODE and owner; "unchanged" when
# it already has all three. Written through a temp file made private first, then renamed.
put_file() {
  local src=$1 rel=$2 mode=$3 user=${4:-root} group=${5:-root}
  local dst ids
  dst=$(p "$rel")
  ids=$(owner_ids "$user" "$group")
  if [ -f "$dst" ] && [ ! -L "$dst" ] && cmp -s "$src" "$dst" && [ "$(stat -c %a "$dst")" = "${mode#0}" ] &&
     { [ -z "$ids" ] || [ "$(stat -c %u:%g "$dst")" = "$ids" ]; }; then
    say "unchanged $rel"
    return 0
  fi
  if [ "$DRY" = 1 ]; then
    if [ -e "$dst" ]; then say "would update $rel (mode $mode, $user:$group)"; else say "would create $rel (mode $mode, $user:$group)"; fi
    changed; return 0
  fi
  mkdir -p "$(dirname "$dst")"
  local tmp="$dst.qrpos-tmp.$$"
  (umask 077 && cat "$src" >"$tmp")
  chmod "$mode" "$tmp"
  [ -z "$ids" ] || chown "$ids" "$tmp"
  mv -f "$tmp" "$dst"
  if [ -n "$ROOT" ] && [ -z "$ids" ] && [ "$user:$group" != "root:root" ]; then
    say "wrote $rel (mode $mode; owner $user:$group not set: needs root and the user in $ROOT/etc/passwd)"
  else
    say "wrote $rel (mode $mode, $user:$group)"
  fi
  changed
}

# put_dir DIR MODE [USER GROUP]
put_dir() {
  local rel=$1 mode=$2 user=${3:-root} group=${4:-root}
  local dst ids
  dst=$(p "$rel")
  ids=$(owner_ids "$user" "$group")
  if [ -d "$dst" ] && [ "$(stat -c %a "$dst")" = "${mode#0}" ] && { [ -z "$ids" ] || [ "$(stat -c %u:%g "$dst")" = "$ids" ]; }; then
    say "unchanged $rel/"
    return 0
  fi
  if [ "$DRY" = 1 ]; then say "would make $rel/ (mode $mode, $user:$group)"; changed; return 0; fi
  mkdir -p "$dst"
  chmod "$mode" "$dst"
  [ -z "$ids" ] || chown "$ids" "$dst"
  say "made $rel/ (mode $mode, $user:$group)"
  changed
}

# remove_path PATH: files or whole trees; prints what it removed.
remove_path() {
  local rel=$1 dst
  dst=$(p "$rel")
  if [ ! -e "$dst" ] && [ ! -L "$dst" ]; then return 0; fi
  if [ "$DRY" = 1 ]; then say "would remove $rel"; changed; return 0; fi
  rm -rf -- "$dst"
  say "removed $rel"
  changed
}

# The installer's own notes (what it changed outside its files, to undo exactly that).
STATE_DIR=/var/lib/qrpos-setup
state_get() { local f; f=$(p "$STATE_DIR/$1"); [ -f "$f" ] && cat "$f"; return 0; }
state_set() {
  local f; f=$(p "$STATE_DIR/$1")
  [ "$DRY" = 1 ] && return 0
  if [ -f "$f" ] && [ "$(cat "$f")" = "$2" ]; then return 0; fi
  mkdir -p "$(dirname "$f")" && chmod 0755 "$(dirname "$f")"
  printf '%s' "$2" >"$f"
}

helper() { "$NODE" "$SETUP_DIR/setup/helper.cjs" "$@"; }
