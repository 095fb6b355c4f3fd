/* Tests daemon/core/config.c: defaults, valid files, each kind of bad line
 * with its exact message, formatting and the template. */
#include "core/config.h"
#include "../../test.h"

#include <stdlib.h>
#include <unistd.h>

static char path[64];

static void write_file(const char *text)
{
    snprintf(path, sizeof path, "/tmp/edged-config-test-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static int load(const char *text, ed_config_t *cfg, char *err)
{
    write_file(text);
    ed_config_defaults(cfg);
    int rc = ed_config_load(cfg, path, err);
    unlink(path);
    return rc;
}

/* Loads text and checks the error message after the "PATH:" prefix. */
static void expect_error(const char *text, const char *message_after_path)
{
    ed_config_t cfg;
    char err[ED_ERR_LEN] = "";
    int rc = load(text, &cfg, err);
    ED_CHECK_INT(rc, ED_ECONFIG);
    char expected[ED_ERR_LEN];
    snprintf(expected, sizeof expected, "%s:%s", path, message_after_path);
    ED_CHECK_STR(err, expected);
}

ED_TEST(defaults)
{
    ed_config_t cfg;
    ed_config_defaults(&cfg);
    ED_CHECK_STR(cfg.server.socket, "/run/edged/edged.sock");
    ED_CHECK_INT(cfg.server.socket_mode, 0660);
    ED_CHECK_INT(cfg.server.max_connections, 256);
    ED_CHECK_INT(cfg.server.max_header_bytes, 16384);
    ED_CHECK_INT(cfg.server.max_body_bytes, 8388608);
    ED_CHECK_INT(cfg.server.header_timeout_ms, 10000);
    ED_CHECK(cfg.log.access_log);
    ED_CHECK_STR(cfg.access.admin, "user:root group:edged");
}

ED_TEST(valid_file)
{
    ed_config_t cfg;
    char err[ED_ERR_LEN] = "";
    int rc = load("# comment\n; another\n\n[server]\nsocket = /tmp/x.sock\nsocket_mode = 0600\n"
                  "max_body_bytes = 1024\n[log]\nlevel = debug\naccess_log = no\n"
                  "[access]\ninfer = user:root group:100 user:1000\n",
                  &cfg, err);
    ED_CHECK_INT(rc, 0);
    ED_CHECK_STR(err, "");
    ED_CHECK_STR(cfg.server.socket, "/tmp/x.sock");
    ED_CHECK_INT(cfg.server.socket_mode, 0600);
    ED_CHECK_INT(cfg.server.max_body_bytes, 1024);
    ED_CHECK_STR(cfg.log.level, "debug");
    ED_CHECK(!cfg.log.access_log);
    ED_CHECK_STR(cfg.access.infer, "user:root group:100 user:1000");
    ED_CHECK_INT(cfg.server.max_connections, 256); /* untouched options keep defaults */
}

ED_TEST(bad_lines)
{
    expect_error("[server]\nmax_connections = abc\n",
                 "2: server.max_connections: expected an integer between 1 and 65536, got \"abc\"");
    expect_error("[server]\n\nmax_connections = 0\n",
                 "3: server.max_connections: expected an integer between 1 and 65536, got \"0\"");
    expect_error("[server]\nmax_connections = -5\n",
                 "2: server.max_connections: expected an integer between 1 and 65536, got \"-5\"");
    expect_error("[server]\nmax_connections = 99999999999999999999999\n",
                 "2: server.max_connections: expected an integer between 1 and 65536, got \"99999999999999999999999\"");
    expect_error("[server]\nbogus = 1\n", "2: server.bogus: unknown option");
    expect_error("[nosuch]\nsocket = x\n",
                 "2: [nosuch]: unknown section (sections: server, access, log, state, model, engine, store, rag, adapt)");
    expect_error("[server]\nsockett = x\n", "2: server.sockett: unknown option");
    expect_error("socket = x\n", "1: socket: unknown option");
    expect_error("[server]\nsocket_mode = 0999\n",
                 "2: server.socket_mode: expected octal permission bits such as 0660, got \"0999\"");
    expect_error("[server]\nsocket =\n", "2: server.socket: must not be empty");
    expect_error("[log]\nlevel = loud\n",
                 "2: log.level: expected error, warn, info or debug, got \"loud\"");
    expect_error("[log]\naccess_log = maybe\n", "2: log.access_log: expected true or false, got \"maybe\"");
    expect_error("[access]\nadmin = root\n",
                 "2: access.admin: expected '*', user:NAME|UID or group:NAME|GID, got \"root\"");
    expect_error("[access]\nadmin = user:\n",
                 "2: access.admin: expected '*', user:NAME|UID or group:NAME|GID, got \"user:\"");
    expect_error("[server]\nthis line has no equals sign\n",
                 "2: syntax error: expected [section] or name = value");
    expect_error("[server\nsocket = x\n", "1: syntax error: expected [section] or name = value");
}

ED_TEST(missing_file)
{
    ed_config_t cfg;
    char err[ED_ERR_LEN];
    ed_config_defaults(&cfg);
    ED_CHECK_INT(ed_config_load(&cfg, "/nonexistent/edged.conf", err), ED_ENOENT);
    ED_CHECK_STR(err, "/nonexistent/edged.conf: cannot open: No such file or directory");
}

ED_TEST(set_and_format)
{
    ed_config_t cfg;
    char err[ED_ERR_LEN], value[64];
    ed_config_defaults(&cfg);
    ED_CHECK_INT(ed_config_set(&cfg, "server.socket", "/tmp/y", err), 0);
    ED_CHECK_STR(cfg.server.socket, "/tmp/y");
    ED_CHECK_INT(ed_config_set(&cfg, "server.nope", "1", err), ED_ECONFIG);
    ED_CHECK_STR(err, "server.nope: unknown option");
    ED_CHECK_INT(ed_config_set(&cfg, "nodot", "1", err), ED_ECONFIG);
    for (const ed_option_t *o = ed_config_options; o->name; o++) {
        /* Formatting a value and setting it back is the identity. */
        ed_config_t copy = cfg;
        char key[64];
        ed_config_format(&cfg, o, value, sizeof value);
        snprintf(key, sizeof key, "%s.%s", o->section, o->name);
        if (strcmp(key, "server.socket_group") == 0 && value[0] == '\0')
            continue;
        ED_CHECK_INT(ed_config_set(&copy, key, value, err), 0);
        ED_CHECK(memcmp((char *)&copy + o->offset, (char *)&cfg + o->offset, o->size) == 0);
    }
}

static int changes;
static void count_change(const ed_option_t *o, const char *a, const char *b, void *arg)
{
    (void)o, (void)a, (void)b, (void)arg;
    changes++;
}

ED_TEST(diff_lists_changed_options)
{
    ed_config_t a, b;
    char err[ED_ERR_LEN];
    ed_config_defaults(&a);
    b = a;
    ed_config_set(&b, "server.max_body_bytes", "1024", err);
    ed_config_set(&b, "log.level", "debug", err);
    changes = 0;
    ed_config_diff(&a, &b, count_change, NULL);
    ED_CHECK_INT(changes, 2);
}

ED_TEST(template_matches_etc_edged_conf)
{
    /* etc/edged.conf is generated from the option table; they must agree. */
    char *generated = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&generated, &size);
    ed_config_write_template(mem);
    fclose(mem);
    FILE *f = fopen("etc/edged.conf", "r");
    ED_REQUIRE(f != NULL);
    char *committed = calloc(1, size + 2);
    size_t n = fread(committed, 1, size + 1, f);
    fclose(f);
    ED_CHECK_INT(n, size);
    ED_CHECK(memcmp(committed, generated, size) == 0);
    /* And the template itself loads (everything is commented out). */
    ed_config_t cfg;
    char err[ED_ERR_LEN];
    ED_CHECK_INT(load(generated, &cfg, err), 0);
    free(committed);
    free(generated);
}

/* Collects what ed_config_load_report reports. */
typedef struct {
    int n;
    char messages[8][ED_ERR_LEN];
} problems_t;

static void collect(void *arg, const char *message)
{
    problems_t *p = arg;
    if (p->n < 8)
        snprintf(p->messages[p->n], ED_ERR_LEN, "%s", message);
    p->n++;
}

ED_TEST(report_reads_on_past_every_problem)
{
    write_file("[modle]\npath = x\nname = y\n[server]\nmax_connections = lots\nsocket = /tmp/s\n"
               "[log]\nlevel = loud\nthis line has no equals sign\n[log]\nbogus = 1\n");
    ed_config_t cfg;
    ed_config_defaults(&cfg);
    char err[ED_ERR_LEN] = "";
    problems_t p = {0};
    ED_CHECK_INT(ed_config_load_report(&cfg, path, collect, &p, err), ED_ECONFIG);
    unlink(path);
    ED_REQUIRE(p.n == 5);
    ED_CHECK(strstr(p.messages[0], ":2: [modle]: unknown section") != NULL); /* once for its two options */
    ED_CHECK(strstr(p.messages[1], ":5: server.max_connections: ") != NULL);
    ED_CHECK(strstr(p.messages[2], ":8: log.level: ") != NULL);
    ED_CHECK(strstr(p.messages[3], ":11: log.bogus: unknown option") != NULL);
    ED_CHECK(strstr(p.messages[4], ":9: syntax error") != NULL);
    ED_CHECK_STR(err, p.messages[0]);
    ED_CHECK_STR(cfg.server.socket, "/tmp/s"); /* the good lines still apply */
}

ED_TEST_MAIN(defaults, valid_file, bad_lines, report_reads_on_past_every_problem, missing_file, set_and_format, diff_lists_changed_options,
             template_matches_etc_edged_conf)
