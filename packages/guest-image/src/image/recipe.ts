/**
 * What the guest is made of (shared/docs/qemu-guest.md): Debian 12 packages, the programs and
 * libraries taken from them, and the kernel modules for QEMU's USB controller. All of it is part of
 * the image's cache key.
 */

/** Debian 12 packages the guest is made of (`linux-image-amd64` is resolved to its versioned package). */
export const GUEST_PACKAGES = [
  'linux-image-amd64',
  'busybox-static',
  'pcscd',
  'libccid',
  'libpcsclite1',
  'pcsc-tools',
  'opensc',
  'opensc-pkcs11',
  'libusb-1.0-0',
  'libudev1',
  'libsystemd0',
  'libcap2',
  'libgcrypt20',
  'libgpg-error0',
  'liblz4-1',
  'liblzma5',
  'libzstd1',
  'libssl3',
  'zlib1g',
  'libglib2.0-0',
  'libffi8',
  'libmount1',
  'libblkid1',
  'libselinux1',
  'libpcre2-8-0',
  'libc6',
  'libgcc-s1',
] as const;

/** Programs and dlopen'ed libraries put into the image, with their DT_NEEDED closure (paths in the packages). */
export const ENTRY_POINTS = [
  'usr/sbin/pcscd',
  'usr/bin/opensc-tool',
  'usr/bin/pkcs11-tool',
  'usr/bin/pkcs15-tool',
  'usr/bin/pcsc_scan',
  'usr/lib/x86_64-linux-gnu/opensc-pkcs11.so',
  'usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Linux/libccid.so',
];
/** Loaded with dlopen, so no DT_NEEDED points at them: libpcsclite (by OpenSC), libgcc_s (by glibc). */
export const DLOPENED = ['libpcsclite.so.1', 'libgcc_s.so.1'];
export const PLAIN_FILES = [
  'usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist',
  'etc/opensc/opensc.conf',
];
/** USB host stack for QEMU's qemu-xhci controller; dependencies come from `.modinfo`. */
export const ROOT_MODULES = ['xhci-pci'];
/** Where shared libraries are looked for in the unpacked packages. */
export const LIB_DIRS = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu', 'usr/lib', 'lib'];
