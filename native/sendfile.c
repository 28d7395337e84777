/*
 * sendfile(2) on libuv's thread pool, for blob uploads over plain HTTP: the kernel moves the bytes
 * from the page cache to the socket, where Node would read them into buffers (allocated, copied,
 * collected) and write them out again. The socket is non-blocking (libuv's): when it is full the
 * work waits in poll(2), at most `waitMs` at a time, so the caller regains control regularly.
 *
 * Both descriptors are dup(2)ed on the main thread before the work is queued, and the copies
 * closed when it ends: if Node closes the socket meanwhile (an error, a reset), the work still
 * writes to that socket and never to whatever file reuses its number.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int out;
  int in;
  off_t offset;
  size_t count;
  int wait_ms;
  size_t sent;
  int err;
} Send;

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void send_execute(napi_env env, void *p) {
  (void)env;
  Send *s = p;
  while (s->sent < s->count) {
    ssize_t n = sendfile(s->out, s->in, &s->offset, s->count - s->sent);
    if (n > 0) {
      s->sent += (size_t)n;
      continue;
    }
    if (n == 0) {
      s->err = -1; /* the file ended before the range did */
      break;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      s->err = errno;
      break;
    }
    struct pollfd pfd = {.fd = s->out, .events = POLLOUT};
    int r = poll(&pfd, 1, s->wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      s->err = errno;
      break;
    }
    if (r == 0) break; /* still full after wait_ms: report what went */
    if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL) && !(pfd.revents & POLLOUT)) {
      s->err = EPIPE;
      break;
    }
  }
}

static void send_complete(napi_env env, napi_status status, void *p) {
  Send *s = p;
  close(s->out);
  close(s->in);
  if (status == napi_ok && s->err == 0) {
    napi_value sent;
    napi_create_double(env, (double)s->sent, &sent);
    napi_resolve_deferred(env, s->deferred, sent);
  } else {
    int err = s->err ? s->err : EIO;
    napi_value msg, code, error;
    napi_create_string_utf8(env, err < 0 ? "file ended before the range did" : strerror(err), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    /* The error's code as Node names errnos, so callers tell a reset from a broken pipe. */
    const char *name = err < 0 ? "ERR_FILE_SHORT" : err == EPIPE ? "EPIPE" : err == ECONNRESET ? "ECONNRESET" : err == ETIMEDOUT ? "ETIMEDOUT" : "EIO";
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
    napi_set_named_property(env, error, "code", code);
    napi_reject_deferred(env, s->deferred, error);
  }
  napi_delete_async_work(env, s->work);
  free(s);
}

/* sendfile(outFd, inFd, offset, count, waitMs): Promise<number>, the bytes sent. */
static napi_value js_sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t out, in, wait_ms;
  double offset, count;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &out) != napi_ok || napi_get_value_int32(env, argv[1], &in) != napi_ok ||
      napi_get_value_double(env, argv[2], &offset) != napi_ok || napi_get_value_double(env, argv[3], &count) != napi_ok ||
      napi_get_value_int32(env, argv[4], &wait_ms) != napi_ok || offset < 0 || count < 0)
    return fail(env, "sendfile(outFd, inFd, offset, count, waitMs)");
  Send *s = calloc(1, sizeof *s);
  if (!s) return fail(env, "sendfile: out of memory");
  s->out = dup(out);
  s->in = dup(in);
  if (s->out < 0 || s->in < 0) {
    if (s->out >= 0) close(s->out);
    if (s->in >= 0) close(s->in);
    free(s);
    return fail(env, "sendfile: bad file descriptor");
  }
  s->offset = (off_t)offset;
  s->count = (size_t)count;
  s->wait_ms = wait_ms;
  napi_value promise, name;
  napi_create_promise(env, &s->deferred, &promise);
  napi_create_string_utf8(env, "tsbuild:sendfile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, send_execute, send_complete, s, &s->work) != napi_ok) s->work = NULL;
  if (!s->work || napi_queue_async_work(env, s->work) != napi_ok) {
    if (s->work) napi_delete_async_work(env, s->work);
    close(s->out);
    close(s->in);
    free(s);
    return fail(env, "sendfile: cannot queue the work");
  }
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, js_sendfile, NULL, &fn);
  napi_set_named_property(env, exports, "sendfile", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
