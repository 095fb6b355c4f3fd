/* jobs_options.c - a job's options (the JSON object POST /v1/adapt
 * validated and stored) read back as trainer, run and dataset configs, and
 * the names of LoRA targets. Validation itself is the API's. */

#include "adapt/jobs_internal.h"

#include "model/lora.h"

#include <stdio.h>
#include <string.h>

static const char *const TARGET_NAMES[ED_LORA_PER_LAYER] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                             "ffn_gate", "ffn_up", "ffn_down"};

int ed_jobs_target_bit(const char *name)
{
    for (int r = 0; r < ED_LORA_PER_LAYER; r++)
        if (strcmp(TARGET_NAMES[r], name) == 0)
            return r;
    return -1;
}

void ed__jobs_targets_text(unsigned targets, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (int r = 0; r < ED_LORA_PER_LAYER; r++)
        if (targets & ED_TRAIN_TARGET(r))
            at += (size_t)snprintf(out + at, at < cap ? cap - at : 0, "%s%s", at ? "," : "", TARGET_NAMES[r]);
}

/* The job's options (validated by the API when it was queued) as configs. */
int ed__jobs_options_parse(const ed_adapt_job_t *job, const settings_t *s, ed_trainer_config_t *tc, ed_run_config_t *rc,
                         ed_dataset_config_t *dc, char err[ED_ERR_LEN])
{
    ed_trainer_config_default(tc);
    ed_run_config_default(rc);
    ed_dataset_config_default(dc);
    json_t *o = json_loads(job->options, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return ed_errf(err, ED_ECORRUPT, "the job's options are not a JSON object");
    }
    json_t *v;
    if ((v = json_object_get(o, "rank")))
        tc->rank = (int)json_integer_value(v);
    if ((v = json_object_get(o, "alpha")))
        tc->alpha = (float)json_number_value(v);
    if ((v = json_object_get(o, "seq_len")))
        tc->seq_len = (int)json_integer_value(v);
    if ((v = json_object_get(o, "learning_rate"))) {
        tc->lr = (float)json_number_value(v);
        tc->lr_min = tc->lr * 0.1f;
    }
    if ((v = json_object_get(o, "targets")) && json_array_size(v) > 0) {
        tc->targets = 0;
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t)
        {
            int bit = json_is_string(t) ? ed_jobs_target_bit(json_string_value(t)) : -1;
            if (bit >= 0)
                tc->targets |= ED_TRAIN_TARGET(bit);
        }
    }
    if ((v = json_object_get(o, "budget_s")))
        rc->budget_s = json_number_value(v);
    if ((v = json_object_get(o, "max_steps")))
        rc->max_steps = (int)json_integer_value(v);
    if ((v = json_object_get(o, "heldout_fraction")))
        dc->heldout_fraction = json_number_value(v);
    if ((v = json_object_get(o, "seed")))
        tc->seed = rc->seed = dc->seed = (uint64_t)json_integer_value(v);
    json_decref(o);
    dc->seq_len = tc->seq_len;
    tc->warmup_steps = rc->max_steps >= 20 ? 10 : rc->max_steps / 2 > 0 ? rc->max_steps / 2 : 1;
    tc->decay_steps = rc->max_steps;
    rc->ckpt_every_steps = (int)s->checkpoint_every_steps;
    rc->ckpt_every_s = s->checkpoint_every_s;
    if (rc->ckpt_every_steps == 0 && rc->ckpt_every_s == 0)
        rc->ckpt_every_steps = 50;
    return ed_run_config_check(rc, err);
}

bool ed__jobs_options_run_now(const char *options)
{
    json_t *o = json_loads(options, 0, NULL);
    bool run_now = o && json_is_true(json_object_get(o, "run_now"));
    json_decref(o);
    return run_now;
}
