/* Tests daemon/api/status.c: every code of core/error.h has a row, one code
 * gives one status from either source (only the code word may differ), and
 * the statuses DESIGN section 5 names: 507 for a read-only store, 503 with
 * Retry-After for a full queue, a loading model and an opening store. */
#include "api/status.h"
#include "core/error.h"
#include "../../test.h"

static const int codes[] = {
#define ED__CODE(name, value, msg) ED_##name,
    ED_ERRNO_MAP(ED__CODE)
#undef ED__CODE
};

ED_TEST(every_code_has_one_status)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        ed_api_status_t model = ed_api_status(codes[i], ED_API_MODEL), store = ed_api_status(codes[i], ED_API_STORE);
        if (model.status != store.status)
            printf("#   %s: %d for the model, %d for the store\n", ed_err_name(codes[i]), model.status, store.status);
        ED_CHECK(model.status == store.status);
        ED_CHECK(model.status >= 400 && model.status <= 599);
        ED_CHECK(model.code && *model.code && store.code && *store.code);
        /* Retry-After only where the status says "come back later" */
        ED_CHECK(model.retry_after_s == 0 || model.status == 503);
        ED_CHECK(store.retry_after_s == 0 || store.status == 503);
    }
}

ED_TEST(design_statuses)
{
    ED_CHECK_INT(ed_api_status(ED_EREADONLY, ED_API_STORE).status, 507);
    ED_CHECK_INT(ed_api_status(ED_EREADONLY, ED_API_MODEL).status, 507);
    ED_CHECK_STR(ed_api_status(ED_EREADONLY, ED_API_STORE).code, "store_read_only");
    ed_api_status_t busy = ed_api_status(ED_EBUSY, ED_API_MODEL);
    ED_CHECK(busy.status == 503 && busy.retry_after_s == 1);
    ED_CHECK_STR(busy.code, "queue_full");
    ed_api_status_t opening = ed_api_status(ED_EAGAIN, ED_API_STORE), loading = ed_api_status(ED_EAGAIN, ED_API_MODEL);
    ED_CHECK(opening.status == 503 && opening.retry_after_s == 1);
    ED_CHECK_STR(opening.code, "store_opening");
    ED_CHECK(loading.status == 503 && loading.retry_after_s == 5);
    ED_CHECK_STR(loading.code, "not_ready");
    ED_CHECK_INT(ed_api_status(ED_EINVAL, ED_API_STORE).status, 400);
    ED_CHECK_INT(ed_api_status(ED_EACCES, ED_API_STORE).status, 403);
    ED_CHECK_INT(ed_api_status(ED_ENOENT, ED_API_STORE).status, 404);
    ED_CHECK_STR(ed_api_status(ED_ERANGE, ED_API_MODEL).code, "context_length_exceeded");
    ED_CHECK_STR(ed_api_status(ED_ECORRUPT, ED_API_STORE).code, "corrupt");
    /* a failed store: no Retry-After, it will not come back by waiting */
    ED_CHECK_INT(ed_api_status(ED_ESTATE, ED_API_STORE).retry_after_s, 0);
}

ED_TEST(unknown_codes_are_500)
{
    ED_CHECK_INT(ed_api_status(0, ED_API_MODEL).status, 500);
    ED_CHECK_INT(ed_api_status(-1000, ED_API_STORE).status, 500);
    ED_CHECK_INT(ed_api_status(5, ED_API_STORE).status, 500);
    ED_CHECK_STR(ed_api_status(-1000, ED_API_MODEL).code, "internal_error");
}

ED_TEST_MAIN(every_code_has_one_status, design_statuses, unknown_codes_are_500)
