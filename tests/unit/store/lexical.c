/* tests/unit/store/lexical.c - the lexical index's words: splitting at ASCII
 * and Unicode punctuation, lower case, stop words, repeats (unique), the
 * word limit and the capacity of the output. */
#include "store/lexical.h"

#include "../../test.h"

#include <string.h>

static const char *words_of(const char *text, bool unique, int max_words, int *n)
{
    static char out[256];
    size_t used = 0;
    *n = ed_lexical_words(text, strlen(text), unique, out, sizeof out, &used, max_words);
    return out;
}

ED_TEST(questions_keep_their_subject)
{
    int n = 0;
    ED_CHECK_STR(words_of("Who am I travelling to Turku with?", true, 32, &n), "travelling turku");
    ED_CHECK_INT(n, 2);
    ED_CHECK_STR(words_of("What's Dr. Eun-ji Almeida's phone number?", true, 32, &n), "dr eun ji almeida phone number");
    ED_CHECK_STR(words_of("Who is it? What was that?", true, 32, &n), "");
    ED_CHECK_INT(n, 0);
    ED_CHECK_STR(words_of("NEAR(\"banana\" -bread*) title:x {y}", true, 32, &n), "near banana bread title x y");
}

ED_TEST(unicode_punctuation_splits_and_letters_stay)
{
    int n = 0;
    /* an em dash and curly quotes split; é is a letter */
    ED_CHECK_STR(words_of("caf\xc3\xa9\xe2\x80\x94\xe2\x80\x9cMalm\xc3\xb6\xe2\x80\x9d", true, 32, &n),
                 "caf\xc3\xa9 malm\xc3\xb6");
    ED_CHECK_INT(n, 2);
}

ED_TEST(repeats_limits_and_capacity)
{
    int n = 0;
    ED_CHECK_STR(words_of("milk Milk MILK eggs milk", true, 32, &n), "milk eggs");
    ED_CHECK_STR(words_of("milk Milk eggs", false, 32, &n), "milk milk eggs");
    ED_CHECK_STR(words_of("one two three four", true, 2, &n), "one two");
    char long_word[ED_LEXICAL_WORD_MAX + 8];
    memset(long_word, 'x', sizeof long_word - 1);
    long_word[sizeof long_word - 1] = '\0';
    ED_CHECK_STR(words_of(long_word, true, 32, &n), "");
    /* appending keeps what is there, and a word that does not fit is skipped */
    char out[12] = "tea";
    size_t used = 3;
    n = ed_lexical_words("coffee sugar tea jam", 20, true, out, sizeof out, &used, 32);
    ED_CHECK_STR(out, "tea coffee");
    ED_CHECK_INT(n, 2);
    ED_CHECK_INT(used, 10);
}

ED_TEST(stop_words)
{
    ED_CHECK(ed_lexical_is_stop_word("who", 3));
    ED_CHECK(ed_lexical_is_stop_word("with", 4));
    ED_CHECK(ed_lexical_is_stop_word("isn't", 2)); /* the first len bytes: "is" */
    ED_CHECK(!ed_lexical_is_stop_word("withheld", 1)); /* "w" */
    ED_CHECK(!ed_lexical_is_stop_word("turku", 5));
    ED_CHECK(!ed_lexical_is_stop_word("whoever", 7));
    ED_CHECK(!ed_lexical_is_stop_word("", 0));
}

ED_TEST_MAIN(questions_keep_their_subject, unicode_punctuation_splits_and_letters_stay, repeats_limits_and_capacity,
             stop_words)
