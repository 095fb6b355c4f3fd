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

ED_TEST_MAIN(names_and_messages_are_distinct, errno_translation)
