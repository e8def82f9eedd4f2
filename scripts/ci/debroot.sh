# shellcheck shell=bash
# A Debian root built here with debootstrap and entered with chroot, shared by
# scripts/ci/debian13.sh (the test line on Debian 13) and scripts/release/cross.sh (native
# modules for another architecture). Source it, then:
#
#   debroot_mirror                       the archive to use: $DEBIAN_MIRROR, else this machine's
#   debroot_create ROOT SUITE MIRROR     debootstrap a minimal SUITE into ROOT unless it has apt
#   debroot_configure ROOT SUITE MIRROR  apt sources (SUITE, -updates, -security), this machine's
#                                        certificate authorities, resolv.conf, hosts
#   debroot_mount ROOT                   /proc /sys /dev /run /tmp inside, after clearing what a
#                                        killed run left mounted; debroot_umount undoes it (call it
#                                        from an EXIT trap)
#   debroot_run ROOT CMD...              CMD as root inside, with a clean environment
#
# Needs root (debootstrap, mounts) and the Debian archive.

# shellcheck source=scripts/ci/mirror.sh
. "$(dirname "${BASH_SOURCE[0]}")/mirror.sh"

DEBROOT_MOUNTS=()

debroot_mirror() {
  local m=${DEBIAN_MIRROR:-$(mirror_of_host | head -1)}
  printf '%s\n' "${m%/}"
}

debroot_create() {
  local root=$1 suite=$2 mirror=$3
  [ -x "$root/usr/bin/apt-get" ] && return 0
  command -v debootstrap >/dev/null || {
    local lock=(); command -v flock >/dev/null && lock=(flock /tmp/apt.lock)
    "${lock[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${lock[@]}" apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mkdir -p "$root"
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
    { tail -20 "$root.debootstrap.log" >&2; echo "debroot: debootstrap $suite failed (log $root.debootstrap.log)" >&2; return 1; }
  rm -f "$root.debootstrap.log"
}

debroot_configure() {
  local root=$1 suite=$2 mirror=$3
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -f "$root/etc/apt/sources.list"
  # This machine's own certificate authorities (a proxy's), for apt and npm inside.
  if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/* "$root/usr/local/share/ca-certificates/"
  fi
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  # sudo looks up the host name.
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost ip6-localhost\n' "$(hostname)" >"$root/etc/hosts"
}

debroot_mount() {
  local root=$1 m
  # Mounts a killed run left behind (its EXIT trap never ran): mounting sysfs again on top of
  # its own mount fails ("already mounted"), so clear them first, deepest first.
  while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    awk -v r="$root/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  _debroot_bind() { mkdir -p "$root$2"; mount "${@:3}" "$1" "$root$2"; DEBROOT_MOUNTS+=("$root$2"); }
  _debroot_bind proc /proc -t proc
  _debroot_bind sysfs /sys -t sysfs
  _debroot_bind /dev /dev --rbind
  mount --make-rslave "$root/dev"
  _debroot_bind tmpfs /run -t tmpfs
  mkdir -p "$root/run/lock" "$root/run/shm"
  _debroot_bind tmpfs /tmp -t tmpfs -o mode=1777
}

debroot_umount() {
  local i
  for ((i = ${#DEBROOT_MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${DEBROOT_MOUNTS[$i]}" 2>/dev/null || true; done
  DEBROOT_MOUNTS=()
}

debroot_run() {
  local root=$1
  shift
  chroot "$root" env -i DEBIAN_FRONTEND=noninteractive PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root "$@"
}
