/* load.c - what the engine serves: opens the configured model (GGUF, weights,
 * vocabulary), repacks it for the kernels on its compute pool, sizes the
 * forward pass and the slots, and fills the description the loop thread
 * builds prompts from (ed_engine_model_t). Engine thread. */
#include "engine/internal.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    if ((rc = ed_gguf_open(&e->gguf, cfg->model.path, sub)) != 0) {
        if (strstr(sub, cfg->model.path))
            ed_errf(err, 0, "%s", sub);
        else
            ed_errf(err, 0, "%s: %s", cfg->model.path, sub);
        return rc;
    }
    if ((rc = ed_model_load(&e->model, e->gguf, sub)) != 0) {
        ed_errf(err, 0, "%s: %s", cfg->model.path, sub);
        return rc;
    }
    e->model_loaded = true;
    if ((rc = ed_vocab_load(&e->vocab, e->gguf, sub)) != 0) {
        ed_errf(err, 0, "%s: %s", cfg->model.path, sub);
        return rc;
    }
    e->kernels = ed_kernels_select(getenv("EDGED_KERNELS"));
    if (!e->kernels) {
        ed_errf(err, 0, "no kernels for this CPU");
        return ED_EUNSUPPORTED;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cfg->model.threads ? (int)cfg->model.threads : (int)(cpus > 0 ? cpus : 1);
    if (threads > 256)
        threads = 256;
    if ((rc = ed_pool_open(&e->pool, threads, err)) != 0)
        return rc;
    if ((rc = ed_model_repack(&e->model, e->kernels, e->pool, sub)) != 0) {
        ed_errf(err, 0, "%s: %s", cfg->model.path, sub);
        return rc;
    }
    int n_ctx = cfg->model.context ? (int)cfg->model.context : e->model.n_ctx_train;
    e->n_slots = (int)cfg->engine.parallel;
    if ((rc = ed_forward_init_multi(&e->fw, &e->model, e->kernels, e->pool, n_ctx, (int)cfg->model.batch,
                                    e->n_slots, sub)) != 0) {
        ed_errf(err, 0, "%s: %s", cfg->model.path, sub);
        return rc;
    }
    if ((rc = ed__slots_init(e, n_ctx, err)) != 0)
        return rc;

    /* what the loop thread needs */
    ed_chat_family_t chat = ED_CHAT_CHATML;
    if (cfg->model.chat_template[0]) {
        ed_chat_family_from_name(cfg->model.chat_template, &chat);
    } else {
        ed_str_t tmpl = {0};
        if (ed_gguf_get_str(e->gguf, "tokenizer.chat_template", &tmpl) == 0)
            chat = ed_chat_detect(tmpl.ptr, (size_t)tmpl.len);
    }
    const char *base = strrchr(cfg->model.path, '/');
    base = base ? base + 1 : cfg->model.path;
    const char *name = cfg->model.name[0] ? cfg->model.name : base;
    size_t nl = strnlen(name, sizeof e->name - 1); /* a longer name is cut */
    memcpy(e->name, name, nl);
    e->name[nl] = '\0';
    if (!cfg->model.name[0] && nl > 5 && strcmp(e->name + nl - 5, ".gguf") == 0)
        e->name[nl - 5] = '\0';
    token_text(e->vocab, e->vocab->bos, e->bos_text, sizeof e->bos_text);
    token_text(e->vocab, e->vocab->eos, e->eos_text, sizeof e->eos_text);
    struct stat st;
    e->info = (ed_engine_model_t){
        .vocab = e->vocab,
        .name = e->name,
        .path = cfg->model.path,
        .arch = ed_model_arch_name(e->model.arch),
        .chat = chat,
        .bos_text = e->bos_text,
        .eos_text = e->eos_text,
        .n_ctx = n_ctx,
        .n_embd = e->model.n_embd,
        .n_vocab = e->model.n_vocab,
        .n_slots = e->n_slots,
        .created = stat(cfg->model.path, &st) == 0 ? (int64_t)st.st_mtime : 0,
    };
    ed_log_info("engine: %s ready: %s, %d layers, %d wide, context %d x %d slots, %d threads, %s kernels, "
                "chat format %s",
                e->name, e->info.arch, e->model.n_layer, e->model.n_embd, n_ctx, e->n_slots, threads,
                e->kernels->name, ed_chat_family_name(chat));
    return 0;
}

void ed__engine_unload(ed_engine_t *e)
{
    ed__slots_free(e);
    ed_forward_free(&e->fw);
    ed_pool_close(e->pool);
    e->pool = NULL;
    ed_vocab_free(e->vocab);
    e->vocab = NULL;
    if (e->model_loaded)
        ed_model_free(&e->model);
    e->model_loaded = false;
    ed_gguf_close(e->gguf);
    e->gguf = NULL;
}
