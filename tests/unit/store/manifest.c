/* manifest.c - tests of daemon/store/manifest.c: a round trip, replacement
 * of an entry, an absent file as an empty manifest, and a manifest whose
 * content no longer matches its own checksum refused as ED_ECORRUPT. */
#include "../../test.h"

#include "helpers.h"
#include "store/manifest.h"

ED_TEST(round_trip_and_checksum)
{
    const char *dir = test_dir();
    char path[PATH_MAX], err[ED_ERR_LEN] = "";
    test_path(path, dir, "MANIFEST");
    ed_manifest_t m;
    ED_REQUIRE(ed_manifest_load(&m, path, err) == 0);
    ED_CHECK_INT(m.n_entries, 0);
    ed_manifest_entry_t a = {.name = "1.faiss", .size = 100, .generation = 3}, b = {.name = "2.faiss", .size = 7};
    memset(a.sha256, 'a', 64);
    memset(b.sha256, 'b', 64);
    ED_REQUIRE(ed_manifest_set(&m, &a) == 0);
    ED_REQUIRE(ed_manifest_set(&m, &b) == 0);
    a.generation = 4;
    ED_REQUIRE(ed_manifest_set(&m, &a) == 0);
    ED_CHECK_INT(m.n_entries, 2);
    ED_REQUIRE(ed_manifest_save(&m, path, err) == 0);
    ed_manifest_free(&m);
    ED_REQUIRE(ed_manifest_load(&m, path, err) == 0);
    ED_REQUIRE(m.n_entries == 2);
    const ed_manifest_entry_t *e = ed_manifest_find(&m, "1.faiss");
    ED_REQUIRE(e);
    ED_CHECK_INT(e->size, 100);
    ED_CHECK_INT(e->generation, 4);
    ED_CHECK_STR(e->sha256, a.sha256);
    ED_CHECK(ed_manifest_find(&m, "3.faiss") == NULL);
    ed_manifest_free(&m);

    FILE *f = fopen(path, "r+b");
    ED_REQUIRE(f);
    char buf[2048];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    char *size = strstr(buf, "100");
    ED_REQUIRE(size);
    size[0] = '9';
    rewind(f);
    fwrite(buf, 1, n, f);
    fclose(f);
    ED_CHECK_INT(ed_manifest_load(&m, path, err), ED_ECORRUPT);
    ED_CHECK(strstr(err, "checksum") != NULL);
    ED_CHECK_INT(m.n_entries, 0);
    f = fopen(path, "wb");
    ED_REQUIRE(f);
    fputs("{not json", f);
    fclose(f);
    ED_CHECK_INT(ed_manifest_load(&m, path, err), ED_ECORRUPT);
}

ED_TEST_MAIN(round_trip_and_checksum)
