/* Tests daemon/core/error.c: every code has a distinct name and message. */
#include "core/error.h"
#include "../../test.h"

#include <errno.h>

ED_TEST(names_and_messages_are_distinct)
{
    static const int codes[] = {
#define ED__CODE(name, value, msg) ED_##name,
        ED_ERRNO_MAP(ED__CODE)
#undef ED__CODE
    };
    int n = (int)(sizeof codes / sizeof codes[0]);
    for (int i = 0; i < n; i++) {
        ED_CHECK(strcmp(ed_err_name(codes[i]), "EUNKNOWN") != 0);
        for (int j = i + 1; j < n; j++) {
            ED_CHECK(codes[i] != codes[j]);
            ED_CHECK(strcmp(ed_strerror(codes[i]), ed_strerror(codes[j])) != 0);
        }
    }
    ED_CHECK_STR(ed_err_name(12345), "EUNKNOWN");
}

ED_TEST(errno_translation)
{
    ED_CHECK_INT(ed_err_from_errno(ENOENT), ED_ENOENT);
    ED_CHECK_INT(ed_err_from_errno(ENOSPC), ED_ENOSPC);
    ED_CHECK_INT(ed_err_from_errno(EROFS), ED_EREADONLY);
    ED_CHECK_INT(ed_err_from_errno(0), ED_OK);
}

ED_TEST(errf_fills_and_returns)
{
    char err[ED_ERR_LEN] = "";
    ED_CHECK_INT(ed_errf(err, ED_EFORMAT, "%s:%d: bad", "f", 3), ED_EFORMAT);
    ED_CHECK_STR(err, "f:3: bad");
    ED_CHECK_INT(ed_errf(NULL, ED_EIO, "ignored %d", 1), ED_EIO);
    char long_text[2 * ED_ERR_LEN];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = 0;
    ed_errf(err, ED_EINVAL, "%s", long_text);
    ED_CHECK_INT((int)strlen(err), ED_ERR_LEN - 1);
}

ED_TEST_MAIN(names_and_messages_are_distinct, errno_translation, errf_fills_and_returns)
