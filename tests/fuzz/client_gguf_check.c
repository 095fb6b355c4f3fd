/* tests/fuzz/client_gguf_check.c - libFuzzer driver for edgectl's own GGUF
 * reader (clients/edgectl/gguf_check.c): any input is checked without a read
 * out of bounds, and an accepted one has a version of 2 or 3 and a
 * NUL-terminated architecture. Seeds: the GGUF seeds of model_gguf work too. */
#include "clients/edgectl/gguf_check.c"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ed_gguf_check_t g;
    char why[256];
    if (ed_gguf_check_memory(data, size, &g, why, sizeof why) == 0) {
        if ((g.version != 2 && g.version != 3) || memchr(g.architecture, '\0', sizeof g.architecture) == NULL)
            abort();
    } else if (memchr(why, '\0', sizeof why) == NULL) {
        abort();
    }
    return 0;
}
