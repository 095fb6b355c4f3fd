/* seal.c - AES-256-GCM sealing of records, data-key wrapping, the key file
 * (HKDF-SHA256 into the key-encryption key), keyed digests (HMAC-SHA-256
 * under a key derived from the data key) and SHA-256, over mbedTLS 2.28.
 * A sealed record is: version byte || 96-bit nonce || ciphertext || 128-bit
 * tag, with the record's identity ("doc:42:text") as associated data. */
#include "store/seal.h"

#include "store/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#define KEY_FILE_MAX (1 << 20) /* bytes of key file read, at most */

struct ed_seal {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    pid_t seeded_pid;      /* the process the generator was last seeded in */
    mbedtls_gcm_context gcm; /* keyed with the data key once has_key */
    uint8_t mac_key[ED_SEAL_KEY_LEN]; /* HKDF of the data key, for ed_seal_mac, once has_key */
    int has_key;
};

static const char DRBG_PERSONALISATION[] = "edged store seal";
static const char KEK_SALT[] = "edged key-encryption key v1";
static const char DATA_KEY_IDENTITY[] = "data-key";
static const char MAC_KEY_LABEL[] = "edged record mac key v1";

/* Keys the record cipher and derives the MAC key from a data key. */
static int set_data_key(ed_seal_t *seal, const uint8_t data_key[ED_SEAL_KEY_LEN])
{
    if (mbedtls_gcm_setkey(&seal->gcm, MBEDTLS_CIPHER_ID_AES, data_key, 256) != 0 ||
        mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), NULL, 0, data_key, ED_SEAL_KEY_LEN,
                     (const unsigned char *)MAC_KEY_LABEL, sizeof MAC_KEY_LABEL - 1, seal->mac_key,
                     sizeof seal->mac_key) != 0)
        return ED_EIO;
    seal->has_key = 1;
    return 0;
}

int ed_seal_open(ed_seal_t **out, char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_seal_t *seal = calloc(1, sizeof *seal);
    if (!seal) {
        snprintf(err, ED_ERR_LEN, "out of memory");
        return ED_ENOMEM;
    }
    mbedtls_entropy_init(&seal->entropy);
    mbedtls_ctr_drbg_init(&seal->drbg);
    mbedtls_gcm_init(&seal->gcm);
    int rc = mbedtls_ctr_drbg_seed(&seal->drbg, mbedtls_entropy_func, &seal->entropy,
                                   (const unsigned char *)DRBG_PERSONALISATION, sizeof DRBG_PERSONALISATION - 1);
    if (rc != 0) {
        snprintf(err, ED_ERR_LEN, "cannot seed the random generator (mbedTLS -0x%04x)", (unsigned)-rc);
        ed_seal_close(seal);
        return ED_EIO;
    }
    seal->seeded_pid = getpid();
    *out = seal;
    return 0;
}

void ed_seal_close(ed_seal_t *seal)
{
    if (!seal)
        return;
    mbedtls_gcm_free(&seal->gcm);
    mbedtls_ctr_drbg_free(&seal->drbg);
    mbedtls_entropy_free(&seal->entropy);
    mbedtls_platform_zeroize(seal, sizeof *seal);
    free(seal);
}

int ed_seal_random(ed_seal_t *seal, void *buf, size_t len)
{
    /* A forked child must not repeat its parent's nonces. */
    if (seal->seeded_pid != getpid()) {
        if (mbedtls_ctr_drbg_reseed(&seal->drbg, NULL, 0) != 0)
            return ED_EIO;
        seal->seeded_pid = getpid();
    }
    unsigned char *p = buf;
    while (len > 0) {
        size_t n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;
        if (mbedtls_ctr_drbg_random(&seal->drbg, p, n) != 0)
            return ED_EIO;
        p += n;
        len -= n;
    }
    return 0;
}

/* Writes a new key file of 32 random bytes, mode 0600, by the atomic protocol. */
static int kek_file_create(ed_seal_t *seal, const char *path, char err[ED_ERR_LEN])
{
    uint8_t bytes[ED_SEAL_KEY_LEN];
    if (ed_seal_random(seal, bytes, sizeof bytes) != 0) {
        snprintf(err, ED_ERR_LEN, "%s: cannot draw random bytes for a new key", path);
        return ED_EIO;
    }
    int rc = ed_atomic_write(path, bytes, sizeof bytes, 0600, err);
    mbedtls_platform_zeroize(bytes, sizeof bytes);
    return rc;
}

int ed_seal_kek_load(ed_seal_t *seal, const char *path, int create, uint8_t kek[ED_SEAL_KEY_LEN],
                     char err[ED_ERR_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        int rc = kek_file_create(seal, path, err);
        if (rc != 0)
            return rc;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        int e = errno;
        snprintf(err, ED_ERR_LEN, "%s: cannot open the key file: %s", path, strerror(e));
        return ed_err_from_errno(e);
    }
    int rc = 0;
    unsigned char *bytes = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, ED_ERR_LEN, "%s: the key file is not a regular file", path);
        rc = ED_EINVAL;
        goto done;
    }
    if (st.st_mode & 077) {
        snprintf(err, ED_ERR_LEN, "%s: the key file is open to group or others (mode %04o); chmod 600 it",
                 path, (unsigned)(st.st_mode & 07777));
        rc = ED_EACCES;
        goto done;
    }
    if (st.st_size <= 0 || st.st_size > KEY_FILE_MAX) {
        snprintf(err, ED_ERR_LEN, "%s: the key file is %s", path, st.st_size <= 0 ? "empty" : "over 1 MiB");
        rc = ED_EINVAL;
        goto done;
    }
    size_t size = (size_t)st.st_size, got = 0;
    bytes = malloc(size);
    if (!bytes) {
        snprintf(err, ED_ERR_LEN, "out of memory");
        rc = ED_ENOMEM;
        goto done;
    }
    while (got < size) {
        ssize_t n = read(fd, bytes + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, ED_ERR_LEN, "%s: cannot read the key file: %s", path, n < 0 ? strerror(errno) : "short");
            rc = ED_EIO;
            goto done;
        }
        got += (size_t)n;
    }
    static const char info[] = "edged kek";
    if (mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)KEK_SALT,
                     sizeof KEK_SALT - 1, bytes, size, (const unsigned char *)info, sizeof info - 1, kek,
                     ED_SEAL_KEY_LEN) != 0) {
        snprintf(err, ED_ERR_LEN, "%s: key derivation failed", path);
        rc = ED_EIO;
    }
done:
    if (bytes) {
        mbedtls_platform_zeroize(bytes, (size_t)st.st_size);
        free(bytes);
    }
    close(fd);
    return rc;
}

/* Seals with a given context; the layout is the one every record uses. */
static int seal_with(ed_seal_t *seal, mbedtls_gcm_context *gcm, const char *identity, const void *plain,
                     size_t len, uint8_t *out)
{
    out[0] = ED_SEAL_VERSION;
    uint8_t *nonce = out + 1, *cipher = nonce + ED_SEAL_NONCE_LEN, *tag = cipher + len;
    if (ed_seal_random(seal, nonce, ED_SEAL_NONCE_LEN) != 0)
        return ED_EIO;
    if (mbedtls_gcm_crypt_and_tag(gcm, MBEDTLS_GCM_ENCRYPT, len, nonce, ED_SEAL_NONCE_LEN,
                                  (const unsigned char *)identity, strlen(identity), plain, cipher,
                                  ED_SEAL_TAG_LEN, tag) != 0)
        return ED_EIO;
    return 0;
}

static int unseal_with(mbedtls_gcm_context *gcm, const char *identity, const void *sealed, size_t sealed_len,
                       uint8_t *out, size_t *out_len, char err[ED_ERR_LEN])
{
    const uint8_t *in = sealed;
    if (sealed_len < ED_SEAL_OVERHEAD || in[0] != ED_SEAL_VERSION) {
        snprintf(err, ED_ERR_LEN, "sealed record %s is damaged (%s)", identity,
                 sealed_len < ED_SEAL_OVERHEAD ? "too short" : "unknown seal version");
        return ED_ECORRUPT;
    }
    size_t len = sealed_len - ED_SEAL_OVERHEAD;
    const uint8_t *nonce = in + 1, *cipher = nonce + ED_SEAL_NONCE_LEN, *tag = cipher + len;
    if (mbedtls_gcm_auth_decrypt(gcm, len, nonce, ED_SEAL_NONCE_LEN, (const unsigned char *)identity,
                                 strlen(identity), tag, ED_SEAL_TAG_LEN, cipher, out) != 0) {
        /* mbedTLS wipes out on failure; nothing unauthenticated escapes. */
        snprintf(err, ED_ERR_LEN, "sealed record %s does not open: damaged, tampered with or swapped", identity);
        return ED_ECORRUPT;
    }
    *out_len = len;
    return 0;
}

int ed_seal_key_create(ed_seal_t *seal, const uint8_t kek[ED_SEAL_KEY_LEN],
                       uint8_t wrapped[ED_SEAL_KEY_LEN + ED_SEAL_OVERHEAD], char err[ED_ERR_LEN])
{
    uint8_t data_key[ED_SEAL_KEY_LEN];
    mbedtls_gcm_context wrap;
    mbedtls_gcm_init(&wrap);
    int rc = ED_EIO;
    if (ed_seal_random(seal, data_key, sizeof data_key) != 0 ||
        mbedtls_gcm_setkey(&wrap, MBEDTLS_CIPHER_ID_AES, kek, 256) != 0 ||
        seal_with(seal, &wrap, DATA_KEY_IDENTITY, data_key, sizeof data_key, wrapped) != 0 ||
        set_data_key(seal, data_key) != 0) {
        snprintf(err, ED_ERR_LEN, "cannot make a data key");
        goto done;
    }
    rc = 0;
done:
    mbedtls_gcm_free(&wrap);
    mbedtls_platform_zeroize(data_key, sizeof data_key);
    return rc;
}

int ed_seal_key_unwrap(ed_seal_t *seal, const uint8_t kek[ED_SEAL_KEY_LEN], const void *wrapped, size_t len,
                       char err[ED_ERR_LEN])
{
    uint8_t data_key[ED_SEAL_KEY_LEN + ED_SEAL_OVERHEAD];
    size_t key_len = 0;
    mbedtls_gcm_context wrap;
    mbedtls_gcm_init(&wrap);
    int rc = ED_EIO;
    if (mbedtls_gcm_setkey(&wrap, MBEDTLS_CIPHER_ID_AES, kek, 256) != 0) {
        snprintf(err, ED_ERR_LEN, "cannot set the key-encryption key");
        goto done;
    }
    if (len != ED_SEAL_KEY_LEN + ED_SEAL_OVERHEAD ||
        unseal_with(&wrap, DATA_KEY_IDENTITY, wrapped, len, data_key, &key_len, err) != 0 ||
        key_len != ED_SEAL_KEY_LEN) {
        snprintf(err, ED_ERR_LEN, "the data key does not unwrap: wrong key file?");
        rc = ED_EACCES;
        goto done;
    }
    if (set_data_key(seal, data_key) != 0) {
        snprintf(err, ED_ERR_LEN, "cannot set the data key");
        goto done;
    }
    rc = 0;
done:
    mbedtls_gcm_free(&wrap);
    mbedtls_platform_zeroize(data_key, sizeof data_key);
    return rc;
}

int ed_seal_seal(ed_seal_t *seal, const char *identity, const void *plain, size_t len, uint8_t *out)
{
    if (!seal->has_key)
        return ED_ESTATE;
    return seal_with(seal, &seal->gcm, identity, plain, len, out);
}

int ed_seal_unseal(ed_seal_t *seal, const char *identity, const void *sealed, size_t sealed_len, uint8_t *out,
                   size_t *out_len, char err[ED_ERR_LEN])
{
    if (!seal->has_key) {
        snprintf(err, ED_ERR_LEN, "no data key is set");
        return ED_ESTATE;
    }
    return unseal_with(&seal->gcm, identity, sealed, sealed_len, out, out_len, err);
}

int ed_seal_mac(ed_seal_t *seal, const char *domain, const ed_seal_part_t *parts, int n,
                uint8_t out[ED_SEAL_MAC_LEN])
{
    if (!seal->has_key)
        return ED_ESTATE;
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) ||
             mbedtls_md_hmac_starts(&md, seal->mac_key, sizeof seal->mac_key) ||
             mbedtls_md_hmac_update(&md, (const unsigned char *)domain, strlen(domain) + 1);
    for (int i = 0; rc == 0 && i < n; i++) {
        uint8_t len[8];
        for (int b = 0; b < 8; b++)
            len[b] = (uint8_t)((uint64_t)parts[i].len >> (8 * b));
        rc = mbedtls_md_hmac_update(&md, len, sizeof len) ||
             (parts[i].len && mbedtls_md_hmac_update(&md, parts[i].data, parts[i].len));
    }
    if (rc == 0)
        rc = mbedtls_md_hmac_finish(&md, out);
    mbedtls_md_free(&md);
    return rc == 0 ? 0 : ED_EIO;
}

void ed_seal_sha256(const void *data, size_t len, uint8_t digest[32])
{
    mbedtls_sha256_ret(data, len, digest, 0);
}

void ed_seal_sha256_hex(const void *data, size_t len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t digest[32];
    ed_seal_sha256(data, len, digest);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}
