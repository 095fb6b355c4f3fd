/* manifest.c - index/MANIFEST in JSON (jansson): {"format": 1, "blobs":
 * {NAME: {"size", "sha256", "generation"}}, "sha256": HEX}, where the last
 * field is the SHA-256 of the compact, key-sorted dump of the object without
 * it. Loading verifies that checksum and every field's type. */
#include "store/manifest.h"

#include "store/atomic.h"
#include "store/seal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_FORMAT 1
#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

/* The checksum of a manifest object without its "sha256" member. */
static int checksum(json_t *body, char hex[65])
{
    char *text = json_dumps(body, DUMP_FLAGS);
    if (!text)
        return ED_ENOMEM;
    ed_seal_sha256_hex(text, strlen(text), hex);
    free(text);
    return 0;
}

static int corrupt(ed_manifest_t *m, char err[ED_ERR_LEN], const char *path, const char *why)
{
    ed_manifest_free(m);
    snprintf(err, ED_ERR_LEN, "%s is corrupt: %s", path, why);
    return ED_ECORRUPT;
}

int ed_manifest_load(ed_manifest_t *m, const char *path, char err[ED_ERR_LEN])
{
    memset(m, 0, sizeof *m);
    void *data = NULL;
    size_t len = 0;
    int rc = ed_atomic_read(path, &data, &len, err);
    if (rc == ED_ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    free(data);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return corrupt(m, err, path, "not a JSON object");
    }
    const char *why = NULL;
    char want[65];
    json_t *sum = json_incref(json_object_get(root, "sha256"));
    json_t *blobs = json_object_get(root, "blobs");
    if (!json_is_string(sum)) {
        why = "no checksum";
        goto done;
    }
    json_object_del(root, "sha256");
    if (checksum(root, want) != 0 || strcmp(want, json_string_value(sum)) != 0) {
        why = "its checksum does not match its content";
        goto done;
    }
    if (json_integer_value(json_object_get(root, "format")) != MANIFEST_FORMAT || !json_is_object(blobs)) {
        why = "unknown format";
        goto done;
    }
    m->entries = calloc(json_object_size(blobs) + 1, sizeof *m->entries);
    if (!m->entries) {
        why = "out of memory";
        goto done;
    }
    const char *name;
    json_t *blob;
    json_object_foreach(blobs, name, blob) {
        ed_manifest_entry_t *e = &m->entries[m->n_entries];
        json_t *size = json_object_get(blob, "size"), *sha = json_object_get(blob, "sha256"),
               *gen = json_object_get(blob, "generation");
        if (strlen(name) >= sizeof e->name || !json_is_integer(size) || json_integer_value(size) < 0 ||
            !json_is_string(sha) || json_string_length(sha) != 64 || !json_is_integer(gen)) {
            why = "a blob entry is malformed";
            goto done;
        }
        snprintf(e->name, sizeof e->name, "%s", name);
        e->size = json_integer_value(size);
        memcpy(e->sha256, json_string_value(sha), 65);
        e->generation = json_integer_value(gen);
        m->n_entries++;
    }
done:
    json_decref(sum);
    json_decref(root);
    return why ? corrupt(m, err, path, why) : 0;
}

int ed_manifest_save(const ed_manifest_t *m, const char *path, char err[ED_ERR_LEN])
{
    int rc = ED_ENOMEM;
    char *text = NULL;
    json_t *root = json_object(), *blobs = json_object();
    if (!root || !blobs || json_object_set_new(root, "format", json_integer(MANIFEST_FORMAT)) != 0)
        goto done;
    for (int i = 0; i < m->n_entries; i++) {
        const ed_manifest_entry_t *e = &m->entries[i];
        json_t *blob = json_pack("{sIsssI}", "size", (json_int_t)e->size, "sha256", e->sha256, "generation",
                                 (json_int_t)e->generation);
        if (!blob || json_object_set_new(blobs, e->name, blob) != 0)
            goto done;
    }
    char hex[65];
    if (json_object_set(root, "blobs", blobs) != 0 || checksum(root, hex) != 0 ||
        json_object_set_new(root, "sha256", json_string(hex)) != 0)
        goto done;
    text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (!text)
        goto done;
    size_t len = strlen(text);
    text[len] = '\n';
    rc = ed_atomic_write(path, text, len + 1, 0600, err);
    text[len] = '\0';
done:
    if (rc == ED_ENOMEM)
        snprintf(err, ED_ERR_LEN, "out of memory writing %s", path);
    free(text);
    json_decref(blobs);
    json_decref(root);
    return rc;
}

const ed_manifest_entry_t *ed_manifest_find(const ed_manifest_t *m, const char *name)
{
    for (int i = 0; i < m->n_entries; i++)
        if (strcmp(m->entries[i].name, name) == 0)
            return &m->entries[i];
    return NULL;
}

int ed_manifest_set(ed_manifest_t *m, const ed_manifest_entry_t *e)
{
    ed_manifest_entry_t *old = (ed_manifest_entry_t *)ed_manifest_find(m, e->name);
    if (old) {
        *old = *e;
        return 0;
    }
    ed_manifest_entry_t *grown = realloc(m->entries, (size_t)(m->n_entries + 1) * sizeof *grown);
    if (!grown)
        return ED_ENOMEM;
    m->entries = grown;
    m->entries[m->n_entries++] = *e;
    return 0;
}

void ed_manifest_free(ed_manifest_t *m)
{
    free(m->entries);
    m->entries = NULL;
    m->n_entries = 0;
}
