/* tests/unit/store/checkpoints.c - training checkpoints in the store
 * (store_checkpoints.c): sealed round trip through both kinds of store
 * handle, replacement, no plaintext on disk, damage and another store's key
 * refused, names checked, listing and deletion. */
#include "../../test.h"

#include "helpers.h"

static const char PLAIN[] = "checkpoint bytes with a canary: zebra-quartz-4471";

static int count_names(const char *name, int64_t size, void *arg)
{
    int *n = arg;
    if (size > 0 && name[0])
        (*n)++;
    return 0;
}

ED_TEST(checkpoints_sealed_round_trip_both_handles)
{
    const char *dir = test_dir();
    char err[ED_ERR_LEN] = "";
    ed_store_t *store = NULL, *reg = NULL;
    ED_REQUIRE(ed_store_open(&store, dir, NULL, err) == 0);
    ED_REQUIRE(ed_store_open_adapters(&reg, dir, NULL, err) == 0);
    ED_REQUIRE(ed_store_checkpoint_save(store, "job-1", PLAIN, sizeof PLAIN, err) == 0);
    ED_CHECK_INT(found_under(dir, "zebra-quartz"), 0);
    void *data = NULL;
    size_t len = 0;
    ED_REQUIRE(ed_store_checkpoint_load(reg, "job-1", &data, &len, err) == 0);
    ED_CHECK(len == sizeof PLAIN && memcmp(data, PLAIN, len) == 0);
    free(data);
    /* replaced whole by a second save, through the light handle */
    ED_REQUIRE(ed_store_checkpoint_save(reg, "job-1", "short", 5, err) == 0);
    ED_REQUIRE(ed_store_checkpoint_load(store, "job-1", &data, &len, err) == 0);
    ED_CHECK(len == 5 && memcmp(data, "short", 5) == 0);
    free(data);
    ED_REQUIRE(ed_store_checkpoint_save(reg, "job.2_b", PLAIN, sizeof PLAIN, err) == 0);
    int n = 0;
    ED_REQUIRE(ed_store_checkpoints_foreach(store, count_names, &n, err) == 0);
    ED_CHECK_INT(n, 2);
    ED_REQUIRE(ed_store_checkpoint_delete(store, "job-1", err) == 0);
    ED_CHECK_INT(ed_store_checkpoint_delete(store, "job-1", err), ED_ENOENT);
    ED_CHECK_INT(ed_store_checkpoint_load(store, "job-1", &data, &len, err), ED_ENOENT);
    n = 0;
    ED_REQUIRE(ed_store_checkpoints_foreach(reg, count_names, &n, err) == 0);
    ED_CHECK_INT(n, 1);
    ed_store_close(reg);
    ed_store_close(store);
}

ED_TEST(checkpoint_names_are_checked)
{
    const char *dir = test_dir();
    char err[ED_ERR_LEN] = "";
    ed_store_t *store = NULL;
    ED_REQUIRE(ed_store_open(&store, dir, NULL, err) == 0);
    const char *bad[] = {"", "../edged.db", ".hidden", "a/b", "x.tmp", "with space"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ED_CHECK_INT(ed_store_checkpoint_save(store, bad[i], "x", 1, err), ED_EINVAL);
        ED_CHECK(strstr(err, "checkpoint name") != NULL);
    }
    char longname[100];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ED_CHECK_INT(ed_store_checkpoint_save(store, longname, "x", 1, err), ED_EINVAL);
    ed_store_close(store);
}

ED_TEST(damaged_or_foreign_checkpoint_is_ecorrupt)
{
    const char *dir = test_dir();
    char err[ED_ERR_LEN] = "", path[PATH_MAX], other[PATH_MAX];
    ed_store_t *store = NULL;
    ED_REQUIRE(ed_store_open(&store, dir, NULL, err) == 0);
    ED_REQUIRE(ed_store_checkpoint_save(store, "a", PLAIN, sizeof PLAIN, err) == 0);
    ED_REQUIRE(ed_store_checkpoint_save(store, "b", PLAIN, sizeof PLAIN, err) == 0);
    /* a file renamed to another checkpoint's name does not open: the name is sealed in */
    snprintf(path, sizeof path, "%s/checkpoints/a", dir);
    snprintf(other, sizeof other, "%s/checkpoints/b", dir);
    ED_REQUIRE(rename(path, other) == 0);
    void *data = NULL;
    size_t len = 0;
    ED_CHECK_INT(ed_store_checkpoint_load(store, "b", &data, &len, err), ED_ECORRUPT);
    /* a flipped byte */
    ED_REQUIRE(ed_store_checkpoint_save(store, "c", PLAIN, sizeof PLAIN, err) == 0);
    snprintf(path, sizeof path, "%s/checkpoints/c", dir);
    FILE *f = fopen(path, "r+b");
    ED_REQUIRE(f);
    fseek(f, 20, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 20, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
    ED_CHECK_INT(ed_store_checkpoint_load(store, "c", &data, &len, err), ED_ECORRUPT);
    /* truncated below the seal's overhead */
    ED_REQUIRE(truncate(path, 3) == 0);
    ED_CHECK_INT(ed_store_checkpoint_load(store, "c", &data, &len, err), ED_ECORRUPT);
    ED_CHECK(data == NULL);
    ed_store_close(store);
}

ED_TEST_MAIN(checkpoints_sealed_round_trip_both_handles, checkpoint_names_are_checked,
             damaged_or_foreign_checkpoint_is_ecorrupt)
