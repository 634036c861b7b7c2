#include "update/agent.h"

#include "crypto/trust.h"
#include "package/store.h"
#include "policy/policy.h"
#include "update/client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cs_update_agent {
    cs_update_agent_config config;
    uv_timer_t timer;
    unsigned interval; /* seconds */
    bool run_queued;   /* an update run is queued or running */
    unsigned pending;  /* work items not yet finished */
    bool closing;
    bool timer_closed;
};

enum job_kind { JOB_RUN, JOB_EXIT };

/* One piece of work for the thread pool, and the lines it logs. */
typedef struct job {
    uv_work_t work;
    cs_update_agent *agent;
    enum job_kind kind;
    char app_id[129];
    char version[129];
    time_t started;
    time_t ended;
    bool failed;
    char **lines;
    size_t nlines;
} job;

static void job_log(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void job_log(job *j, const char *fmt, ...)
{
    char **grown = realloc(j->lines, (j->nlines + 1) * sizeof(*grown));
    if (!grown)
        return;
    j->lines = grown;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&j->lines[j->nlines], fmt, ap) >= 0)
        j->nlines++;
    va_end(ap);
}

/* Read the policy and the trust configuration (worker thread). */
static int load_config(const cs_update_agent_config *config, cs_policy *policy, cs_trust *trust,
                       cs_error *err)
{
    bool missing_ok = false;
    const char *location = cs_policy_location(config->policy_location, &missing_ok);
    int rc = cs_policy_load(policy, location, missing_ok, err);
    if (rc < 0)
        return rc;
    cs_trust_init(trust);
    rc = config->trust_path ? cs_trust_load_file(trust, config->trust_path, false, err)
                            : cs_trust_load_file(trust, CS_TRUST_DEFAULT_PATH, true, err);
    for (size_t i = 0; rc == 0 && i < config->ntrusted_keys; i++)
        rc = cs_trust_add_key_file(trust, config->trusted_keys[i], err);
    if (rc == 0)
        rc = cs_policy_add_trust(policy, trust, err);
    if (rc < 0) {
        cs_trust_free(trust);
        cs_policy_free(policy);
    }
    return rc;
}

static void run_update(job *j, const cs_policy *policy, const cs_trust *trust)
{
    cs_policy_repository repo;
    if (cs_policy_repositories(policy, &repo, 1) == 0)
        return;
    bool missing_ok = false;
    cs_update_request req = {
        .store = j->agent->config.store,
        .policy = policy,
        .policy_location = cs_policy_location(j->agent->config.policy_location, &missing_ok),
        .trust = trust,
    };
    cs_update_app *apps = NULL;
    size_t n = 0;
    cs_error err = {0};
    if (cs_update_run(&req, &apps, &n, &err) < 0) {
        job_log(j, "update run failed: %s", err.message);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (apps[i].status == CS_UPDATE_CURRENT)
            continue;
        job_log(j, "update: %s: %s: %s", apps[i].id, cs_update_status_name(apps[i].status),
                apps[i].reason);
    }
    free(apps);
}

static void check_exit(job *j, const cs_policy *policy)
{
    /* The installed app's signer, so that publisher-scoped policy applies. */
    cs_installed_app *installed = NULL;
    size_t ninstalled = 0;
    cs_error err = {0};
    const char *signer = NULL;
    if (cs_store_list(j->agent->config.store, &installed, &ninstalled, &err) == 0) {
        for (size_t i = 0; i < ninstalled && !signer; i++)
            if (strcmp(installed[i].id, j->app_id) == 0)
                signer = installed[i].signer;
    }
    cs_policy_update settings;
    cs_policy_update_settings(policy, j->app_id, signer, &settings);
    cs_store_list_free(installed, ninstalled);
    cs_error_clear(&err);
    bool roll_back = false;
    if (cs_update_note_exit(j->agent->config.store, j->app_id, j->version, j->started, j->ended,
                            j->failed, settings.grace_seconds, &roll_back, &err) < 0) {
        job_log(j, "cannot record the exit of %s %s: %s", j->app_id, j->version, err.message);
        return;
    }
    if (!roll_back)
        return;
    if (!settings.auto_rollback) {
        job_log(j,
                "%s %s failed %lld seconds after it started, within the grace period of %u "
                "seconds; policy does not set auto_rollback, so it stays",
                j->app_id, j->version, (long long)(j->ended - j->started), settings.grace_seconds);
        return;
    }
    char reason[256];
    snprintf(reason, sizeof(reason), "failed %lld seconds after it started (grace period %u s)",
             (long long)(j->ended - j->started), settings.grace_seconds);
    char *from = NULL, *to = NULL;
    if (cs_update_rollback(j->agent->config.store, j->app_id, reason, &from, &to, &err) < 0)
        job_log(j, "cannot roll back %s %s: %s", j->app_id, j->version, err.message);
    else
        job_log(j, "rolled back %s from %s to %s: %s %s", j->app_id, from ? from : j->version, to,
                j->version, reason);
    free(from);
    free(to);
}

static void on_work(uv_work_t *w)
{
    job *j = w->data;
    cs_policy policy;
    cs_trust trust;
    cs_error err = {0};
    if (load_config(&j->agent->config, &policy, &trust, &err) < 0) {
        job_log(j, "update agent cannot read its configuration: %s", err.message);
        return;
    }
    if (j->kind == JOB_RUN)
        run_update(j, &policy, &trust);
    else
        check_exit(j, &policy);
    cs_trust_free(&trust);
    cs_policy_free(&policy);
}

static void maybe_free(cs_update_agent *agent)
{
    if (agent->closing && agent->timer_closed && agent->pending == 0)
        free(agent);
}

static void on_work_done(uv_work_t *w, int status)
{
    (void)status;
    job *j = w->data;
    cs_update_agent *agent = j->agent;
    for (size_t i = 0; i < j->nlines; i++) {
        if (agent->config.log)
            agent->config.log(agent->config.log_ctx, j->lines[i]);
        free(j->lines[i]);
    }
    free(j->lines);
    if (j->kind == JOB_RUN)
        agent->run_queued = false;
    free(j);
    agent->pending--;
    maybe_free(agent);
}

static void queue_job(cs_update_agent *agent, job *j)
{
    j->agent = agent;
    j->work.data = j;
    agent->pending++;
    if (uv_queue_work(agent->config.loop, &j->work, on_work, on_work_done) < 0) {
        agent->pending--;
        if (j->kind == JOB_RUN)
            agent->run_queued = false;
        free(j);
    }
}

static void on_timer(uv_timer_t *t)
{
    cs_update_agent *agent = t->data;
    /* A run that takes longer than the interval is not doubled. */
    if (agent->run_queued || agent->closing)
        return;
    job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->kind = JOB_RUN;
    agent->run_queued = true;
    queue_job(agent, j);
}

int cs_update_agent_start(const cs_update_agent_config *config, cs_update_agent **out,
                          cs_error *err)
{
    *out = NULL;
    cs_update_agent *agent = calloc(1, sizeof(*agent));
    if (!agent)
        return cs_error_set(err, ENOMEM, "out of memory");
    agent->config = *config;
    agent->interval = CS_UPDATE_AGENT_INTERVAL;
    const char *env = getenv("CASHSTORY_UPDATE_INTERVAL");
    if (env && *env) {
        char *end = NULL;
        unsigned long v = strtoul(env, &end, 10);
        if (*end || v < 1 || v > 7 * 86400) {
            free(agent);
            return cs_error_set(err, EINVAL,
                                "$CASHSTORY_UPDATE_INTERVAL must be a number of seconds from 1 "
                                "to 604800, not '%s'",
                                env);
        }
        agent->interval = (unsigned)v;
    }
    uv_timer_init(config->loop, &agent->timer);
    agent->timer.data = agent;
    unsigned first = config->first_delay < agent->interval ? config->first_delay : agent->interval;
    uv_timer_start(&agent->timer, on_timer, (uint64_t)first * 1000,
                   (uint64_t)agent->interval * 1000);
    /* The timer alone does not keep the loop running. */
    uv_unref((uv_handle_t *)&agent->timer);
    *out = agent;
    return 0;
}

void cs_update_agent_app_exited(cs_update_agent *agent, const char *app_id, const char *version,
                                time_t started, bool failed)
{
    if (!agent || agent->closing || !version || !version[0])
        return;
    job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->kind = JOB_EXIT;
    snprintf(j->app_id, sizeof(j->app_id), "%s", app_id);
    snprintf(j->version, sizeof(j->version), "%s", version);
    j->started = started;
    j->ended = time(NULL);
    j->failed = failed;
    queue_job(agent, j);
}

static void on_timer_closed(uv_handle_t *h)
{
    cs_update_agent *agent = h->data;
    agent->timer_closed = true;
    maybe_free(agent);
}

void cs_update_agent_close(cs_update_agent *agent)
{
    if (!agent || agent->closing)
        return;
    agent->closing = true;
    uv_close((uv_handle_t *)&agent->timer, on_timer_closed);
}
