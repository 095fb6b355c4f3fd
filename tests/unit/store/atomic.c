/* atomic.c - tests of daemon/store/atomic.c: the write protocol leaves the
 * new file with its mode and no tmp file, a failed fsync leaves the old file
 * untouched and reports it, reads return the bytes, clean removes tmp files. */
#include "../../test.h"

#include "helpers.h"
#include "store/atomic.h"

#include <errno.h>

static int failing_fsync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

ED_TEST(write_replaces_the_file_durably)
{
    const char *dir = test_dir();
    char path[PATH_MAX], tmp[PATH_MAX], err[ED_ERR_LEN] = "";
    test_path(path, dir, "file");
    test_path(tmp, dir, "file.tmp");
    ED_REQUIRE(ed_atomic_write(path, "first", 5, 0600, err) == 0);
    ED_REQUIRE(ed_atomic_write(path, "second!", 7, 0600, err) == 0);
    void *data;
    size_t len;
    ED_REQUIRE(ed_atomic_read(path, &data, &len, err) == 0);
    ED_CHECK_INT(len, 7);
    ED_CHECK_STR((char *)data, "second!");
    free(data);
    struct stat st;
    ED_REQUIRE(stat(path, &st) == 0);
    ED_CHECK_INT(st.st_mode & 0777, 0600);
    ED_CHECK(access(tmp, F_OK) != 0);
    ED_CHECK_INT(ed_atomic_read(tmp, &data, &len, err), ED_ENOENT);
}

ED_TEST(failed_fsync_keeps_the_old_file)
{
    const char *dir = test_dir();
    char path[PATH_MAX], tmp[PATH_MAX], err[ED_ERR_LEN] = "";
    test_path(path, dir, "file");
    test_path(tmp, dir, "file.tmp");
    ED_REQUIRE(ed_atomic_write(path, "old", 3, 0600, err) == 0);
    ed__atomic_fsync = failing_fsync;
    ED_CHECK_INT(ed_atomic_write(path, "new", 3, 0600, err), ED_EIO);
    ed__atomic_fsync = fsync;
    ED_CHECK(strstr(err, "fsync") != NULL && strstr(err, "Input/output error") != NULL);
    void *data;
    size_t len;
    ED_REQUIRE(ed_atomic_read(path, &data, &len, err) == 0);
    ED_CHECK_STR((char *)data, "old");
    free(data);
    ED_CHECK(access(tmp, F_OK) != 0);
}

ED_TEST(clean_removes_interrupted_writes)
{
    const char *dir = test_dir();
    char keep[PATH_MAX], stale[PATH_MAX];
    test_path(keep, dir, "1.faiss");
    test_path(stale, dir, "1.faiss.tmp");
    FILE *f = fopen(keep, "w");
    ED_REQUIRE(f);
    fclose(f);
    f = fopen(stale, "w");
    ED_REQUIRE(f);
    fclose(f);
    ed_atomic_clean(dir);
    ED_CHECK(access(keep, F_OK) == 0);
    ED_CHECK(access(stale, F_OK) != 0);
}

ED_TEST_MAIN(write_replaces_the_file_durably, failed_fsync_keeps_the_old_file, clean_removes_interrupted_writes)
