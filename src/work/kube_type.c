/* kube_type.c - the `work-kubernetes` work type: config checks,
 * registration, and submission parameters (spec 10.3).
 *
 * kube_settings_check() is upstream's Prepare, word for word in its errors,
 * plus one refusal of receptor-c's own: `streammethod: tcp` (the pod
 * dialling back to an ephemeral port on the node) is not implemented, and
 * saying so at startup beats accepting a config whose units can never run.
 *
 * kube_check_params() is upstream's SetFromParams: the configured pod and
 * kubeconfig files are read into the unit's ExtraData (KubePod, KubeConfig
 * hold contents, not names), each runtime parameter needs its allowruntime*
 * permission ("<name> provided but not allowed"), and the ExtraData fields
 * come out in upstream's order.  pod_pending_timeout is not an ExtraData
 * field upstream, so it lives in the unit's in-memory kube state. */
#include "work/kube.h"
#include "work/kube_config.h"
#include "work/kube_unit.h"
#include "work/workceptor_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/godur.h"

/* A kubeconfig or pod spec larger than this is refused, not slurped. */

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static void lower_into(char *out, size_t outlen, const char *s)
{
    snprintf(out, outlen, "%s", s ? s : "");
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

/* Go's os error texts are the C library's with a lower-case first letter. */
static void go_errno_text(char *out, size_t outlen, const char *op, const char *path, int e)
{
    char msg[128];
    snprintf(msg, sizeof msg, "%s", strerror(e));
    msg[0] = (char)tolower((unsigned char)msg[0]);
    snprintf(out, outlen, "%s %s: %s", op, path, msg);
}

int kube_settings_check(const struct kube_settings *ks, char *err, size_t errlen)
{
    char auth[32], stream[32];
    lower_into(auth, sizeof auth, ks->authmethod ? ks->authmethod : "incluster");
    lower_into(stream, sizeof stream, ks->streammethod ? ks->streammethod : "logger");
    int kubeconfig_auth = strcmp(auth, "kubeconfig") == 0;
    if (!kubeconfig_auth && strcmp(auth, "incluster") && strcmp(auth, "runtime")) {
        snprintf(err, errlen, "invalid AuthMethod: %s", ks->authmethod);
        return -1;
    }
    if (!(ks->namespace_ && ks->namespace_[0]) && !(kubeconfig_auth || ks->allow_runtime_auth)) {
        snprintf(err, errlen, "must provide namespace when AuthMethod is not kubeconfig");
        return -1;
    }
    if (ks->kubeconfig && ks->kubeconfig[0]) {
        if (!kubeconfig_auth) {
            snprintf(err, errlen, "can only provide KubeConfig when AuthMethod=kubeconfig");
            return -1;
        }
        struct stat sb;
        if (stat(ks->kubeconfig, &sb) < 0) {
            char why[512];
            go_errno_text(why, sizeof why, "stat", ks->kubeconfig, errno);
            snprintf(err, errlen, "error accessing kubeconfig file: %s", why);
            return -1;
        }
    }
    int has_pod = ks->pod && ks->pod[0], has_image = ks->image && ks->image[0];
    if (has_pod && (has_image || (ks->command && ks->command[0]) || (ks->params && ks->params[0]))) {
        snprintf(err, errlen, "can only provide Pod when Image, Command, and Params are empty");
        return -1;
    }
    if (!has_pod && !has_image && !ks->allow_runtime_command && !ks->allow_runtime_pod) {
        snprintf(err, errlen, "must specify a container image to run");
        return -1;
    }
    if (strcmp(stream, "logger") && strcmp(stream, "tcp")) {
        snprintf(err, errlen, "stream mode must be logger or tcp");
        return -1;
    }
    if (strcmp(stream, "tcp") == 0) {
        snprintf(err, errlen, "streammethod tcp is not supported by receptor-c (use the default, "
                              "logger)");
        return -1;
    }
    return 0;
}

void kube_type_free(struct kube_type *kt)
{
    if (!kt)
        return;
    free(kt->namespace_);
    free(kt->image);
    free(kt->command);
    free(kt->params);
    free(kt->kubeconfig);
    free(kt->pod);
    free(kt->name_prefix);
    free(kt);
}

static struct kube_type *kube_type_new(const struct kube_settings *ks)
{
    struct kube_type *kt = calloc(1, sizeof *kt);
    if (!kt)
        return NULL;
    lower_into(kt->authmethod, sizeof kt->authmethod, ks->authmethod ? ks->authmethod : "incluster");
    kt->namespace_ = dup_or_empty(ks->namespace_);
    kt->image = dup_or_empty(ks->image);
    kt->command = dup_or_empty(ks->command);
    kt->params = dup_or_empty(ks->params);
    kt->kubeconfig = dup_or_empty(ks->kubeconfig);
    kt->pod = dup_or_empty(ks->pod);
    size_t n = strlen(ks->worktype) + 2;
    kt->name_prefix = malloc(n);
    if (kt->name_prefix) {
        lower_into(kt->name_prefix, n, ks->worktype);
        strcat(kt->name_prefix, "-");
    }
    kt->allow_runtime_auth = ks->allow_runtime_auth;
    kt->allow_runtime_command = ks->allow_runtime_command;
    kt->allow_runtime_params = ks->allow_runtime_params;
    kt->allow_runtime_pod = ks->allow_runtime_pod;
    kt->delete_pod_on_restart = ks->delete_pod_on_restart;
    if (!kt->namespace_ || !kt->image || !kt->command || !kt->params || !kt->kubeconfig ||
        !kt->pod || !kt->name_prefix) {
        kube_type_free(kt);
        return NULL;
    }
    return kt;
}

int workceptor_add_kube(struct workceptor *wc, const struct kube_settings *ks, char *err, size_t errlen)
{
    if (workceptor_type(wc, ks->worktype)) {
        snprintf(err, errlen, "work type %s is already registered", ks->worktype);
        return -1;
    }
    struct kube_type *kt = kube_type_new(ks);
    struct work_type *t = kt ? workceptor_add_type(wc, ks->worktype, WORK_KUBE) : NULL;
    if (!t) {
        kube_type_free(kt);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->kube = kt;
    t->verify_signature = ks->verify_signature;
    workceptor_advertise_types(wc);
    return 0;
}

/* ---- submission ------------------------------------------------------------ */

/* The whole of a file as a string, or NULL with Go's error text in why. */
static char *read_file_text(const char *path, char *why, size_t whylen)
{
    enum kube_file_error e;
    char *buf = kube_file_read(path, NULL, &e);
    if (!buf && e == KUBE_FILE_OPEN)
        go_errno_text(why, whylen, "open", path, errno);
    else if (!buf && e == KUBE_FILE_NOT_SMALL)
        snprintf(why, whylen, "read %s: not a regular file of at most %d bytes", path, KUBE_FILE_MAX);
    else if (!buf)
        snprintf(why, whylen, "read %s: out of memory", path);
    return buf;
}

/* A runtime parameter's value: non-empty strings only count, as upstream. */
static const char *param_value(json_t *params, const char *name)
{
    const char *v = json_string_value(json_object_get(params, name));
    return v && v[0] ? v : NULL;
}

struct runtime_param {
    const char *name;
    int allowed;
};

static int check_permissions(const struct kube_type *kt, json_t *params, char *err, size_t errlen)
{
    const struct runtime_param list[] = {
        { "kube_command", kt->allow_runtime_command },
        { "kube_image", kt->allow_runtime_command },
        { "kube_params", kt->allow_runtime_params },
        { "kube_namespace", kt->allow_runtime_auth },
        { "secret_kube_config", kt->allow_runtime_auth },
        { "secret_kube_pod", kt->allow_runtime_pod },
        { "pod_pending_timeout", kt->allow_runtime_params },
    };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        if (param_value(params, list[i].name) && !list[i].allowed) {
            snprintf(err, errlen, "%s provided but not allowed", list[i].name);
            return -1;
        }
    return 0;
}

static char *join_params(const char *base, const char *user)
{
    size_t n = strlen(base) + strlen(user) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", base, base[0] && user[0] ? " " : "", user);
    return s;
}

/* The configured files' contents, read at each submission as upstream does. */
static int read_config_files(const struct kube_type *kt, char **pod, char **kubeconfig, char *err,
                             size_t errlen)
{
    char why[512];
    *pod = *kubeconfig = NULL;
    *pod = kt->pod[0] ? read_file_text(kt->pod, why, sizeof why) : strdup("");
    if (!*pod) {
        snprintf(err, errlen, "could not read pod: %s", why);
        return -1;
    }
    *kubeconfig = kt->kubeconfig[0] ? read_file_text(kt->kubeconfig, why, sizeof why) : strdup("");
    if (!*kubeconfig) {
        snprintf(err, errlen, "could not read kubeconfig: %s", why);
        free(*pod);
        *pod = NULL;
        return -1;
    }
    return 0;
}

static json_t *build_extra(const struct kube_type *kt, json_t *params, const char *pod,
                           const char *kubeconfig)
{
    const char *user_pod = param_value(params, "secret_kube_pod");
    const char *user_cmd = param_value(params, "kube_command");
    const char *user_image = param_value(params, "kube_image");
    const char *user_params = param_value(params, "kube_params");
    const char *ns = param_value(params, "kube_namespace");
    const char *cfg = param_value(params, "secret_kube_config");
    char *eff = user_pod ? strdup("") : join_params(kt->params, user_params ? user_params : "");
    if (!eff)
        return NULL;
    json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
                          "Image", user_pod ? "" : user_image ? user_image : kt->image,
                          "Command", user_pod ? "" : user_cmd ? user_cmd : kt->command,
                          "Params", eff,
                          "KubeNamespace", ns ? ns : kt->namespace_,
                          "KubeConfig", cfg ? cfg : kubeconfig,
                          "KubePod", user_pod ? user_pod : pod,
                          "PodName", "");
    free(eff);
    return e;
}

int kube_check_params(const struct work_type *wt, json_t *params, json_t **extra,
                      struct kube_unit **state, char *err, size_t errlen)
{
    const struct kube_type *kt = wt->kube;
    char *pod = NULL, *kubeconfig = NULL;
    *extra = NULL;
    *state = NULL;
    if (read_config_files(kt, &pod, &kubeconfig, err, errlen) < 0)
        return -1;
    int rc = -1;
    int64_t pending_ns = 0;
    const char *ppt = param_value(params, "pod_pending_timeout");
    if (check_permissions(kt, params, err, errlen) < 0)
        goto out;
    if (strcmp(kt->authmethod, "runtime") == 0 && !param_value(params, "secret_kube_config") &&
        !kubeconfig[0]) {
        snprintf(err, errlen, "param secret_kube_config must be provided if AuthMethod=runtime");
        goto out;
    }
    if (param_value(params, "secret_kube_pod") &&
        (param_value(params, "kube_params") || param_value(params, "kube_command") ||
         param_value(params, "kube_image"))) {
        snprintf(err, errlen, "params kube_command, kube_image, kube_params not compatible with "
                              "secret_kube_pod");
        goto out;
    }
    if (ppt && godur_parse(ppt, &pending_ns, err, errlen) < 0)
        goto out;
    *extra = build_extra(kt, params, pod, kubeconfig);
    *state = kube_unit_new(pending_ns);
    if (!*extra || !*state) {
        json_decref(*extra);
        *extra = NULL;
        kube_unit_free(*state);
        *state = NULL;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    free(pod);
    free(kubeconfig);
    return rc;
}
