/* tests/fuzz/core_config.c - libFuzzer driver for the configuration file
 * parser (daemon/core/config.c over inih). The input is a configuration file,
 * read by ed_config_load through a memfd. Aborts when the loader fails
 * without saying why, or when a configuration it accepted does not survive
 * a round trip: every option formatted in the file's syntax and set again
 * must give back the same value. Seeds: tests/fuzz/corpus/core_config. */
#include "core/config.h"
#include "core/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfd = -1;
static char memfd_path[64];

static void differs(const ed_option_t *opt, const char *old_value, const char *new_value, void *arg)
{
    (void)arg;
    fprintf(stderr, "%s.%s did not survive a round trip: \"%s\" became \"%s\"\n", opt->section, opt->name,
            old_value, new_value);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memfd < 0) {
        memfd = memfd_create("edged-config", 0);
        if (memfd < 0)
            abort();
        snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    }
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
        abort();

    static ed_config_t cfg, again;
    char err[ED_ERR_LEN] = "";
    ed_config_defaults(&cfg);
    int rc = ed_config_load(&cfg, memfd_path, err);
    if (rc != 0) {
        if (err[0] == '\0' || !memchr(err, '\0', sizeof err))
            abort(); /* every failure names its line and option */
        return 0;
    }
    again = cfg;
    for (const ed_option_t *opt = ed_config_options; opt->name; opt++) {
        char value[4096], key[128];
        ed_config_format(&cfg, opt, value, sizeof value);
        snprintf(key, sizeof key, "%s.%s", opt->section, opt->name);
        if (ed_config_set(&again, key, value, err) != 0) {
            fprintf(stderr, "%s = %s was loaded but cannot be set again: %s\n", key, value, err);
            abort();
        }
    }
    ed_config_diff(&cfg, &again, differs, NULL);
    return 0;
}
