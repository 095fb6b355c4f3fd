/* seal.h - sealing of personal records with AES-256-GCM (the only user of
 * mbedTLS): a random 96-bit nonce per record from a CTR-DRBG, the record's
 * identity as associated data, the key-encryption key derived from a key
 * file with HKDF-SHA256, keyed digests (HMAC-SHA-256) for looking personal
 * data up without storing it, and SHA-256 for the manifest. The record (SQLite,
 * files) is left to db.c and atomic.c. */
#ifndef ED_STORE_SEAL_H
#define ED_STORE_SEAL_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#define ED_SEAL_KEY_LEN 32   /* bytes of an AES-256 key */
#define ED_SEAL_VERSION 1    /* first byte of every sealed record */
#define ED_SEAL_NONCE_LEN 12 /* bytes */
#define ED_SEAL_TAG_LEN 16   /* bytes */
#define ED_SEAL_OVERHEAD (1 + ED_SEAL_NONCE_LEN + ED_SEAL_TAG_LEN)

typedef struct ed_seal ed_seal_t;

/* Seeds the random generator from the entropy source; no key is set yet. */
int ed_seal_open(ed_seal_t **out, char err[ED_ERR_LEN]);
void ed_seal_close(ed_seal_t *seal); /* accepts NULL; wipes the keys */

/* Fills buf with len random bytes (reseeded after a fork). */
int ed_seal_random(ed_seal_t *seal, void *buf, size_t len);

/* Reads the key-encryption key's source file and derives the key with
 * HKDF-SHA256 (any non-empty length of file works). A file readable or
 * writable by group or others is refused with ED_EACCES; when `create` is
 * set, a missing file is created with 32 random bytes, mode 0600. */
int ed_seal_kek_load(ed_seal_t *seal, const char *path, int create, uint8_t kek[ED_SEAL_KEY_LEN],
                     char err[ED_ERR_LEN]);

/* Makes a fresh random data key, sets it, and returns it wrapped under kek
 * (sealed with the associated data "data-key"): wrapped receives
 * ED_SEAL_KEY_LEN + ED_SEAL_OVERHEAD bytes. */
int ed_seal_key_create(ed_seal_t *seal, const uint8_t kek[ED_SEAL_KEY_LEN],
                       uint8_t wrapped[ED_SEAL_KEY_LEN + ED_SEAL_OVERHEAD], char err[ED_ERR_LEN]);
/* Unwraps a data key made by ed_seal_key_create and sets it; a kek that does
 * not open it is ED_EACCES. */
int ed_seal_key_unwrap(ed_seal_t *seal, const uint8_t kek[ED_SEAL_KEY_LEN], const void *wrapped, size_t len,
                       char err[ED_ERR_LEN]);

/* Bytes a sealed record of plain_len bytes takes. */
static inline size_t ed_seal_size(size_t plain_len)
{
    return plain_len + ED_SEAL_OVERHEAD;
}

/* Seals plain (len bytes) under the data key with `identity` as associated
 * data into out (ed_seal_size(len) bytes). */
int ed_seal_seal(ed_seal_t *seal, const char *identity, const void *plain, size_t len, uint8_t *out);
/* Opens a sealed record into out (at least sealed_len - ED_SEAL_OVERHEAD
 * bytes; *out_len set). A record that does not open under this key and
 * identity is ED_ECORRUPT with err naming the identity; nothing is written
 * to out that was not authenticated. */
int ed_seal_unseal(ed_seal_t *seal, const char *identity, const void *sealed, size_t sealed_len, uint8_t *out,
                   size_t *out_len, char err[ED_ERR_LEN]);

/* A keyed digest: HMAC-SHA-256 under a key derived from the data key (HKDF
 * with its own label, so it never equals a sealing key) over `domain` (a
 * NUL-terminated label that keeps digests of different kinds apart) and
 * parts[0..n), each preceded by its length so that no two lists of parts
 * give the same input. For finding a record by personal data (a document's
 * source, its content) without storing that data or a plain hash of it.
 * ED_ESTATE before a data key is set. */
#define ED_SEAL_MAC_LEN 32
typedef struct {
    const void *data;
    size_t len;
} ed_seal_part_t;
int ed_seal_mac(ed_seal_t *seal, const char *domain, const ed_seal_part_t *parts, int n,
                uint8_t out[ED_SEAL_MAC_LEN]);

/* SHA-256 of data, as 32 bytes and as 64 lowercase hex digits plus NUL. */
void ed_seal_sha256(const void *data, size_t len, uint8_t digest[32]);
void ed_seal_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
