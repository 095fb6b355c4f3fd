/* load.c - what the engine serves: the base model it borrows (model/base:
 * loaded here, on the engine thread, unless another borrower came first),
 * the forward pass and the slots sized for it, and the description the loop
 * thread builds prompts from (ed_engine_model_t). Engine thread. */
#include "engine/internal.h"

#include "core/log.h"

#include <string.h>

static void token_text(const ed_vocab_t *vocab, int32_t id, char *out, size_t cap)
{
    out[0] = '\0';
    if (id >= 0 && id < vocab->n_tokens && vocab->text[id].len < cap) {
        memcpy(out, vocab->text[id].ptr, vocab->text[id].len);
        out[vocab->text[id].len] = '\0';
    }
}

int ed__engine_load(ed_engine_t *e, char err[ED_ERR_LEN])
{
    const ed_config_t *cfg = &e->cfg;
    int rc;
    char sub[ED_ERR_LEN];
    if ((rc = ed_base_load(e->base, NULL, err)) != 0)
        return rc;
    e->model = ed_base_model(e->base);
    e->vocab = ed_base_vocab(e->base);
    e->kernels = ed_base_kernels(e->base);
    int n_ctx = cfg->model.context ? (int)cfg->model.context : e->model->n_ctx_train;
    e->n_slots = (int)cfg->engine.parallel;
    if ((rc = ed_forward_init_multi(&e->fw, e->model, e->kernels, ed_base_pool(e->base), n_ctx,
                                    (int)cfg->model.batch, e->n_slots, sub)) != 0)
        return ed_errf(err, rc, "%s: %s", ed_base_path(e->base), sub);
    /* the adapters' scratch, once: jobs with adapters up to this rank then
     * step without allocating */
    if ((rc = ed_forward_reserve_lora(&e->fw, ED_ENGINE_ADAPTER_MAX_RANK, sub)) != 0)
        return ed_errf(err, rc, "%s: adapter scratch: %s", ed_base_path(e->base), sub);
    if ((rc = ed__slots_init(e, n_ctx, err)) != 0)
        return rc;

    /* what the loop thread needs */
    ed_chat_family_t chat = ED_CHAT_CHATML;
    if (cfg->model.chat_template[0]) {
        ed_chat_family_from_name(cfg->model.chat_template, &chat);
    } else {
        ed_str_t tmpl = {0};
        if (ed_gguf_get_str(ed_base_gguf(e->base), "tokenizer.chat_template", &tmpl) == 0)
            chat = ed_chat_detect(tmpl.ptr, (size_t)tmpl.len);
    }
    const char *path = ed_base_path(e->base);
    const char *file = strrchr(path, '/');
    file = file ? file + 1 : path;
    const char *name = cfg->model.name[0] ? cfg->model.name : file;
    size_t nl = strnlen(name, sizeof e->name - 1); /* a longer name is cut */
    memcpy(e->name, name, nl);
    e->name[nl] = '\0';
    if (!cfg->model.name[0] && nl > 5 && strcmp(e->name + nl - 5, ".gguf") == 0)
        e->name[nl - 5] = '\0';
    ed_str_t general = {0};
    e->general_name[0] = '\0';
    if (ed_gguf_get_str(ed_base_gguf(e->base), "general.name", &general) == 0)
        snprintf(e->general_name, sizeof e->general_name, "%.*s", (int)general.len, general.ptr);
    token_text(e->vocab, e->vocab->bos, e->bos_text, sizeof e->bos_text);
    token_text(e->vocab, e->vocab->eos, e->eos_text, sizeof e->eos_text);
    e->info = (ed_engine_model_t){
        .vocab = e->vocab,
        .name = e->name,
        .general_name = e->general_name,
        .path = path,
        .arch = ed_model_arch_name(e->model->arch),
        .chat = chat,
        .bos_text = e->bos_text,
        .eos_text = e->eos_text,
        .n_ctx = n_ctx,
        .n_embd = e->model->n_embd,
        .n_vocab = e->model->n_vocab,
        .n_slots = e->n_slots,
        .created = ed_base_mtime(e->base),
        .base = e->base,
    };
    ed_log_info("engine: %s ready: %s, %d layers, %d wide, context %d x %d slots, %d threads, %s kernels, "
                "chat format %s",
                e->name, e->info.arch, e->model->n_layer, e->model->n_embd, n_ctx, e->n_slots,
                ed_pool_n_threads(ed_base_pool(e->base)), e->kernels->name, ed_chat_family_name(chat));
    return 0;
}

void ed__engine_unload(ed_engine_t *e)
{
    ed__slots_free(e);
    ed_forward_free(&e->fw);
    e->model = NULL; /* the base's, lent */
    e->vocab = NULL;
    e->kernels = NULL;
}
