/*
 * sha256 on libuv's thread pool, for blobs hashed while they stream in. Node's createHash runs on
 * the main thread, where a 1 GiB pull spends a third of its time hashing while the network and the
 * disk wait for it; here each update is queued as async work and the main thread goes on. Buffers
 * are held (not copied) until hashed. One update at a time per hasher: the caller chains them.
 *
 * OpenSSL comes from the Node binary itself (its EVP symbols are global in the process), with the
 * headers Node installs next to node_api.h.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/evp.h>

#include <stdlib.h>

typedef struct {
  EVP_MD_CTX *md;
  int busy;
} Hasher;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  Hasher *hasher;
  napi_ref hasher_ref;
  size_t count;
  napi_ref *refs;
  const unsigned char **data;
  size_t *len;
  int ok;
} Update;

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void hasher_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Hasher *h = data;
  EVP_MD_CTX_free(h->md);
  free(h);
}

/* The call's arguments (`want` of them) into argv, the first being a hasher; NULL after throwing. */
static Hasher *hasher_call(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  void *h = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    fail(env, usage);
    return NULL;
  }
  if (napi_get_value_external(env, argv[0], &h) != napi_ok || !h) {
    fail(env, "sha256: not a hasher");
    return NULL;
  }
  return h;
}

/* A new hasher: fresh, or with the state of `from` (a registry rolls back a failed chunk to it). */
static napi_value new_hasher(napi_env env, const Hasher *from) {
  Hasher *h = calloc(1, sizeof *h);
  if (!h) return fail(env, "sha256: out of memory");
  h->md = EVP_MD_CTX_new();
  if (!h->md || (from ? EVP_MD_CTX_copy_ex(h->md, from->md) : EVP_DigestInit_ex(h->md, EVP_sha256(), NULL)) != 1) {
    EVP_MD_CTX_free(h->md);
    free(h);
    return fail(env, "sha256: cannot initialise a digest");
  }
  napi_value ext;
  if (napi_create_external(env, h, hasher_free, NULL, &ext) != napi_ok) {
    hasher_free(env, h, NULL);
    return fail(env, "sha256: cannot create the hasher");
  }
  return ext;
}

/* create(): a hasher (an external value), ready for updates. */
static napi_value create(napi_env env, napi_callback_info info) {
  (void)info;
  return new_hasher(env, NULL);
}

/* copy(hasher): a new hasher in the same state, once no update is running. */
static napi_value copy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Hasher *h = hasher_call(env, info, 1, argv, "sha256: copy(hasher)");
  if (!h) return NULL;
  if (h->busy) return fail(env, "sha256: copy while an update is running");
  return new_hasher(env, h);
}

static void update_execute(napi_env env, void *p) {
  (void)env;
  Update *u = p;
  u->ok = 1;
  for (size_t i = 0; i < u->count && u->ok; i++) u->ok = EVP_DigestUpdate(u->hasher->md, u->data[i], u->len[i]) == 1;
}

static void update_free(napi_env env, Update *u) {
  for (size_t i = 0; i < u->count; i++)
    if (u->refs[i]) napi_delete_reference(env, u->refs[i]);
  if (u->hasher_ref) napi_delete_reference(env, u->hasher_ref);
  if (u->work) napi_delete_async_work(env, u->work);
  free(u->refs);
  free(u->data);
  free(u->len);
  free(u);
}

static void update_complete(napi_env env, napi_status status, void *p) {
  Update *u = p;
  u->hasher->busy = 0;
  if (status == napi_ok && u->ok) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, u->deferred, undefined);
  } else {
    napi_value msg, error;
    napi_create_string_utf8(env, "sha256: update failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_reject_deferred(env, u->deferred, error);
  }
  update_free(env, u);
}

/* update(hasher, chunks: Uint8Array[]): Promise<void>, resolved once every chunk is hashed. */
static napi_value update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Hasher *h = hasher_call(env, info, 2, argv, "sha256: update(hasher, chunks)");
  if (!h) return NULL;
  if (h->busy) return fail(env, "sha256: an update is already running on this hasher");
  uint32_t count;
  if (napi_get_array_length(env, argv[1], &count) != napi_ok) return fail(env, "sha256: chunks must be an array");
  Update *u = calloc(1, sizeof *u);
  if (!u) return fail(env, "sha256: out of memory");
  u->hasher = h;
  u->refs = calloc(count ? count : 1, sizeof *u->refs);
  u->data = calloc(count ? count : 1, sizeof *u->data);
  u->len = calloc(count ? count : 1, sizeof *u->len);
  if (!u->refs || !u->data || !u->len) {
    update_free(env, u);
    return fail(env, "sha256: out of memory");
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value chunk;
    napi_typedarray_type type;
    size_t length;
    void *data;
    if (napi_get_element(env, argv[1], i, &chunk) != napi_ok ||
        napi_get_typedarray_info(env, chunk, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
      update_free(env, u);
      return fail(env, "sha256: chunks must be Uint8Arrays");
    }
    // The chunk stays alive (and unmoved: array buffers do not move) until the work completes.
    if (napi_create_reference(env, chunk, 1, &u->refs[i]) != napi_ok) {
      update_free(env, u);
      return fail(env, "sha256: cannot hold a chunk");
    }
    u->count = i + 1;
    u->data[i] = data;
    u->len[i] = length;
  }
  napi_value promise, name;
  if (napi_create_reference(env, argv[0], 1, &u->hasher_ref) != napi_ok || napi_create_promise(env, &u->deferred, &promise) != napi_ok) {
    update_free(env, u);
    return fail(env, "sha256: cannot start an update");
  }
  napi_create_string_utf8(env, "tsbuild:sha256", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, update_execute, update_complete, u, &u->work) != napi_ok || napi_queue_async_work(env, u->work) != napi_ok) {
    // The promise is left pending for good; the caller gets the throw instead.
    update_free(env, u);
    return fail(env, "sha256: cannot queue an update");
  }
  h->busy = 1;
  return promise;
}

/* digest(hasher): the 32-byte digest, once no update is running; the hasher is spent. */
static napi_value digest(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Hasher *h = hasher_call(env, info, 1, argv, "sha256: digest(hasher)");
  if (!h) return NULL;
  if (h->busy) return fail(env, "sha256: digest while an update is running");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(h->md, out, &len) != 1) return fail(env, "sha256: digest failed");
  napi_value result;
  void *copy;
  if (napi_create_buffer_copy(env, len, out, &copy, &result) != napi_ok) return fail(env, "sha256: out of memory");
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"update", NULL, update, NULL, NULL, NULL, napi_default, NULL},
      {"digest", NULL, digest, NULL, NULL, NULL, napi_default, NULL},
      {"copy", NULL, copy, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
