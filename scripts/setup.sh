#!/usr/bin/env bash
# qrpos installer for Debian 12/13 and Raspberry Pi OS Bookworm/Trixie (arm64, amd64; armhf).
#
#   sudo scripts/setup.sh                      install the terminal (asks what it needs)
#   sudo scripts/setup.sh --bundle FILE        the same from a release bundle (npm run release): no compiler
#   sudo scripts/setup.sh --relay              install the relay on a server instead
#   sudo scripts/setup.sh --uninstall [--purge]
#
# The app goes to /opt/qrpos/releases/<version>/, and /opt/qrpos/current points at the one that
# runs (switched atomically; the previous one is kept for a rollback; see scripts/SETUP.md).
#
# Every question has a flag (--help lists them); --non-interactive fails on a missing one.
# Idempotent: a second run with the same answers changes nothing ("unchanged").
# --dry-run prints what it would do and changes nothing. Log: /var/log/qrpos-setup.log.
# --root DIR installs into DIR instead of / (tests); see scripts/SETUP.md for what that skips.
set -euo pipefail
umask 022

SETUP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=setup/lib.sh
. "$SETUP_DIR/setup/lib.sh"

usage() {
  cat <<'EOF'
usage: setup.sh [options]              install the qrpos terminal
       setup.sh --relay [options]      install the qrpos relay
       setup.sh --uninstall [--relay] [--purge]

general:
  --bundle FILE            install this release bundle (qrpos-<version>-linux-<arch>.tar.gz from
                           npm run release): checked against its signature and every file's
                           SHA-256, this machine's architecture and Node.js ABI; nothing compiles
  --release-key FILE       trust the public key(s) in FILE for --bundle instead of
                           scripts/release/release-key.pub beside this installer
  --keep N                 releases kept in /opt/qrpos/releases (default 3; at least 2: the
                           current one and the previous one, which are never removed)
  --non-interactive        never prompt; a missing required value is an error (exit 2)
  --dry-run                print what would be done; change nothing
  --uninstall              remove what setup installed; keeps config, secrets and the
                           journal/database (/var/lib/qrpos, /var/lib/qrpos-relay)
  --purge                  with --uninstall: remove those too, and the service user
  --boot-tweaks            hide the console cursor, no console blanking, no getty on the
                           display's VT, and the profile's config.txt lines (dtoverlay, pull-ups)
  --boot-dir DIR           where cmdline.txt/config.txt are (default /boot/firmware)
  --no-start               install and enable the service but do not (re)start it
                           (automatic where systemd is not running: a chroot, an image build)
  --skip-packages          do not install Debian packages
  --skip-npm               do not run npm ci: the new release takes the current one's node_modules
  --node-modules DIR       take the production packages from this prebuilt node_modules instead
                           of running npm ci
  --source DIR             the built app to install (default: this repository; not with --bundle)
  --node PATH              the Node.js binary (default: node on PATH)
  --root DIR               install into DIR instead of / (for tests; see SETUP.md)
  --force                  continue on an unsupported OS or architecture
  -h, --help

terminal:
  --relay-url URL          the relay's URL (https://relay.example.com)
  --country TH|SG|MY       or --currency THB|SGD|MYR
  --merchant-name NAME
  --terminal-name NAME     optional label shown to the relay operator
  --profile NAME           a device profile (device/profiles/NAME.json), or:
  --keypad NAME --display NAME   a keypad (device/keypads) and display (device/displays)
  --keypad-vid HEX --keypad-pid HEX   USB keypad ids (cat /sys/class/hidraw/hidraw*/device/uevent)
  --supervisor-pin DIGITS  4-8 digits (or env QRPOS_SUPERVISOR_PIN, or the prompt)
  --entry-mode implied-decimals|decimal-point|whole-units
  --pole-display PATH      serial port of a pole display (/dev/serial/by-id/...)
  --pole-display-id VID:PID   its USB ids: udev links it as /dev/qrpos-pole-display
  --printer PATH           serial port of a receipt printer
  --printer-id VID:PID     its USB ids: udev links it as /dev/qrpos-printer

relay (with --relay):
  --country TH|SG|MY
  --listen HOST:PORT       default 0.0.0.0:8443 with --tls-cert/--tls-key, else 127.0.0.1:8787 (behind a TLS proxy)
  --public-url URL         how terminals and Omise reach the relay
  --tls-cert FILE --tls-key FILE
  --omise-base-url URL     default https://api.omise.co
  --omise-public-key KEY   pkey_... (or env QRPOS_OMISE_PUBLIC_KEY)
  --omise-secret-key KEY   skey_... (or env QRPOS_OMISE_SECRET_KEY)
  --webhook-secret B64     from the Omise dashboard (or env QRPOS_WEBHOOK_SECRET)
  --admin-token TOKEN      default: generated once and kept (or env QRPOS_ADMIN_TOKEN)
EOF
}

# ---------------------------------------------------------------- flags
ROOT="" SOURCE="" NODE="" BUNDLE="" RELEASE_KEY="" KEEP=3 DRY=0 NONINTERACTIVE=0 UNINSTALL=0 PURGE=0 RELAY=0 FORCE=0
BOOT_TWEAKS=0 BOOT_DIR="" NO_START=0 SKIP_PACKAGES=0 SKIP_NPM=0 NODE_MODULES=""
RELAY_URL="" COUNTRY="" CURRENCY="" MERCHANT="" TERMINAL_NAME="" PROFILE="" KEYPAD="" DISPLAY_PART=""
KEYPAD_VID="" KEYPAD_PID="" SUPERVISOR_PIN="${QRPOS_SUPERVISOR_PIN:-}" ENTRY_MODE=""
POLE_PATH="" POLE_ID="" PRINTER_PATH="" PRINTER_ID=""
LISTEN="" PUBLIC_URL="" TLS_CERT="" TLS_KEY="" OMISE_BASE_URL=""
OMISE_PUBLIC_KEY="${QRPOS_OMISE_PUBLIC_KEY:-}" OMISE_SECRET_KEY="${QRPOS_OMISE_SECRET_KEY:-}"
WEBHOOK_SECRET="${QRPOS_WEBHOOK_SECRET:-}" ADMIN_TOKEN="${QRPOS_ADMIN_TOKEN:-}"
LOG_FILE=/var/log/qrpos-setup.log
CHANGES=0

need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "$1 needs a value"; fi; }
while [ $# -gt 0 ]; do
  flag=$1
  case "$flag" in
    --*=*) set -- "${flag%%=*}" "${flag#*=}" "${@:2}"; continue ;;
  esac
  case "$flag" in
    -h|--help) usage; exit 0 ;;
    --non-interactive|--yes|-y) NONINTERACTIVE=1 ;;
    --dry-run) DRY=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    --relay) RELAY=1 ;;
    --force) FORCE=1 ;;
    --boot-tweaks) BOOT_TWEAKS=1 ;;
    --no-start) NO_START=1 ;;
    --skip-packages) SKIP_PACKAGES=1 ;;
    --skip-npm) SKIP_NPM=1 ;;
    --root|--source|--bundle|--release-key|--keep|--node|--node-modules|--boot-dir|--relay-url|--country|--currency|--merchant-name|\
    --terminal-name|--profile|--keypad|--display|--keypad-vid|--keypad-pid|--supervisor-pin|--entry-mode|\
    --pole-display|--pole-display-id|--printer|--printer-id|--listen|--public-url|--tls-cert|--tls-key|\
    --omise-base-url|--omise-public-key|--omise-secret-key|--webhook-secret|--admin-token)
      need_value "$@"
      v=$2; shift
      case "$flag" in
        --root) ROOT=$v ;; --source) SOURCE=$v ;; --node) NODE=$v ;; --node-modules) NODE_MODULES=$v ;;
        --bundle) BUNDLE=$v ;; --release-key) RELEASE_KEY=$v ;; --keep) KEEP=$v ;;
        --boot-dir) BOOT_DIR=$v ;; --relay-url) RELAY_URL=$v ;; --country) COUNTRY=$v ;; --currency) CURRENCY=$v ;;
        --merchant-name) MERCHANT=$v ;; --terminal-name) TERMINAL_NAME=$v ;; --profile) PROFILE=$v ;;
        --keypad) KEYPAD=$v ;; --display) DISPLAY_PART=$v ;; --keypad-vid) KEYPAD_VID=$v ;; --keypad-pid) KEYPAD_PID=$v ;;
        --supervisor-pin) SUPERVISOR_PIN=$v ;; --entry-mode) ENTRY_MODE=$v ;;
        --pole-display) POLE_PATH=$v ;; --pole-display-id) POLE_ID=$v ;; --printer) PRINTER_PATH=$v ;; --printer-id) PRINTER_ID=$v ;;
        --listen) LISTEN=$v ;; --public-url) PUBLIC_URL=$v ;; --tls-cert) TLS_CERT=$v ;; --tls-key) TLS_KEY=$v ;;
        --omise-base-url) OMISE_BASE_URL=$v ;; --omise-public-key) OMISE_PUBLIC_KEY=$v ;;
        --omise-secret-key) OMISE_SECRET_KEY=$v ;; --webhook-secret) WEBHOOK_SECRET=$v ;; --admin-token) ADMIN_TOKEN=$v ;;
      esac ;;
    *) usage_error "unknown option: $flag" ;;
  esac
  shift
done

[ "$PURGE" = 0 ] || [ "$UNINSTALL" = 1 ] || usage_error "--purge goes with --uninstall"
if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || usage_error "--root $ROOT: no such directory"
  ROOT=$(cd "$ROOT" && pwd)
  [ "$ROOT" != / ] || ROOT=""
fi
if [ -n "$BUNDLE" ]; then
  [ -z "$SOURCE" ] || usage_error "--bundle and --source exclude each other (a bundle is the whole app)"
  if [ -n "$NODE_MODULES" ] || [ "$SKIP_NPM" = 1 ]; then usage_error "--bundle brings its own node_modules (no --node-modules, --skip-npm)"; fi
  [ "$UNINSTALL" = 0 ] || usage_error "--bundle installs; --uninstall needs no bundle"
  [ -f "$BUNDLE" ] || usage_error "--bundle $BUNDLE: no such file"
  BUNDLE=$(cd "$(dirname "$BUNDLE")" && pwd)/$(basename "$BUNDLE")
fi
[ -z "$RELEASE_KEY" ] || [ -f "$RELEASE_KEY" ] || usage_error "--release-key $RELEASE_KEY: no such file"
if ! [[ "$KEEP" =~ ^[0-9]+$ ]] || [ "$KEEP" -lt 2 ]; then usage_error "--keep: a whole number, at least 2 (the current release and the previous one)"; fi
SOURCE=${SOURCE:-$(cd "$SETUP_DIR/.." && pwd)}
[ -d "$SOURCE" ] || usage_error "--source $SOURCE: no such directory"
SOURCE=$(cd "$SOURCE" && pwd)
[ -z "$NODE_MODULES" ] || [ -d "$NODE_MODULES" ] || usage_error "--node-modules $NODE_MODULES: no such directory"
[ -z "$NODE_MODULES" ] || NODE_MODULES=$(cd "$NODE_MODULES" && pwd)
# Prompts only where someone can answer them.
[ -t 0 ] || NONINTERACTIVE=1

if [ -z "$ROOT" ] && [ "$DRY" = 0 ] && [ "$EUID" != 0 ]; then
  die "run as root (sudo $0 ...), or look first with --dry-run"
fi
WORK=$(mktemp -d)
# A release half unpacked or built by this run (releases/.incoming-<pid>-*, .build-<pid>) goes too.
# So does /opt/qrpos itself when this run made it and installed nothing (a refused bundle).
APP_MADE=0
cleanup() {
  rm -rf "$WORK"
  local rel; rel=$(p /opt/qrpos/releases)
  [ ! -d "$rel" ] || rm -rf "$rel"/.incoming-$$-* "$rel/.build-$$"
  [ "$APP_MADE" = 0 ] || [ -L "$(p /opt/qrpos/current)" ] || rm -rf "$(p /opt/qrpos)"
}
trap cleanup EXIT

# An image build (pi-gen, sdm: a chroot or systemd-nspawn without systemd as PID 1) has no
# running systemd or udev: install and enable the service, start nothing (as --no-start).
in_chroot() { [ "$(stat -c %d:%i / 2>/dev/null)" != "$(stat -c %d:%i /proc/1/root/. 2>/dev/null)" ]; }
OFFLINE=0
if [ -z "$ROOT" ] && { [ -n "${QRPOS_SETUP_OFFLINE:-}" ] || [ ! -d /run/systemd/system ] || in_chroot; }; then
  OFFLINE=1
fi

# ---------------------------------------------------------------- checks
SUPPORTED_OS="Debian 12 (bookworm) and 13 (trixie), Raspberry Pi OS Bookworm and Trixie"
check_os() {
  local f ID="" VERSION_ID="" VERSION_CODENAME="" PRETTY_NAME=""
  f=$(p /etc/os-release)
  [ -f "$f" ] || die "cannot tell the OS: $f is missing (need $SUPPORTED_OS)"
  # shellcheck disable=SC1090
  eval "$(grep -E '^(ID|VERSION_ID|VERSION_CODENAME|PRETTY_NAME)=' "$f")"
  # Raspberry Pi OS says ID=debian (arm64) or ID=raspbian (armhf); its codename is Debian's.
  local release=""
  if [ "$ID" = debian ] || [ "$ID" = raspbian ]; then
    case "$VERSION_ID:$VERSION_CODENAME" in
      12:*|*:bookworm) release=12 ;;
      13:*|*:trixie) release=13 ;;
    esac
  fi
  if [ -n "$release" ]; then
    say "OS: ${PRETTY_NAME:-$ID $VERSION_ID} (Debian $release)"
  elif [ "$FORCE" = 1 ]; then
    warn "OS ${PRETTY_NAME:-$ID $VERSION_ID} is not one of $SUPPORTED_OS; continuing (--force)"
  else
    die "unsupported OS ${PRETTY_NAME:-$ID $VERSION_ID}: qrpos supports $SUPPORTED_OS (--force to try anyway)"
  fi
}

check_arch() {
  ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
  case "$ARCH" in
    aarch64) ARCH=arm64 ;; armv7l|armv6l) ARCH=armhf ;; x86_64) ARCH=amd64 ;;
  esac
  case "$ARCH" in
    arm64|armhf|amd64) say "architecture: $ARCH" ;;
    *) if [ "$FORCE" = 1 ]; then warn "architecture $ARCH is untested; continuing (--force)"
       else die "unsupported architecture $ARCH (arm64, armhf or amd64; --force to try anyway)"; fi ;;
  esac
}

node_help() {
  cat >&2 <<'EOF'
  qrpos needs Node.js 20 or newer, with npm.
  Debian 13 / Raspberry Pi OS Trixie: Debian's own packages (Node.js 20):
    sudo apt-get install nodejs npm
  Debian 12 / Raspberry Pi OS Bookworm: Debian's own nodejs is 18, too old; install Node.js 22
  from NodeSource (it includes npm and the headers native modules build against):
    curl -fsSL https://deb.nodesource.com/setup_22.x -o /tmp/nodesource_setup.sh
    sudo bash /tmp/nodesource_setup.sh && sudo apt-get install -y nodejs
  then run this installer again. (A Node.js under /home, e.g. from nvm, cannot be used by the
  service: install it system-wide.)
EOF
}

check_node() {
  if [ -z "$NODE" ]; then NODE=$(command -v node || true); fi
  if [ -z "$NODE" ] || [ ! -x "$NODE" ]; then
    printf 'setup.sh: Node.js was not found.\n' >&2; node_help; _log_line "error: no node"; exit 1
  fi
  NODE=$(readlink -f "$NODE")
  local version major
  version=$("$NODE" -v 2>/dev/null || true)
  major=${version#v}; major=${major%%.*}
  if ! [[ "$major" =~ ^[0-9]+$ ]] || [ "$major" -lt 20 ]; then
    printf 'setup.sh: Node.js %s at %s is too old.\n' "${version:-(unknown version)}" "$NODE" >&2; node_help
    _log_line "error: node $version too old"; exit 1
  fi
  case "$NODE" in
    /home/*|/root/*) warn "Node.js at $NODE is in a home directory; the service (ProtectHome=yes) cannot run it. Install Node.js system-wide." ;;
  esac
  NODE_VERSION=$version
  say "Node.js $version at $NODE"
  # npm is needed only to build node_modules here. Debian's own nodejs ships it separately
  # (package npm); NodeSource's nodejs includes it.
  if [ "$UNINSTALL" = 0 ] && [ -z "$BUNDLE" ] && [ -z "$NODE_MODULES" ] && [ "$SKIP_NPM" = 0 ] && ! PATH="$(dirname "$NODE"):$PATH" command -v npm >/dev/null; then
    if [ -z "$ROOT" ] && [ "$SKIP_PACKAGES" = 0 ] && dpkg-query -S "$NODE" 2>/dev/null | grep -q '^nodejs:'; then
      say "npm is not installed: adding Debian's npm package (Debian's nodejs ships without it)"
      PACKAGES+=(npm)
    else
      printf 'setup.sh: npm was not found beside Node.js %s (%s).\n' "$version" "$NODE" >&2; node_help
      _log_line "error: no npm"; exit 1
    fi
  fi
}

PACKAGES=(build-essential python3 pkg-config libcairo2-dev libpango1.0-dev libjpeg-dev libgif-dev librsvg2-dev
          libudev-dev libusb-1.0-0-dev fonts-noto-core fonts-noto-cjk curl)
# A bundle's native modules are built: only the shared libraries they load (canvas: cairo, pango,
# jpeg, gif, rsvg; node-hid: udev, usb) and the fonts. No compiler, no -dev packages, no npm.
RUNTIME_PACKAGES=(libcairo2 libpango-1.0-0 libpangocairo-1.0-0 libjpeg62-turbo libgif7 librsvg2-2
                  libudev1 libusb-1.0-0 fonts-noto-core fonts-noto-cjk curl)
[ -z "$BUNDLE" ] || PACKAGES=("${RUNTIME_PACKAGES[@]}")
install_packages() {
  if [ "$SKIP_PACKAGES" = 1 ]; then say "Debian packages: skipped (--skip-packages)"; return; fi
  if [ -n "$ROOT" ]; then sys apt-get install -y --no-install-recommends "${PACKAGES[@]}"; return; fi
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} = 0 ]; then say "Debian packages: unchanged (all installed)"; return; fi
  [ "$DRY" = 1 ] || say "installing Debian packages: ${missing[*]} (apt output in $LOG_FILE)"
  apt_logged update
  apt_logged install -y --no-install-recommends "${missing[@]}"
  [ "$DRY" = 1 ] || changed
}

# apt-get with its output in the log, not on the screen; on failure the last lines are shown.
apt_logged() {
  local log; log=$(p "$LOG_FILE")
  if [ "$DRY" = 1 ] || [ -n "$ROOT" ]; then sys apt-get "$@"; return; fi
  _log_line "run: apt-get $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get "$@" >>"$log" 2>&1; then
    tail -n 15 "$log" | sed 's/^/    /' >&2
    die "apt-get $1 failed; the whole output is in $LOG_FILE"
  fi
}

# ---------------------------------------------------------------- users and groups
prefix_args=()
account_tools_ok() {
  # useradd/groupadd --prefix edit DIR/etc/{passwd,group,...} without touching this machine.
  [ -z "$ROOT" ] && { prefix_args=(); return 0; }
  prefix_args=(--prefix "$ROOT")
  [ "$EUID" = 0 ]
}

ensure_group() {
  local g=$1
  if group_exists "$g"; then say "group $g: unchanged"; return; fi
  # Checked before --dry-run, so a dry run counts what the real run would do.
  if ! account_tools_ok; then say "skipped (not root under --root): groupadd --system $g"; return; fi
  if [ "$DRY" = 1 ]; then say "would create group $g"; changed; return; fi
  groupadd "${prefix_args[@]}" --system "$g"
  say "created group $g"
  state_set "groups-created" "$(printf '%s\n%s' "$(state_get groups-created)" "$g" | sed '/^$/d' | sort -u)"
  changed
}

ensure_user() {
  local user=$1 home=$2 comment=$3
  if user_exists "$user"; then say "user $user: unchanged"; return; fi
  if ! account_tools_ok; then say "skipped (not root under --root): useradd --system $user"; return; fi
  if [ "$DRY" = 1 ]; then say "would create system user $user (no shell, home $home)"; changed; return; fi
  useradd "${prefix_args[@]}" --system --user-group --no-create-home --home-dir "$home" \
    --shell /usr/sbin/nologin --comment "$comment" "$user"
  say "created system user $user"
  changed
}

# ---------------------------------------------------------------- the app
# /opt/qrpos/releases/<version>/ holds each release as its manifest.json lists it; current and
# previous are links to two of them; scripts/release/release.cjs does the file work (checking a
# bundle while it unpacks, copying a checkout, switching the links, removing old releases).
APP=/opt/qrpos
REL_VERSION="" REL_STATUS="" REL_DIR=""
release_tool() { "$NODE" "$SETUP_DIR/release/release.cjs" "$@" 2>"$WORK/release.err"; }
release_failed() {
  sed 's/^release: //' "$WORK/release.err" | sed 's/^/    /' >&2
  _log_line "$(cat "$WORK/release.err")"
  die "$1"
}
# "key<TAB>value" lines of release.cjs: REL_VERSION, REL_STATUS, REL_DIR, and the rest by name.
read_release_out() {
  local k v
  REL_FILES="" REL_SIZE="" REL_NATIVE=""
  while IFS=$'\t' read -r k v; do
    case "$k" in
      version) REL_VERSION=$v ;; status) REL_STATUS=$v ;; dir) REL_DIR=$v ;;
      files) REL_FILES=$v ;; size) REL_SIZE=$v ;; native) REL_NATIVE=$v ;;
    esac
  done <<<"$1"
}
mb() { awk -v n="$1" 'BEGIN { printf "%.1f MB", n / 1e6 }'; }

# Only one installer at a time changes /opt/qrpos. Then what a killed install left is removed.
APP_LOCKED=0
lock_app() {
  if [ "$DRY" = 1 ] || [ "$APP_LOCKED" = 1 ]; then return 0; fi
  if [ ! -d "$(p "$APP")" ]; then mkdir -p "$(p "$APP")"; APP_MADE=1; fi
  if command -v flock >/dev/null; then
    exec 9>"$(p "$APP")/.setup.lock"
    flock -n 9 || die "another setup.sh is installing into $APP right now; wait for it to finish"
  fi
  APP_LOCKED=1
  local out k v
  out=$(release_tool clean --app "$(p "$APP")") || return 0
  while IFS=$'\t' read -r k v; do
    [ "$k" != removed ] || say "removed $APP/releases/$v (left by an install that did not finish)"
  done <<<"$out"
}

# --bundle: checked (signature, every file, architecture, Node ABI, disk space) and unpacked
# before anything else, so a bad bundle changes nothing; its device files answer the questions.
prepare_bundle() {
  local out keys=() dry=()
  [ -z "$RELEASE_KEY" ] || keys=(--key "$RELEASE_KEY")
  [ "$DRY" = 0 ] || dry=(--dry-run --scratch "$WORK")
  say "checking bundle $BUNDLE (signature, every file, architecture, Node.js ABI)"
  lock_app
  out=$(release_tool unpack "$BUNDLE" --app "$(p "$APP")" --owner $$ "${keys[@]}" "${dry[@]}") ||
    release_failed "the bundle was refused; nothing was installed or changed"
  read_release_out "$out"
  say "bundle good: qrpos $REL_VERSION, $REL_FILES files ($(mb "$REL_SIZE")), signed; native modules: $REL_NATIVE"
  SOURCE=$REL_DIR
}

# The new release runs here (every native module loads, the app's entry point), or nothing is switched.
selftest_release() {
  local dir=$1 out
  if out=$(cd / && env -u NODE_PATH "$NODE" "$dir/scripts/release/selftest.cjs" 2>&1); then
    _log_line "selftest of $REL_VERSION: $out"
    say "release $REL_VERSION runs here: ${out##*$'\n'}"
    return
  fi
  printf '%s\n' "$out" | grep -v '^ok ' | sed 's/^/    /' >&2
  _log_line "selftest of $REL_VERSION failed: $out"
  die "release $REL_VERSION does not run on this machine (above; a missing lib*.so is a missing Debian package, which setup.sh installs unless --skip-packages); nothing was switched"
}

# A checked release folder (releases/.incoming-*) in place as releases/<version>.
commit_release() {
  local out verb
  selftest_release "$REL_DIR"
  out=$(release_tool commit --app "$(p "$APP")" --dir "$REL_DIR" --version "$REL_VERSION") ||
    release_failed "could not put release $REL_VERSION in place"
  verb=installed; [ "$REL_STATUS" != repair ] || verb="replaced (its files differed)"
  REL_DIR=$(p "$APP/releases/$REL_VERSION")
  say "$verb release $REL_VERSION in $APP/releases/$REL_VERSION ($REL_FILES files, $(mb "$REL_SIZE"))"
  changed
}

install_app() {
  if [ -n "$BUNDLE" ]; then
    if [ "$REL_STATUS" = unchanged ]; then say "release $REL_VERSION: unchanged (in $APP/releases, every file as its manifest lists it)"
    elif [ "$DRY" = 1 ]; then say "would install release $REL_VERSION in $APP/releases/$REL_VERSION"; changed
    else commit_release; SOURCE=$REL_DIR; fi
  else
    stage_checkout
    # A dry run that would need npm ci first cannot know the new release's version.
    [ -n "$REL_VERSION" ] || return 0
  fi
  activate_release
  remove_flat_layout
}

# What node_modules of a checkout release was built for: a later install reuses the current
# release's node_modules (no npm ci) while this is the same.
modules_stamp_want() { printf '%s node=%s arch=%s' "$(sha256sum "$SOURCE/package-lock.json" | cut -d' ' -f1)" "$NODE_VERSION" "$ARCH"; }

# Without --bundle: this checkout (built: dist/) becomes a release. node_modules comes from
# --node-modules, else the current release's (built for the same lock file, Node.js and
# architecture), else npm ci --omit=dev, which compiles the native modules here.
stage_checkout() {
  local entry="$SOURCE/dist/src/cli/main.js" want nm="" current out build=""
  [ -f "$entry" ] || die "$SOURCE is not built ($entry missing): run scripts/bootstrap.sh (or npm ci && npm run build) there first"
  for f in package.json package-lock.json scripts/qrpos.cjs; do
    [ -f "$SOURCE/$f" ] || die "$SOURCE/$f is missing: --source must be a built qrpos checkout or release"
  done
  if [ -f "$SOURCE/manifest.json" ]; then
    # The installer of an installed release, re-run (to change an answer): that release stays.
    case "$(cd "$SOURCE" && pwd -P)" in
      "$(p "$APP")"/releases/*)
        REL_VERSION=$(basename "$(cd "$SOURCE" && pwd -P)")
        say "release $REL_VERSION (this installer's own): unchanged"
        return 0 ;;
    esac
    die "$SOURCE is an unpacked release bundle: install the bundle file with --bundle FILE"
  fi
  lock_app
  want=$(modules_stamp_want)
  current=$(p "$APP/current")
  if [ -n "$NODE_MODULES" ]; then
    nm=$NODE_MODULES
  elif [ -f "$current/node_modules/.qrpos-installed" ] && [ "$(cat "$current/node_modules/.qrpos-installed")" = "$want" ]; then
    nm="$current/node_modules"; say "node_modules: unchanged (the current release's: same lock file, Node.js, architecture)"
  elif [ "$SKIP_NPM" = 1 ]; then
    if [ -d "$current/node_modules" ]; then
      nm="$current/node_modules"; want=$(cat "$current/node_modules/.qrpos-installed" 2>/dev/null || true)
      say "npm ci: skipped (--skip-npm): the current release's node_modules are kept"
    else say "npm ci: skipped (--skip-npm): the release has no node_modules"; fi
  elif [ "$DRY" = 1 ]; then
    say "would run: npm ci --omit=dev, then install the checkout $SOURCE as a new release"; changed
    return 0
  else
    # Native modules compile here rather than download prebuilt binaries (none exist for ARM,
    # and a device may be offline from GitHub); node-gyp uses the headers Node's package ships.
    build="$(p "$APP")/releases/.build-$$"
    mkdir -p "$build"
    cp "$SOURCE/package.json" "$SOURCE/package-lock.json" "$build/"
    local -a envs=(npm_config_build_from_source=true npm_config_audit=false npm_config_fund=false)
    [ ! -f /usr/include/node/node_version.h ] || envs+=(npm_config_nodedir=/usr)
    say "npm ci --omit=dev (compiles better-sqlite3, canvas, epoll: several minutes on a Pi)"
    _log_line "run: npm ci --omit=dev in $build"
    (cd "$build" && env "${envs[@]}" PATH="$(dirname "$NODE"):$PATH" npm ci --omit=dev) \
      >>"$(p "$LOG_FILE")" 2>&1 || die "npm ci failed; see $(p "$LOG_FILE")"
    say "installed node_modules"
    nm="$build/node_modules"
  fi
  local args=(--app "$(p "$APP")" --source "$SOURCE" --installer "$SETUP_DIR" --owner $$)
  [ -z "$nm" ] || args+=(--node-modules "$nm")
  [ -z "$nm" ] || [ -z "$want" ] || args+=(--stamp "$want")
  [ "$DRY" = 0 ] || args+=(--dry-run)
  out=$(release_tool stage "${args[@]}") || release_failed "could not make a release of $SOURCE"
  [ -z "$build" ] || rm -rf "$build"
  read_release_out "$out"
  case "$REL_STATUS" in
    unchanged) say "release $REL_VERSION: unchanged ($APP/releases/$REL_VERSION has these files)" ;;
    *) if [ "$DRY" = 1 ]; then say "would install release $REL_VERSION ($REL_FILES files) in $APP/releases/$REL_VERSION"; changed
       else commit_release; fi ;;
  esac
}

# current -> releases/<version>, atomically (a new link renamed over the old); previous -> what
# current was; releases beyond --keep (never current or previous) removed.
activate_release() {
  local out k v args=(--app "$(p "$APP")" --version "$REL_VERSION" --keep "$KEEP")
  [ "$DRY" = 0 ] || args+=(--dry-run)
  out=$(release_tool activate "${args[@]}") || release_failed "could not switch $APP/current to $REL_VERSION"
  local was="" switched=0
  while IFS=$'\t' read -r k v; do
    case "$k" in
      was) was=$v ;; switched) switched=$v ;;
      removed) if [ "$DRY" = 1 ]; then say "would remove old release $v (keeping $KEEP)"; else say "removed old release $v (keeping $KEEP)"; fi; changed ;;
    esac
  done <<<"$out"
  if [ "$switched" = 1 ]; then
    if [ "$DRY" = 1 ]; then say "would switch $APP/current to releases/$REL_VERSION"
    else say "switched $APP/current to releases/$REL_VERSION${was:+ (previous: $was)}"; fi
    changed
  else
    say "$APP/current: releases/$REL_VERSION, unchanged"
  fi
}

# An install from before releases had the app itself in /opt/qrpos: gone once current runs.
remove_flat_layout() {
  local f
  for f in dist device node_modules scripts package.json package-lock.json; do
    [ ! -e "$(p "$APP/$f")" ] || remove_path "$APP/$f"
  done
}

install_wrapper() {
  cat >"$WORK/qrpos" <<EOF
#!/bin/sh
# qrpos command, installed by scripts/setup.sh: the current release in $APP on the Node.js
# chosen at install. Node resolves the link once, so a running process keeps its release's files.
exec $NODE $APP/current/scripts/qrpos.cjs "\$@"
EOF
  put_file "$WORK/qrpos" /usr/local/bin/qrpos 0755
}

unit_file_src() { if [ -f "$SOURCE/systemd/$1" ]; then echo "$SOURCE/systemd/$1"; else echo "$SETUP_DIR/../systemd/$1"; fi; }

# systemctl for unit-file state (enable, mask): on a --root install it edits DIR's symlinks
# with `systemctl --root`, which needs no running systemd.
unit_files_ctl() {
  if [ -n "$ROOT" ]; then
    if [ "$DRY" = 1 ]; then say "would run: systemctl --root=$ROOT $*"; return 0; fi
    command -v systemctl >/dev/null || { say "skipped (no systemctl here): systemctl $*"; return 0; }
    systemctl --root="$ROOT" "$@" >/dev/null 2>&1 || warn "systemctl --root=$ROOT $* failed"
  else
    sys systemctl "$@"
  fi
}
is_enabled() {
  if [ -n "$ROOT" ]; then systemctl --root="$ROOT" is-enabled "$1" 2>/dev/null; else systemctl is-enabled "$1" 2>/dev/null; fi
}

# systemctl acting on the running manager (daemon-reload, start, stop): skipped without one.
manager_ctl() {
  if [ "$OFFLINE" = 1 ]; then say "no running systemd here: skipped systemctl $*"; return 0; fi
  sys systemctl "$@"
}

enable_and_start() {
  local unit=$1 restart=$2
  [ -z "$ROOT" ] && [ "$restart" = 1 ] && manager_ctl daemon-reload
  if [ "$(is_enabled "$unit" || true)" = enabled ]; then say "$unit: enabled, unchanged"
  else unit_files_ctl enable "$unit"; [ "$DRY" = 1 ] || say "enabled $unit"; changed; fi
  if [ "$NO_START" = 1 ]; then say "not starting $unit (--no-start)"; return; fi
  if [ "$OFFLINE" = 1 ]; then say "not starting $unit: no running systemd here (image build?); it starts at boot"; return; fi
  if [ -n "$ROOT" ]; then
    if [ "$restart" = 1 ]; then sys systemctl restart "$unit"; else sys systemctl start "$unit"; fi
    return
  fi
  if [ "$restart" = 1 ] || ! systemctl is-active --quiet "$unit"; then
    sys systemctl restart "$unit"
    [ "$DRY" = 1 ] || say "started $unit"
  else
    say "$unit: running, unchanged"
  fi
}

# ---------------------------------------------------------------- questions
# ask VAR "question" secret|"" FLAG [REGEX]: keeps VAR if set; else prompts until the answer
# matches REGEX, or fails naming FLAG under --non-interactive.
ask() {
  local var=$1 question=$2 secret=${3:-} flag=$4 pattern=${5:-.} answer=""
  [ -z "${!var}" ] || return 0
  if [ "$NONINTERACTIVE" = 1 ]; then usage_error "missing $flag (required; no prompt under --non-interactive)"; fi
  while :; do
    if [ "$secret" = secret ]; then read -r -s -p "$question: " answer || exit 2; echo; else read -r -p "$question: " answer || exit 2; fi
    [[ "$answer" =~ $pattern ]] && break
    [ -z "$answer" ] || echo "  not valid here; try again ($flag)"
  done
  printf -v "$var" '%s' "$answer"
}

validate_terminal_answers() {
  case "$RELAY_URL" in http://?*|https://?*) ;; *) usage_error "--relay-url: expected http:// or https:// URL, got \"$RELAY_URL\"" ;; esac
  case "$COUNTRY" in ''|TH|SG|MY) ;; *) usage_error "--country: expected TH, SG or MY, got \"$COUNTRY\"" ;; esac
  case "$CURRENCY" in ''|THB|SGD|MYR) ;; *) usage_error "--currency: expected THB, SGD or MYR, got \"$CURRENCY\"" ;; esac
  [ ${#MERCHANT} -le 64 ] || usage_error "--merchant-name: at most 64 characters"
  [ ${#TERMINAL_NAME} -le 64 ] || usage_error "--terminal-name: at most 64 characters"
  [[ "$MERCHANT$TERMINAL_NAME" != *[$'\t\n']* ]] || usage_error "names cannot contain tabs or newlines"
  [[ "$SUPERVISOR_PIN" =~ ^[0-9]{4,8}$ ]] || usage_error "--supervisor-pin: expected 4 to 8 digits"
  [ "$SUPERVISOR_PIN" != 482913 ] || usage_error "--supervisor-pin: 482913 is the example published with qrpos; choose your own"
  case "$ENTRY_MODE" in ''|implied-decimals|decimal-point|whole-units) ;; *) usage_error "--entry-mode: expected implied-decimals, decimal-point or whole-units" ;; esac
}

currency_of() { case "$1" in TH) echo THB ;; SG) echo SGD ;; MY) echo MYR ;; esac; }

split_id() { # split_id VID:PID flag -> "vid pid"
  [[ "$1" =~ ^(0x)?[0-9a-fA-F]{1,4}:(0x)?[0-9a-fA-F]{1,4}$ ]] || usage_error "$2: expected VID:PID in hex, such as 067b:2303"
  printf '%s %s' "${1%%:*}" "${1#*:}"
}

# ---------------------------------------------------------------- terminal
TCFG=/etc/qrpos/terminal.json
TSECRETS=/etc/qrpos/terminal.secrets.json
TSTATE=/var/lib/qrpos/terminal.secrets.json

gather_terminal() {
  local k v existing_vid="" existing_pid="" existing_profile="" has_drivers=""
  EXISTING_DRIVER="" DISPLAY_TTY=""
  local existing
  existing=$(QS_EXISTING="$(p "$TCFG")" QS_SECRETS="$(p "$TSECRETS")" helper readTerminal) || exit 2
  if [ -n "$existing" ]; then
    while IFS=$'\t' read -r k v; do
      case "$k" in
        relayUrl) [ -n "$RELAY_URL" ] || RELAY_URL=$v ;;
        merchantName) [ -n "$MERCHANT" ] || MERCHANT=$v ;;
        currency) [ -n "$CURRENCY" ] || [ -n "$COUNTRY" ] || CURRENCY=$v ;;
        profile) existing_profile=$v ;;
        hasDrivers) has_drivers=$v ;;
        keypadDriver) EXISTING_DRIVER=$v ;;
        keypadVid) existing_vid=$v ;; keypadPid) existing_pid=$v ;;
        displayTty) DISPLAY_TTY=$v ;;
        supervisorPin) [ -n "$SUPERVISOR_PIN" ] || SUPERVISOR_PIN=$v ;;
      esac
    done <<<"$existing"
  fi

  ask RELAY_URL "Relay URL (e.g. https://relay.example.com)" "" --relay-url '^https?://[^[:space:]]+$'
  if [ -z "$COUNTRY" ] && [ -z "$CURRENCY" ]; then ask COUNTRY "Country (TH, SG or MY)" "" --country '^(TH|SG|MY|th|sg|my)$'; fi
  if [ -n "$COUNTRY" ]; then
    COUNTRY=${COUNTRY^^}
    case "$COUNTRY" in TH|SG|MY) ;; *) usage_error "--country: expected TH, SG or MY, got \"$COUNTRY\"" ;; esac
    local c; c=$(currency_of "$COUNTRY")
    [ -z "$CURRENCY" ] || [ "${CURRENCY^^}" = "$c" ] || usage_error "--country $COUNTRY and --currency $CURRENCY disagree"
    CURRENCY=$c
  fi
  CURRENCY=${CURRENCY^^}
  ask MERCHANT "Merchant name (shown on the screen)" "" --merchant-name '^[^[:cntrl:]]{1,64}$'

  if [ -z "$PROFILE$KEYPAD$DISPLAY_PART" ] && [ -z "$existing_profile" ] && [ -z "$has_drivers" ]; then
    if [ "$NONINTERACTIVE" = 1 ]; then usage_error "missing --profile (or --keypad and --display); profiles: $(ls "$SOURCE/device/profiles" 2>/dev/null | sed 's/\.json$//' | tr '\n' ' ')"; fi
    echo "Device profiles:"; ls "$SOURCE/device/profiles" | sed 's/\.json$//; s/^/  /'
    while [ -z "$PROFILE" ] || [ ! -f "$SOURCE/device/profiles/$PROFILE.json" ]; do
      [ -z "$PROFILE" ] || echo "  no profile $PROFILE"
      PROFILE=""; ask PROFILE "Profile" "" --profile '^[A-Za-z0-9._-]+$'
    done
  fi
  [ -n "$PROFILE$KEYPAD$DISPLAY_PART" ] || [ -z "$existing_profile" ] || [ -n "$has_drivers" ] || PROFILE=$existing_profile

  # Which keypad the choice gives decides whether USB ids are needed.
  local driver="$EXISTING_DRIVER"
  BOOT_SNIPPETS="" BOOT_KNOWN=0
  if [ -n "$PROFILE$KEYPAD$DISPLAY_PART" ]; then
    local info
    info=$(QS_SOURCE="$SOURCE" QS_PROFILE="$PROFILE" QS_KEYPAD="$KEYPAD" QS_DISPLAY="$DISPLAY_PART" helper choiceInfo) || exit 2
    driver="" DISPLAY_TTY=""
    while IFS=$'\t' read -r k v; do
      case "$k" in keypadDriver) driver=$v ;; displayTty) DISPLAY_TTY=$v ;; boot) BOOT_SNIPPETS+="$v"$'\n' ;; esac
    done <<<"$info"
    BOOT_KNOWN=1
  elif [ -n "$existing_profile" ]; then
    while IFS=$'\t' read -r k v; do
      case "$k" in boot) BOOT_SNIPPETS+="$v"$'\n' ;; displayTty) [ -n "$DISPLAY_TTY" ] || DISPLAY_TTY=$v ;; esac
    done <<<"$(QS_SOURCE="$SOURCE" QS_PROFILE="$existing_profile" helper choiceInfo 2>/dev/null || true)"
    BOOT_KNOWN=1
  fi
  KEYPAD_DRIVER=$driver
  if [ "$driver" != hid ] && [ -n "$KEYPAD_VID$KEYPAD_PID" ]; then
    usage_error "--keypad-vid/--keypad-pid apply to a USB keypad; this keypad is \"${driver:-unknown}\""
  fi
  if [ "$driver" = hid ]; then
    [ -n "$KEYPAD_VID" ] || KEYPAD_VID=$existing_vid
    [ -n "$KEYPAD_PID" ] || KEYPAD_PID=$existing_pid
    if [ -z "$KEYPAD_VID" ] || [ -z "$KEYPAD_PID" ]; then detect_keypad; fi
  fi
  ask SUPERVISOR_PIN "Supervisor PIN (4-8 digits, for voids and refunds)" secret --supervisor-pin '^[0-9]{4,8}$'
  validate_terminal_answers
}

detect_keypad() {
  local lines n
  lines=$(QS_ROOT="${ROOT:-/}" helper hidraw || true)
  n=$(printf '%s' "$lines" | grep -c . || true)
  if [ "$n" = 1 ]; then
    KEYPAD_VID=$(printf '%s' "$lines" | cut -f2); KEYPAD_PID=$(printf '%s' "$lines" | cut -f3)
    say "USB keypad: found $(printf '%s' "$lines" | cut -f4) ($KEYPAD_VID:$KEYPAD_PID)"
    return
  fi
  if [ "$NONINTERACTIVE" = 1 ]; then
    usage_error "missing --keypad-vid/--keypad-pid: found $n USB HID devices; see cat /sys/class/hidraw/hidraw*/device/uevent (HID_ID=0003:VID:PID)"
  fi
  if [ "$n" = 0 ]; then echo "No USB keypad found in /sys/class/hidraw: plug it in and run setup again, or enter its ids (lsusb shows them)."
  else echo "USB HID devices:"; printf '%s\n' "$lines" | awk -F'\t' '{printf "  %s  %s:%s  %s\n", $1, $2, $3, $4}'; fi
  ask KEYPAD_VID "Keypad USB vendor id (hex)" "" --keypad-vid '^(0x)?[0-9a-fA-F]{1,4}$'
  ask KEYPAD_PID "Keypad USB product id (hex)" "" --keypad-pid '^(0x)?[0-9a-fA-F]{1,4}$'
}

write_terminal_config() {
  local pole_vid="" pole_pid="" printer_vid="" printer_pid="" ids
  if [ -n "$POLE_ID" ]; then ids=$(split_id "$POLE_ID" --pole-display-id); pole_vid=${ids% *}; pole_pid=${ids#* }; POLE_PATH=${POLE_PATH:-/dev/qrpos-pole-display}; fi
  if [ -n "$PRINTER_ID" ]; then ids=$(split_id "$PRINTER_ID" --printer-id); printer_vid=${ids% *}; printer_pid=${ids#* }; PRINTER_PATH=${PRINTER_PATH:-/dev/qrpos-printer}; fi
  local kv="" kp=""
  if [ "$KEYPAD_DRIVER" = hid ]; then kv=$KEYPAD_VID kp=$KEYPAD_PID; fi
  (umask 077 && QS_OUTDIR="$WORK" QS_EXISTING="$(p "$TCFG")" QS_SECRETS="$(p "$TSECRETS")" QS_STATE_SECRETS="$(p "$TSTATE")" QS_SOURCE="$SOURCE" \
    QS_RELAY_URL="$RELAY_URL" QS_CURRENCY="$CURRENCY" QS_MERCHANT="$MERCHANT" QS_TERMINAL_NAME="$TERMINAL_NAME" \
    QS_PROFILE="$PROFILE" QS_KEYPAD="$KEYPAD" QS_DISPLAY="$DISPLAY_PART" QS_ENTRY_MODE="$ENTRY_MODE" \
    QS_KEYPAD_VID="$kv" QS_KEYPAD_PID="$kp" QS_SUPERVISOR_PIN="$SUPERVISOR_PIN" \
    QS_POLE_PATH="$POLE_PATH" QS_PRINTER_PATH="$PRINTER_PATH" QS_TEMPLATE="$SOURCE/device/udev/99-qrpos.rules" \
    QS_POLE_VID="$pole_vid" QS_POLE_PID="$pole_pid" QS_PRINTER_VID="$printer_vid" QS_PRINTER_PID="$printer_pid" \
    helper terminalFiles) || exit 2
  chmod 0644 "$WORK/terminal.json" "$WORK/99-qrpos.rules"

  # /etc/qrpos is root's and read-only to the service: the secrets file there (the PIN) is
  # root-only and reaches the daemon as a systemd credential (LoadCredential= in the unit).
  # The daemon's own secrets (its pairing credential) are in /var/lib/qrpos.
  put_dir /etc/qrpos 0755
  put_file "$WORK/terminal.json" "$TCFG" 0644
  put_file "$WORK/terminal.secrets.json" "$TSECRETS" 0600
  put_dir /var/lib/qrpos 0750 qrpos qrpos
  [ ! -f "$WORK/state.secrets.json" ] || put_file "$WORK/state.secrets.json" "$TSTATE" 0600 qrpos qrpos

  local before=$CHANGES
  put_file "$WORK/99-qrpos.rules" /etc/udev/rules.d/99-qrpos.rules 0644
  [ "$CHANGES" = "$before" ] || udev_reload trigger
}

# udev reads the new rules now when it runs here; otherwise (an image build, a container) they
# apply at the next boot, which is a warning, not a failure.
udev_reload() {
  if [ -z "$ROOT" ] && ! command -v udevadm >/dev/null; then say "udevadm not found: the udev rules apply after a reboot"; return; fi
  if [ -z "$ROOT" ] && [ "$DRY" = 0 ] && { [ "$OFFLINE" = 1 ] || [ ! -S /run/udev/control ]; }; then
    warn "udev is not running here (image build or container): the udev rules apply at the next boot"; return
  fi
  local trig=(udevadm trigger --action=change --subsystem-match=hidraw --subsystem-match=input
              --subsystem-match=tty --subsystem-match=graphics --subsystem-match=gpio)
  if [ "$DRY" = 1 ] || [ -n "$ROOT" ]; then
    sys udevadm control --reload; [ "${1:-}" != trigger ] || sys "${trig[@]}"; return
  fi
  if ! sys udevadm control --reload 2>>"$(p "$LOG_FILE")"; then
    warn "udevadm control --reload failed: the udev rules apply at the next boot"; return
  fi
  [ "${1:-}" != trigger ] || sys "${trig[@]}" 2>>"$(p "$LOG_FILE")" || warn "udevadm trigger failed: replug the devices or reboot"
}

# ---------------------------------------------------------------- boot tweaks
boot_dir() {
  if [ -n "$BOOT_DIR" ]; then echo "$BOOT_DIR"; elif [ -d "$(p /boot/firmware)" ]; then echo /boot/firmware; else echo /boot; fi
}

# Edit a boot file through a copy; keeps a one-time backup of the original.
boot_file_update() {
  local rel=$1 new=$2 backup=${3:-backup} dst; dst=$(p "$rel")
  if cmp -s "$new" "$dst"; then say "unchanged $rel"; return; fi
  if [ "$DRY" = 1 ]; then say "would update $rel:"; diff -u "$dst" "$new" | sed -n '3,$p' | sed 's/^/    /' || true; changed; return; fi
  if [ "$backup" = backup ]; then
    [ -e "$dst.qrpos-backup" ] || cp -p "$dst" "$dst.qrpos-backup"
    cat "$new" >"$dst"
    say "updated $rel (original kept as $rel.qrpos-backup)"
  else
    cat "$new" >"$dst"
    say "updated $rel"
  fi
  changed
}

apply_boot_tweaks() {
  local dir cmd cfg added vt
  dir=$(boot_dir); cmd="$dir/cmdline.txt"; cfg="$dir/config.txt"
  if [ ! -f "$(p "$cmd")" ]; then warn "--boot-tweaks: $cmd not found (not a Raspberry Pi OS boot partition?); skipping boot tweaks"; return; fi
  local result replaced config_file=""
  # Without a profile or parts chosen (a hand-written drivers section) the block is left as it is.
  if [ -f "$(p "$cfg")" ] && [ "$BOOT_KNOWN" = 1 ]; then config_file=$(p "$cfg"); fi
  result=$(QS_CMDLINE_FILE="$(p "$cmd")" QS_CMDLINE_OUT="$WORK/cmdline.txt" QS_MODE=add QS_TOKENS="$(grep -v '^#' "$SOURCE/device/boot/cmdline.txt")" \
    QS_CONFIG_FILE="$config_file" QS_CONFIG_OUT="$WORK/config.txt" QS_SNIPPETS="$BOOT_SNIPPETS" helper boot) || die "editing the boot files failed"
  added=$(printf '%s\n' "$result" | sed -n 's/^added\t//p'); replaced=$(printf '%s\n' "$result" | sed -n 's/^replaced\t//p')
  boot_file_update "$cmd" "$WORK/cmdline.txt"
  # Remember exactly what was added or replaced (consoleblank=600), so --uninstall can undo it.
  [ -z "$added" ] || state_set boot-cmdline-added "$( (state_get boot-cmdline-added; printf ' %s' "$added") | xargs -n1 | sort -u | xargs)"
  [ -z "$replaced" ] || state_set boot-cmdline-replaced "$( (state_get boot-cmdline-replaced; printf ' %s' "$replaced") | xargs -n1 | sort -u | xargs)"
  if [ -n "$config_file" ]; then
    boot_file_update "$cfg" "$WORK/config.txt"
  else
    say "$cfg left as it is: no profile chosen (see device/boot/ for the lines a display or keypad needs)"
  fi
  # No login prompt on the VT the display shows (its cursor and text would cover the screen).
  vt=${DISPLAY_TTY:-/dev/tty1}; vt=${vt#/dev/}
  if [ "$(is_enabled "getty@$vt.service" || true)" = masked ]; then say "getty@$vt.service: masked, unchanged"
  else
    unit_files_ctl mask "getty@$vt.service"; [ -n "$ROOT" ] || manager_ctl stop "getty@$vt.service"
    state_set getty-masked "$vt"; [ "$DRY" = 1 ] || say "masked getty@$vt.service"; changed
  fi
  [ "$DRY" = 1 ] || [ "$CHANGES" = 0 ] || say "boot changes take effect at the next reboot"
}

revert_boot_tweaks() {
  local dir cmd cfg tokens vt
  dir=$(boot_dir); cmd="$dir/cmdline.txt"; cfg="$dir/config.txt"
  tokens=$(state_get boot-cmdline-added)
  if [ -n "$tokens" ] && [ -f "$(p "$cmd")" ]; then
    QS_FILE="$(p "$cmd")" QS_OUT="$WORK/cmdline.txt" QS_MODE=remove QS_TOKENS="$tokens" QS_RESTORE="$(state_get boot-cmdline-replaced)" \
      helper cmdline >/dev/null
    boot_file_update "$cmd" "$WORK/cmdline.txt" nobackup
  fi
  if [ -f "$(p "$cfg")" ] && grep -q '^# BEGIN qrpos' "$(p "$cfg")"; then
    QS_FILE="$(p "$cfg")" QS_OUT="$WORK/config.txt" QS_SNIPPETS="" helper configBlock
    boot_file_update "$cfg" "$WORK/config.txt" nobackup
  fi
  # The backups were taken before the first change; what is there now is that, minus our edits.
  remove_path "$cmd.qrpos-backup"
  remove_path "$cfg.qrpos-backup"
  vt=$(state_get getty-masked)
  if [ -n "$vt" ]; then unit_files_ctl unmask "getty@$vt.service"; [ "$DRY" = 1 ] || say "unmasked getty@$vt.service"; fi
}

# ---------------------------------------------------------------- pairing / next step
print_next_step() {
  local listen code="" deadline
  if [ -n "$ROOT" ] || [ "$DRY" = 1 ] || [ "$NO_START" = 1 ] || [ "$OFFLINE" = 1 ]; then
    say "next: start it (systemctl start qrpos-terminal), read the pairing code on its screen or with"
    say "      curl -s http://127.0.0.1:7601/status, and approve that code on the relay"
    return
  fi
  if "$NODE" -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.exit(s.credential?0:1)' "$TSTATE" 2>/dev/null; then
    say "the terminal is already paired with its relay: ready for sales"
    return
  fi
  listen=$("$NODE" -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).statusListen||"127.0.0.1:7601")' "$TCFG")
  deadline=$((SECONDS + 45))
  say "waiting for the pairing code from http://$listen/status ..."
  while [ $SECONDS -lt $deadline ]; do
    code=$(curl -s --max-time 2 "http://$listen/status" 2>/dev/null | helper pairingCode || true)
    [ -z "$code" ] || break
    sleep 1
  done
  if [ -n "$code" ]; then
    say "PAIRING CODE: $code"
    say "next: approve this code on the relay ($RELAY_URL); the terminal then shows its idle screen"
  else
    say "no pairing code yet. It shows on the terminal's screen; also: journalctl -u qrpos-terminal -n 50"
    say "next: approve the code on the relay ($RELAY_URL); check the service with systemctl status qrpos-terminal"
  fi
}

# ---------------------------------------------------------------- relay
RCFG=/etc/qrpos/relay.json
RSECRETS=/etc/qrpos/relay.secrets.json

gather_relay() {
  local existing_country=""
  if [ -f "$(p "$RCFG")" ]; then
    existing_country=$("$NODE" -e 'try{const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(c.country||"")}catch{process.exit(2)}' "$(p "$RCFG")") ||
      die "$RCFG is not valid JSON; fix or remove it (nothing was changed)"
  fi
  if [ -f "$(p "$RSECRETS")" ]; then
    # Keys already stored are kept; only missing ones are asked for.
    local have
    have=$("$NODE" -e 'try{const s=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(Object.keys(s).join(" "))}catch{process.exit(2)}' "$(p "$RSECRETS")") ||
      die "$RSECRETS is not valid JSON; fix or remove it (nothing was changed)"
    [[ " $have " != *" omiseSecretKey "* ]] || HAVE_SECRET_KEY=1
    [[ " $have " != *" webhookSecret "* ]] || HAVE_WEBHOOK=1
  fi
  [ -n "$COUNTRY" ] || COUNTRY=$existing_country
  ask COUNTRY "Country of the Omise account (TH, SG or MY)" "" --country '^(TH|SG|MY|th|sg|my)$'
  COUNTRY=${COUNTRY^^}
  case "$COUNTRY" in TH|SG|MY) ;; *) usage_error "--country: expected TH, SG or MY, got \"$COUNTRY\"" ;; esac
  [ "${HAVE_SECRET_KEY:-0}" = 1 ] || ask OMISE_SECRET_KEY "Omise secret key (skey_...)" secret --omise-secret-key '^skey_'
  [ "${HAVE_WEBHOOK:-0}" = 1 ] || ask WEBHOOK_SECRET "Omise webhook secret (base64, from the dashboard)" secret --webhook-secret '^[A-Za-z0-9+/]{16,}={0,2}$'
  [ -z "$OMISE_SECRET_KEY" ] || [[ "$OMISE_SECRET_KEY" == skey_* ]] || usage_error "--omise-secret-key: expected skey_..."
  [ -z "$OMISE_PUBLIC_KEY" ] || [[ "$OMISE_PUBLIC_KEY" == pkey_* ]] || usage_error "--omise-public-key: expected pkey_..."
  [ -z "$WEBHOOK_SECRET" ] || [[ "$WEBHOOK_SECRET" =~ ^[A-Za-z0-9+/]{16,}={0,2}$ ]] || usage_error "--webhook-secret: expected the base64 secret from the Omise dashboard"
  [ -z "$ADMIN_TOKEN" ] || [ ${#ADMIN_TOKEN} -ge 24 ] || usage_error "--admin-token: at least 24 characters"
  for u in "$PUBLIC_URL" "$OMISE_BASE_URL"; do
    case "$u" in ''|http://?*|https://?*) ;; *) usage_error "expected an http:// or https:// URL, got \"$u\"" ;; esac
  done
}

install_relay() {
  gather_relay
  install_packages
  ensure_user qrpos-relay /var/lib/qrpos-relay "qrpos relay"
  install_app
  install_wrapper
  QS_EXISTING="$(p "$RCFG")" QS_COUNTRY="$COUNTRY" QS_LISTEN="$LISTEN" QS_PUBLIC_URL="$PUBLIC_URL" QS_TLS_CERT="$TLS_CERT" \
    QS_TLS_KEY="$TLS_KEY" QS_OMISE_BASE_URL="$OMISE_BASE_URL" helper relayConfig >"$WORK/relay.json" || exit 2
  (umask 077 && QS_EXISTING="$(p "$RSECRETS")" QS_OMISE_PUBLIC_KEY="$OMISE_PUBLIC_KEY" QS_OMISE_SECRET_KEY="$OMISE_SECRET_KEY" \
    QS_WEBHOOK_SECRET="$WEBHOOK_SECRET" QS_ADMIN_TOKEN="$ADMIN_TOKEN" helper relaySecrets >"$WORK/relay.secrets.json") || exit 2
  [ -d "$(p /etc/qrpos)" ] || put_dir /etc/qrpos 0755
  put_file "$WORK/relay.json" "$RCFG" 0644
  put_file "$WORK/relay.secrets.json" "$RSECRETS" 0600 qrpos-relay qrpos-relay
  put_dir /var/lib/qrpos-relay 0750 qrpos-relay qrpos-relay
  put_file "$(unit_file_src qrpos-relay.service)" /etc/systemd/system/qrpos-relay.service 0644
  enable_and_start qrpos-relay.service "$([ "$CHANGES" != 0 ] && echo 1 || echo 0)"
  say "relay config: $RCFG; secrets (0600, incl. the admin token for approving terminals): $RSECRETS"
  say "next: point the Omise webhook at ${PUBLIC_URL:-<public URL>}/webhooks/omise and run setup.sh on each terminal with --relay-url ${PUBLIC_URL:-<public URL>}"
}

# ---------------------------------------------------------------- terminal install
install_terminal() {
  gather_terminal
  install_packages
  for g in input gpio dialout video plugdev tty; do ensure_group "$g"; done
  ensure_user qrpos /var/lib/qrpos "qrpos terminal"
  install_app
  install_wrapper
  write_terminal_config
  [ "$BOOT_TWEAKS" = 0 ] || apply_boot_tweaks
  put_file "$(unit_file_src qrpos-terminal.service)" /etc/systemd/system/qrpos-terminal.service 0644
  enable_and_start qrpos-terminal.service "$([ "$CHANGES" != 0 ] && echo 1 || echo 0)"
  # Fleet updates: the terminal drops a verified bundle into /var/lib/qrpos/upgrades/ready/; this
  # root-only pair runs `qrpos upgrade` on it (the terminal itself cannot switch releases).
  put_file "$(unit_file_src qrpos-upgrade.service)" /etc/systemd/system/qrpos-upgrade.service 0644
  put_file "$(unit_file_src qrpos-upgrade.path)" /etc/systemd/system/qrpos-upgrade.path 0644
  enable_and_start qrpos-upgrade.path "$([ "$CHANGES" != 0 ] && echo 1 || echo 0)"
  print_next_step
}

# ---------------------------------------------------------------- uninstall
uninstall() {
  local unit user data cfgs
  if [ "$RELAY" = 1 ]; then unit=qrpos-relay.service user=qrpos-relay data=/var/lib/qrpos-relay cfgs="$RCFG $RSECRETS"
  else unit=qrpos-terminal.service user=qrpos data=/var/lib/qrpos cfgs="$TCFG $TSECRETS"; fi
  if [ -f "$(p "/etc/systemd/system/$unit")" ]; then
    [ -n "$ROOT" ] || manager_ctl stop "$unit" || true
    unit_files_ctl disable "$unit"
  fi
  remove_path "/etc/systemd/system/$unit"
  if [ "$RELAY" = 0 ] && [ -f "$(p /etc/systemd/system/qrpos-upgrade.path)" ]; then
    [ -n "$ROOT" ] || manager_ctl stop qrpos-upgrade.path || true
    unit_files_ctl disable qrpos-upgrade.path
  fi
  [ "$RELAY" = 1 ] || { remove_path /etc/systemd/system/qrpos-upgrade.path; remove_path /etc/systemd/system/qrpos-upgrade.service; }
  [ -n "$ROOT" ] || manager_ctl daemon-reload
  if [ "$RELAY" = 0 ]; then
    revert_boot_tweaks
    if [ -e "$(p /etc/udev/rules.d/99-qrpos.rules)" ]; then
      remove_path /etc/udev/rules.d/99-qrpos.rules
      udev_reload
    fi
  fi
  # The app and the command are shared by terminal and relay: keep them while the other is installed.
  local other=qrpos-relay.service; [ "$RELAY" = 0 ] || other=qrpos-terminal.service
  if [ -f "$(p "/etc/systemd/system/$other")" ]; then
    say "keeping $APP and /usr/local/bin/qrpos: $other still uses them"
  else
    remove_path /usr/local/bin/qrpos
    remove_path "$APP"
  fi
  if [ "$PURGE" = 1 ]; then
    for f in $cfgs; do remove_path "$f"; done
    if [ -d "$(p /etc/qrpos)" ] && [ -z "$(ls -A "$(p /etc/qrpos)")" ]; then remove_path /etc/qrpos; fi
    remove_path "$data"
    if user_exists "$user"; then
      if [ "$DRY" = 1 ]; then say "would remove user $user"
      elif account_tools_ok; then
        userdel "${prefix_args[@]}" "$user" && say "removed user $user"; changed
        # Its own group too (userdel leaves it where login.defs lacks USERGROUPS_ENAB).
        if group_exists "$user" && ! grep -q "^$user:[^:]*:[^:]*:." "$(p /etc/group)"; then groupdel "${prefix_args[@]}" "$user" || true; fi
      else say "skipped (not root under --root): userdel $user"; fi
    fi
  else
    say "kept: $cfgs and $data (the journal); --uninstall --purge removes them"
  fi
  if [ "$PURGE" = 1 ] && [ "$RELAY" = 0 ]; then
    # The groups this installer created, where nothing has joined them since.
    local g
    for g in $(state_get groups-created); do
      group_exists "$g" || continue
      if grep -q "^$g:[^:]*:[^:]*:." "$(p /etc/group)"; then say "kept group $g: it has members"; continue; fi
      if [ "$DRY" = 1 ]; then say "would remove group $g (created by setup)"; changed
      elif account_tools_ok; then groupdel "${prefix_args[@]}" "$g" && say "removed group $g (created by setup)"; changed
      else say "skipped (not root under --root): groupdel $g"; fi
    done
  else
    say "groups are left in place (other software may use them)"
  fi
  [ "$RELAY" = 1 ] || remove_path "$STATE_DIR"
}

# ---------------------------------------------------------------- main
[ "$DRY" = 0 ] || say "dry run: nothing will be changed"
# Flags are not logged: some carry secrets.
_log_line "setup.sh started (root=${ROOT:-/}, source=$SOURCE, bundle=${BUNDLE:-none}, relay=$RELAY, uninstall=$UNINSTALL, purge=$PURGE)"
check_node
if [ "$UNINSTALL" = 1 ]; then
  [ ! -d "$(p "$APP")" ] || lock_app
  uninstall
else
  check_os
  check_arch
  [ -z "$BUNDLE" ] || prepare_bundle
  if [ "$RELAY" = 1 ]; then install_relay; else install_terminal; fi
fi
if [ "$PURGE" = 1 ] && [ "$DRY" = 0 ] && [ ! -e "$(p /opt/qrpos)" ]; then
  # Nothing of qrpos is left to log about: the log goes too.
  printf '[setup] removed %s\n' "$LOG_FILE"; rm -f "$(p "$LOG_FILE")"; LOG_OFF=1
fi
if [ "$DRY" = 1 ]; then say "dry run done: $CHANGES change(s) would be made"
elif [ "$CHANGES" = 0 ]; then say "done: everything was already in place (unchanged)"
else say "done: $CHANGES change(s); log in $LOG_FILE"; fi
