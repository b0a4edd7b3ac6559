# vmlinux/: the committed per-architecture vmlinux.h (regenerate with
# vmlinux/gen-vmlinux.sh). BPF objects include it from here.
VMLINUX_H := vmlinux/$(ARCH)/vmlinux.h
