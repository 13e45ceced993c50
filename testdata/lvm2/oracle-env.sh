# Sourced by restore-check.sh and write-check.sh: runs lvm2 from a private
# lvm.conf in ETC (no device-mapper, no udev, no backups) that sees only the
# device links in DEVDIR. Usage: oracle_env ETC DEVDIR
oracle_env() {
  local etc=$1 devdir=$2
  mkdir -p "$etc" "$devdir"
  export LVM_SYSTEM_DIR=$etc LVM_SUPPRESS_FD_WARNINGS=1 LC_ALL=C TZ=UTC
  cat > "$etc/lvm.conf" <<CONF
global { activation = 0 use_lvmpolld = 0 }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
devices {
  scan = [ "$devdir" ]
  filter = [ "a|^$devdir/|", "r|.*|" ]
  global_filter = [ "a|^$devdir/|", "r|.*|" ]
  use_devicesfile = 0
  obtain_device_list_from_udev = 0
  hints = "none"
}
backup { backup = 0 archive = 0 }
CONF
}
