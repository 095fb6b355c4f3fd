/* test.h - the unit-test harness: each test runs in a forked child with a
 * timeout (a crash or a hang fails that test, not the program), and results
 * are printed as TAP. A test program ends with ED_TEST_MAIN(t1, t2, ...).
 *
 *   ED_TEST(parses_empty_file) { ED_CHECK(parse("") == 0); }
 *
 * ED_CHECK records a failure and goes on; ED_REQUIRE stops the test.
 * ED_CHECK_NEAR compares floats; ED_CHECK_STR compares strings.
 * Environment: ED_TEST_TIMEOUT (seconds per test, default 120),
 * ED_TEST_FILTER (run only tests whose name contains it). */
#ifndef ED_TESTS_TEST_H
#define ED_TESTS_TEST_H

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int ed__test_failures;

#define ED_TEST(name) static void name(void)

#define ED__FAIL(...)                                                          \
    do {                                                                       \
        ed__test_failures++;                                                   \
        printf("#   %s:%d: ", __FILE__, __LINE__);                             \
        printf(__VA_ARGS__);                                                   \
        printf("\n");                                                          \
        fflush(stdout);                                                        \
    } while (0)

#define ED_CHECK(cond)                                                         \
    do {                                                                       \
        if (!(cond))                                                           \
            ED__FAIL("check failed: %s", #cond);                               \
    } while (0)

#define ED_REQUIRE(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            ED__FAIL("requirement failed: %s", #cond);                         \
            return;                                                            \
        }                                                                      \
    } while (0)

#define ED_CHECK_INT(a, b)                                                     \
    do {                                                                       \
        long long ed__a = (long long)(a), ed__b = (long long)(b);              \
        if (ed__a != ed__b)                                                    \
            ED__FAIL("%s == %s: %lld != %lld", #a, #b, ed__a, ed__b);          \
    } while (0)

#define ED_CHECK_STR(a, b)                                                     \
    do {                                                                       \
        const char *ed__a = (a), *ed__b = (b);                                 \
        if (!ed__a || !ed__b || strcmp(ed__a, ed__b) != 0)                     \
            ED__FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,                     \
                     ed__a ? ed__a : "(null)", ed__b ? ed__b : "(null)");      \
    } while (0)

#define ED_CHECK_NEAR(a, b, tol)                                               \
    do {                                                                       \
        double ed__a = (double)(a), ed__b = (double)(b);                       \
        if (!(fabs(ed__a - ed__b) <= (double)(tol)))                           \
            ED__FAIL("%s ~= %s: %.9g vs %.9g (tol %g)", #a, #b, ed__a, ed__b,  \
                     (double)(tol));                                           \
    } while (0)

typedef struct {
    const char *name;
    void (*fn)(void);
} ed__test_t;

static int ed__test_run_one(const ed__test_t *t, int index)
{
    const char *timeout_env = getenv("ED_TEST_TIMEOUT");
    unsigned timeout = timeout_env ? (unsigned)atoi(timeout_env) : 120;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        alarm(timeout);
        t->fn();
        fflush(stdout);
        _exit(ed__test_failures ? 1 : 0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (WIFSIGNALED(status))
        printf("#   killed by signal %d%s\n", WTERMSIG(status),
               WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    printf("%s %d - %s\n", ok ? "ok" : "not ok", index, t->name);
    fflush(stdout);
    return !ok;
}

static int ed__test_main(const ed__test_t *tests, int n)
{
    const char *filter = getenv("ED_TEST_FILTER");
    int selected = 0, failed = 0;
    for (int i = 0; i < n; i++)
        selected += !filter || strstr(tests[i].name, filter);
    printf("1..%d\n", selected);
    for (int i = 0, k = 0; i < n; i++)
        if (!filter || strstr(tests[i].name, filter))
            failed += ed__test_run_one(&tests[i], ++k);
    return failed ? 1 : 0;
}

#define ED_TEST_MAIN(...)                                                      \
    int main(void)                                                             \
    {                                                                          \
        static void (*const fns[])(void) = {__VA_ARGS__};                      \
        static const char names[] = #__VA_ARGS__;                              \
        enum { ED__N_TESTS = (int)(sizeof fns / sizeof fns[0]) };              \
        static ed__test_t tests[ED__N_TESTS];                                  \
        static char buf[sizeof names];                                         \
        memcpy(buf, names, sizeof names);                                      \
        char *save = NULL, *tok = strtok_r(buf, ", \t\n", &save);              \
        for (int i = 0; i < (int)ED__N_TESTS && tok; i++, tok = strtok_r(NULL, ", \t\n", &save)) \
            tests[i] = (ed__test_t){tok, fns[i]};                              \
        return ed__test_main(tests, ED__N_TESTS);                              \
    }

#endif
