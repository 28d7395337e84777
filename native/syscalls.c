/*
 * The few Linux system calls Node has no binding for and every build step makes: mounting and
 * unmounting overlays, reading and writing the extended attributes overlay keeps its marks in,
 * making whiteouts (0/0 character devices), setting nanosecond times on symlinks. Without this
 * module the same calls are made by spawning mount, umount, getfattr and perl, which costs a few
 * milliseconds of process start each, several times per step.
 *
 * Errors are thrown as Node's own: an Error with `code` (ENOENT...), `errno` and `syscall`.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define CHECK(call)                                                              \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      napi_throw_error(env, NULL, "syscalls: bad arguments");                    \
      return NULL;                                                               \
    }                                                                            \
  } while (0)

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  char msg[4200];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s, %s '%s'", name ? name : "EUNKNOWN", strerror(err), syscall, path ? path : "");
  napi_value error, text, code, errnum, sys;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, -err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_set_named_property(env, error, "code", code);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
  return NULL;
}

/* A string argument, malloc'd (the caller frees); NULL after throwing. */
static char *string_arg(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "syscalls: expected a string");
    return NULL;
  }
  char *s = malloc(len + 1);
  if (!s) {
    napi_throw_error(env, NULL, "syscalls: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* mount(source, target, fstype, flags, data) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t flags;
  CHECK(napi_get_value_int64(env, argv[3], &flags));
  char *source = string_arg(env, argv[0]), *target = string_arg(env, argv[1]), *fstype = string_arg(env, argv[2]), *data = string_arg(env, argv[4]);
  napi_value out = NULL;
  if (source && target && fstype && data) {
    if (mount(source, target, fstype, (unsigned long)flags, data) != 0) throw_errno(env, errno, "mount", target);
    else out = undefined(env);
  }
  free(source), free(target), free(fstype), free(data);
  return out;
}

/* umount(target, flags) */
static napi_value js_umount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t flags;
  CHECK(napi_get_value_int32(env, argv[1], &flags));
  char *target = string_arg(env, argv[0]);
  if (!target) return NULL;
  napi_value out = NULL;
  if (umount2(target, flags) != 0) throw_errno(env, errno, "umount2", target);
  else out = undefined(env);
  free(target);
  return out;
}

/* lgetxattr(path, name): Buffer, or null when the attribute (or xattr support) is absent. */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *path = string_arg(env, argv[0]), *name = string_arg(env, argv[1]);
  napi_value out = NULL;
  if (path && name) {
    for (;;) {
      ssize_t size = lgetxattr(path, name, NULL, 0);
      if (size < 0) {
        if (errno == ENODATA || errno == ENOTSUP) napi_get_null(env, &out);
        else throw_errno(env, errno, "lgetxattr", path);
        break;
      }
      void *data;
      napi_value buf;
      napi_create_buffer(env, (size_t)size, &data, &buf);
      ssize_t got = size > 0 ? lgetxattr(path, name, data, (size_t)size) : 0;
      if (got < 0 && errno == ERANGE) continue; /* it grew in between */
      if (got < 0) {
        throw_errno(env, errno, "lgetxattr", path);
        break;
      }
      napi_create_buffer_copy(env, (size_t)got, data, NULL, &out);
      break;
    }
  }
  free(path), free(name);
  return out;
}

/* llistxattr(path): the attribute names, [] when none or unsupported. */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *path = string_arg(env, argv[0]);
  if (!path) return NULL;
  napi_value out = NULL;
  char stack[1024];
  char *list = stack;
  ssize_t n = llistxattr(path, stack, sizeof stack);
  if (n < 0 && errno == ERANGE) {
    ssize_t size = llistxattr(path, NULL, 0);
    list = size > 0 ? malloc((size_t)size) : NULL;
    n = list ? llistxattr(path, list, (size_t)size) : -1;
  }
  if (n < 0 && (errno == ENOTSUP || errno == ENODATA)) n = 0;
  if (n < 0) throw_errno(env, errno, "llistxattr", path);
  else {
    napi_create_array(env, &out);
    uint32_t i = 0;
    for (ssize_t off = 0; off < n;) {
      size_t len = strnlen(list + off, (size_t)(n - off));
      napi_value s;
      napi_create_string_utf8(env, list + off, len, &s);
      napi_set_element(env, out, i++, s);
      off += (ssize_t)len + 1;
    }
  }
  if (list != stack) free(list);
  free(path);
  return out;
}

/* lsetxattr(path, name, value: Buffer) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[2], &data, &len));
  char *path = string_arg(env, argv[0]), *name = string_arg(env, argv[1]);
  napi_value out = NULL;
  if (path && name) {
    if (lsetxattr(path, name, data, len, 0) != 0) throw_errno(env, errno, "lsetxattr", path);
    else out = undefined(env);
  }
  free(path), free(name);
  return out;
}

/* lremovexattr(path, name); an absent attribute is not an error. */
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *path = string_arg(env, argv[0]), *name = string_arg(env, argv[1]);
  napi_value out = NULL;
  if (path && name) {
    if (lremovexattr(path, name) != 0 && errno != ENODATA) throw_errno(env, errno, "lremovexattr", path);
    else out = undefined(env);
  }
  free(path), free(name);
  return out;
}

/* mknod(path, mode, major, minor) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t mode, major_, minor_;
  CHECK(napi_get_value_uint32(env, argv[1], &mode));
  CHECK(napi_get_value_uint32(env, argv[2], &major_));
  CHECK(napi_get_value_uint32(env, argv[3], &minor_));
  char *path = string_arg(env, argv[0]);
  if (!path) return NULL;
  napi_value out = NULL;
  if (mknod(path, mode, makedev(major_, minor_)) != 0) throw_errno(env, errno, "mknod", path);
  else out = undefined(env);
  free(path);
  return out;
}

/* lutimens(path, seconds: bigint, nanoseconds): atime and mtime, exactly, not following symlinks. */
static napi_value js_lutimens(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t sec;
  bool lossless;
  uint32_t nsec;
  CHECK(napi_get_value_bigint_int64(env, argv[1], &sec, &lossless));
  CHECK(napi_get_value_uint32(env, argv[2], &nsec));
  char *path = string_arg(env, argv[0]);
  if (!path) return NULL;
  struct timespec ts[2] = {{.tv_sec = sec, .tv_nsec = nsec}, {.tv_sec = sec, .tv_nsec = nsec}};
  napi_value out = NULL;
  if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0) throw_errno(env, errno, "utimensat", path);
  else out = undefined(env);
  free(path);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"umount", NULL, js_umount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lutimens", NULL, js_lutimens, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
