/* Tests daemon/api/models.c: the chat model's names are its id, then its
 * GGUF general.name when that is a distinct, valid name, then "default"; a
 * request's `model` matches one of them exactly (case and length). */
#include "api/models.h"
#include "../../test.h"

#include <string.h>

static ed_engine_model_t model(const char *name, const char *general)
{
    return (ed_engine_model_t){.name = name, .general_name = general};
}

static bool is_chat(const ed_engine_model_t *m, const char *name)
{
    return ed_api_model_is_chat(m, name, strlen(name));
}

ED_TEST(id_general_name_and_default_in_order)
{
    ed_engine_model_t m = model("edged-tiny-26m-q8_0", "edged-tiny-26m");
    const char *names[ED_API_MAX_MODEL_NAMES];
    ED_CHECK_INT(ed_api_model_names(&m, names), 3);
    ED_CHECK_STR(names[0], "edged-tiny-26m-q8_0");
    ED_CHECK_STR(names[1], "edged-tiny-26m");
    ED_CHECK_STR(names[2], "default");
}

ED_TEST(a_general_name_that_adds_nothing_is_left_out)
{
    const char *names[ED_API_MAX_MODEL_NAMES];
    static const char *const useless[] = {"", "m", "default", "bad \xff utf-8", NULL};
    for (int i = 0; i < 5; i++) {
        ed_engine_model_t m = model("m", useless[i]);
        ED_CHECK_INT(ed_api_model_names(&m, names), 2);
        ED_CHECK_STR(names[0], "m");
        ED_CHECK_STR(names[1], "default");
    }
    ed_engine_model_t named_default = model("default", "x"); /* model.name = default: no second "default" */
    ED_CHECK_INT(ed_api_model_names(&named_default, names), 2);
    ED_CHECK_STR(names[1], "x");
}

ED_TEST(only_exact_names_match)
{
    ed_engine_model_t m = model("qwen2.5-0.5b", "Qwen2.5 0.5B Instruct");
    ED_CHECK(is_chat(&m, "qwen2.5-0.5b"));
    ED_CHECK(is_chat(&m, "Qwen2.5 0.5B Instruct"));
    ED_CHECK(is_chat(&m, "default"));
    ED_CHECK(!is_chat(&m, "gpt-4o"));
    ED_CHECK(!is_chat(&m, "Default"));
    ED_CHECK(!is_chat(&m, "qwen2.5"));
    ED_CHECK(!is_chat(&m, "qwen2.5-0.5b "));
    ED_CHECK(!is_chat(&m, ""));
    ED_CHECK(!ed_api_model_is_chat(&m, "default\0x", 9)); /* a NUL inside the JSON string */
}

ED_TEST_MAIN(id_general_name_and_default_in_order, a_general_name_that_adds_nothing_is_left_out,
             only_exact_names_match)
