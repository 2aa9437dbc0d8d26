dnl zonegate's own autoconf macros.

dnl ZG_PKG_REQUIRE(VAR, MODULES, DEBIAN-PACKAGE)
dnl pkg-config check that stops configure naming the package to install.
AC_DEFUN([ZG_PKG_REQUIRE], [
  PKG_CHECK_MODULES([$1], [$2], [],
    [AC_MSG_ERROR([$2 not found ($$1_PKG_ERRORS).
Install the Debian package $3 (apt-get install $3), or run contrib/install-deps.sh.])])
])

dnl ZG_CHECK_FLAG(FLAGS, VAR, [LINK])
dnl Append FLAGS to VAR when the compiler (and linker, if LINK is given)
dnl accepts them without any warning (-Werror).
AC_DEFUN([ZG_CHECK_FLAG], [
  AS_VAR_PUSHDEF([zg_cv], [zg_cv_flag_$3_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [zg_cv], [
    zg_save_CFLAGS=$CFLAGS
    zg_save_LDFLAGS=$LDFLAGS
    CFLAGS="$CFLAGS -Werror $1"
    m4_ifval([$3], [LDFLAGS="$LDFLAGS $1"])
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <stdio.h>
#include <string.h>]], [[char b[8]; snprintf(b, sizeof b, "%d", 1); return (int)strlen(b);]])],
      [AS_VAR_SET([zg_cv], [yes])], [AS_VAR_SET([zg_cv], [no])])
    CFLAGS=$zg_save_CFLAGS
    LDFLAGS=$zg_save_LDFLAGS])
  AS_VAR_IF([zg_cv], [yes], [$2="$$2 $1"])
  AS_VAR_POPDEF([zg_cv])
])

AC_DEFUN([ZG_PTHREAD], [
  AC_SEARCH_LIBS([pthread_create], [pthread], [],
    [AC_MSG_ERROR([pthreads not found: install the Debian package libc6-dev])])
  PTHREAD_CFLAGS="-pthread"
  AC_SUBST([PTHREAD_CFLAGS])
])

dnl --with-tls=boringssl|openssl
AC_DEFUN([ZG_CHECK_TLS], [
  AC_ARG_WITH([tls],
    [AS_HELP_STRING([--with-tls=ENGINE],
      [TLS library: boringssl (default; Debian android-libboringssl-dev) or openssl (OpenSSL 3)])],
    [], [with_tls=boringssl])
  AC_ARG_VAR([BORINGSSL_CFLAGS], [C compiler flags for BoringSSL (default: -I/usr/include/android)])
  AC_ARG_VAR([BORINGSSL_LIBS], [linker flags for BoringSSL (default: the Debian android lib folder with an rpath)])
  zg_save_CFLAGS=$CFLAGS
  zg_save_LIBS=$LIBS
  AS_CASE([$with_tls],
  [boringssl], [
    dnl android-libboringssl-dev ships no .pc file: use its folders.
    zg_multiarch=`$CC -print-multiarch 2>/dev/null`
    AS_IF([test -z "$zg_multiarch"], [zg_multiarch=`dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null`])
    zg_bssl_libdir="/usr/lib/$zg_multiarch/android"
    AS_IF([test -z "$BORINGSSL_CFLAGS"], [BORINGSSL_CFLAGS="-I/usr/include/android"])
    AS_IF([test -z "$BORINGSSL_LIBS"],
      [BORINGSSL_LIBS="-L$zg_bssl_libdir -Wl,-rpath,$zg_bssl_libdir -lssl -lcrypto"])
    TLS_CFLAGS=$BORINGSSL_CFLAGS
    TLS_LIBS=$BORINGSSL_LIBS
    CFLAGS="$CFLAGS $TLS_CFLAGS"
    LIBS="$TLS_LIBS $LIBS"
    AC_MSG_CHECKING([for BoringSSL (OPENSSL_IS_BORINGSSL)])
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <openssl/ssl.h>
#ifndef OPENSSL_IS_BORINGSSL
#error not BoringSSL
#endif]], [[SSL_CTX *c = SSL_CTX_new(TLS_method()); SSL_CTX_free(c);]])],
      [AC_MSG_RESULT([yes])],
      [AC_MSG_RESULT([no])
       AC_MSG_ERROR([BoringSSL not found with $TLS_CFLAGS $TLS_LIBS.
Install the Debian package android-libboringssl-dev, set BORINGSSL_CFLAGS/BORINGSSL_LIBS,
or configure --with-tls=openssl.])])
    AC_DEFINE([ZG_TLS_BORINGSSL], [1], [Built against BoringSSL])
  ],
  [openssl], [
    PKG_CHECK_MODULES([TLS], [libssl >= 3.0 libcrypto >= 3.0], [],
      [AC_MSG_ERROR([OpenSSL 3 not found: install the Debian package libssl-dev])])
    CFLAGS="$CFLAGS $TLS_CFLAGS"
    LIBS="$TLS_LIBS $LIBS"
    AC_MSG_CHECKING([that the OpenSSL headers are not BoringSSL's])
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <openssl/ssl.h>
#ifdef OPENSSL_IS_BORINGSSL
#error BoringSSL headers found
#endif]], [[]])], [AC_MSG_RESULT([yes])],
      [AC_MSG_ERROR([--with-tls=openssl found BoringSSL headers first in $TLS_CFLAGS])])
    AC_DEFINE([ZG_TLS_OPENSSL], [1], [Built against OpenSSL 3])
  ],
  [AC_MSG_ERROR([--with-tls must be boringssl or openssl, not '$with_tls'])])
  CFLAGS=$zg_save_CFLAGS
  LIBS=$zg_save_LIBS
  AC_SUBST([TLS_CFLAGS])
  AC_SUBST([TLS_LIBS])
  AC_SUBST([with_tls])
  AC_DEFINE_UNQUOTED([ZG_TLS_ENGINE], ["$with_tls"], [TLS engine name])
  AM_CONDITIONAL([TLS_BORINGSSL], [test "x$with_tls" = xboringssl])
])

AC_DEFUN([ZG_CHECK_WARNINGS], [
  AC_ARG_ENABLE([werror],
    [AS_HELP_STRING([--disable-werror], [do not turn warnings into errors])],
    [], [enable_werror=yes])
  WARN_CFLAGS=""
  for zg_f in -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith \
              -Wstrict-prototypes -Wmissing-prototypes -Wvla \
              -Wno-format-nonliteral; do
    ZG_CHECK_FLAG([$zg_f], [WARN_CFLAGS])
  done
  AS_IF([test "x$enable_werror" = xyes], [WARN_CFLAGS="$WARN_CFLAGS -Werror"])
  AC_SUBST([WARN_CFLAGS])
])

AC_DEFUN([ZG_CHECK_HARDENING], [
  AC_ARG_ENABLE([hardening],
    [AS_HELP_STRING([--disable-hardening], [do not add hardening flags])],
    [], [enable_hardening=yes])
  HARDEN_CFLAGS=""
  HARDEN_LDFLAGS=""
  PIE_CFLAGS=""
  PIE_LDFLAGS=""
  AS_IF([test "x$enable_hardening" = xyes], [
    ZG_CHECK_FLAG([-fstack-protector-strong], [HARDEN_CFLAGS])
    ZG_CHECK_FLAG([-fstack-clash-protection], [HARDEN_CFLAGS])
    ZG_CHECK_FLAG([-fcf-protection], [HARDEN_CFLAGS])
    dnl _FORTIFY_SOURCE warns (an error here) when not optimising: the probe
    dnl compiles with the user's CFLAGS so an -O0 build simply omits it.
    ZG_CHECK_FLAG([-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2], [HARDEN_CFLAGS])
    ZG_CHECK_FLAG([-Wl,-z,relro], [HARDEN_LDFLAGS], [link])
    ZG_CHECK_FLAG([-Wl,-z,now], [HARDEN_LDFLAGS], [link])
    ZG_CHECK_FLAG([-Wl,-z,noexecstack], [HARDEN_LDFLAGS], [link])
    ZG_CHECK_FLAG([-fPIE], [PIE_CFLAGS])
    ZG_CHECK_FLAG([-pie], [PIE_LDFLAGS], [link])
  ])
  AC_SUBST([HARDEN_CFLAGS])
  AC_SUBST([HARDEN_LDFLAGS])
  AC_SUBST([PIE_CFLAGS])
  AC_SUBST([PIE_LDFLAGS])
])

AC_DEFUN([ZG_CHECK_SANITIZERS], [
  AC_ARG_ENABLE([sanitizers],
    [AS_HELP_STRING([--enable-sanitizers],
      [build with -fsanitize=address,undefined (use with --with-tls=openssl: ASan refuses RTLD_DEEPBIND)])],
    [], [enable_sanitizers=no])
  SAN_CFLAGS=""
  AS_IF([test "x$enable_sanitizers" = xyes], [
    SAN_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    zg_save_CFLAGS=$CFLAGS; zg_save_LDFLAGS=$LDFLAGS
    CFLAGS="$CFLAGS $SAN_CFLAGS"; LDFLAGS="$LDFLAGS $SAN_CFLAGS"
    AC_MSG_CHECKING([whether $CC can build with ASan and UBSan])
    AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])], [AC_MSG_RESULT([yes])],
      [AC_MSG_ERROR([$CC cannot link with $SAN_CFLAGS: install libasan8 and libubsan1 (Debian gcc does), or use clang])])
    CFLAGS=$zg_save_CFLAGS; LDFLAGS=$zg_save_LDFLAGS
    AC_DEFINE([ZG_SANITIZERS], [1], [Built with ASan/UBSan])
  ])
  AC_SUBST([SAN_CFLAGS])
  AM_CONDITIONAL([SANITIZERS], [test "x$enable_sanitizers" = xyes])
])

dnl --enable-fuzzers builds real libFuzzer binaries (needs clang).  Without it
dnl the fuzz targets are still built, against a small replay driver, and
dnl their seed corpora run in make check as regression tests.
AC_DEFUN([ZG_CHECK_FUZZERS], [
  AC_ARG_ENABLE([fuzzers],
    [AS_HELP_STRING([--enable-fuzzers], [build libFuzzer targets (needs CC=clang)])],
    [], [enable_fuzzers=no])
  FUZZ_CFLAGS=""
  FUZZ_ALL_CFLAGS=""
  AS_IF([test "x$enable_fuzzers" = xyes], [
    dnl Every object gets coverage instrumentation (fuzzer-no-link) so that
    dnl targets linking the project's libraries are not fuzzing blind.
    FUZZ_ALL_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
    FUZZ_CFLAGS="-fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer"
    zg_save_CFLAGS=$CFLAGS; CFLAGS="$CFLAGS $FUZZ_CFLAGS"
    AC_MSG_CHECKING([whether $CC supports libFuzzer])
    AC_LINK_IFELSE([AC_LANG_SOURCE([[#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }]])],
      [AC_MSG_RESULT([yes])],
      [AC_MSG_ERROR([$CC cannot build libFuzzer targets: configure with CC=clang (Debian clang + libclang-rt-14-dev)])])
    CFLAGS=$zg_save_CFLAGS
  ])
  AC_SUBST([FUZZ_CFLAGS])
  AC_SUBST([FUZZ_ALL_CFLAGS])
  AM_CONDITIONAL([FUZZERS], [test "x$enable_fuzzers" = xyes])
])

dnl --disable-seccomp builds without the system-call filter (libseccomp).
dnl By default libseccomp is required and its absence stops configure
dnl naming the package, so a build never silently loses the sandbox.
AC_DEFUN([ZG_CHECK_SECCOMP], [
  AC_ARG_ENABLE([seccomp],
    [AS_HELP_STRING([--disable-seccomp],
      [build without the seccomp system-call filter (gateway.seccomp must then be "off")])],
    [], [enable_seccomp=yes])
  SECCOMP_CFLAGS=""
  SECCOMP_LIBS=""
  AS_IF([test "x$enable_seccomp" != xno], [
    PKG_CHECK_MODULES([SECCOMP], [libseccomp >= 2.4], [],
      [AC_MSG_ERROR([libseccomp >= 2.4 not found ($SECCOMP_PKG_ERRORS).
Install the Debian package libseccomp-dev (apt-get install libseccomp-dev), run contrib/install-deps.sh,
or configure with --disable-seccomp to build without the system-call filter.])])
    AC_DEFINE([HAVE_SECCOMP], [1], [Build the seccomp system-call filter])
  ])
  AC_SUBST([SECCOMP_CFLAGS])
  AC_SUBST([SECCOMP_LIBS])
  AM_CONDITIONAL([SECCOMP], [test "x$enable_seccomp" != xno])
])

dnl --with-systemdsystemunitdir=DIR (default ${prefix}/lib/systemd/system,
dnl which systemd reads for /usr and /usr/local; "no" installs no unit).
AC_DEFUN([ZG_CHECK_SYSTEMD], [
  AC_ARG_WITH([systemdsystemunitdir],
    [AS_HELP_STRING([--with-systemdsystemunitdir=DIR],
      [where make install puts zonegate.service (default PREFIX/lib/systemd/system; no = do not install)])],
    [], [with_systemdsystemunitdir='${prefix}/lib/systemd/system'])
  AS_IF([test "x$with_systemdsystemunitdir" = xno], [with_systemdsystemunitdir=""])
  AC_SUBST([systemdsystemunitdir], [$with_systemdsystemunitdir])
  AM_CONDITIONAL([SYSTEMD_UNIT], [test -n "$with_systemdsystemunitdir"])
])
