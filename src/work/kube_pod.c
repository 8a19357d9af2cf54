/* kube_pod.c - the pod a kubernetes unit creates, and what its status says
 * (kube_pod.h), as upstream's createPod and podRunningAndReady have it.
 *
 * From a pod spec (secret_kube_pod or the `pod` file; YAML or JSON): one
 * container must be named `worker` and gets stdin and stdinOnce, restart
 * policy Never, the spec's namespace wins over the unit's, and a name in the
 * spec becomes the generateName prefix (name + "-").  Without one: a single
 * container `worker` with the unit's image, command and args (shell-split)
 * and generateName = lower-cased work type + "-". */
#include "work/kube_pod.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/shlex.h"
#include "work/kube_yaml.h"

static json_t *words_array(const char *s, const char **why)
{
    char **w = shlex_split(s ? s : "", why);
    if (!w)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; w[i]; i++)
        json_array_append_new(a, json_string(w[i]));
    shlex_free(w);
    return a;
}

static json_t *pod_from_spec(const char *text, const char *name_prefix, char **ns, char *err,
                             size_t errlen)
{
    char why[256];
    json_t *pod = kube_yaml_parse(text, strlen(text), why, sizeof why);
    if (!pod) {
        snprintf(err, errlen, "%s", why);
        return NULL;
    }
    json_t *spec = json_object_get(pod, "spec");
    json_t *containers = json_object_get(spec, "containers");
    json_t *worker = NULL, *c;
    size_t i;
    json_array_foreach(containers, i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && strcmp(n, "worker") == 0) {
            worker = c;
            break;
        }
    }
    if (!json_is_object(pod) || !worker) {
        json_decref(pod);
        snprintf(err, errlen, "at least one container must be named worker");
        return NULL;
    }
    json_object_set_new(worker, "stdin", json_true());
    json_object_set_new(worker, "stdinOnce", json_true());
    json_object_set_new(spec, "restartPolicy", json_string("Never"));
    json_t *meta = json_object_get(pod, "metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(pod, "metadata", meta);
    }
    const char *uns = json_string_value(json_object_get(meta, "namespace"));
    if (uns && uns[0]) {
        free(*ns);
        *ns = strdup(uns);
    }
    const char *uname = json_string_value(json_object_get(meta, "name"));
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s%s", uname && uname[0] ? uname : name_prefix,
             uname && uname[0] ? "-" : "");
    json_object_del(meta, "name");
    json_object_set_new(meta, "generateName", json_string(prefix));
    json_object_set_new(meta, "namespace", json_string(*ns));
    json_object_set_new(pod, "apiVersion", json_string("v1"));
    json_object_set_new(pod, "kind", json_string("Pod"));
    json_object_del(pod, "status");
    return pod;
}

json_t *kube_pod_build(json_t *extra, const char *name_prefix, char **ns, char *err, size_t errlen)
{
    const char *kpod = json_string_value(json_object_get(extra, "KubePod"));
    if (kpod && kpod[0])
        return pod_from_spec(kpod, name_prefix, ns, err, errlen);
    const char *why = NULL;
    json_t *cmd = words_array(json_string_value(json_object_get(extra, "Command")), &why);
    json_t *args = cmd ? words_array(json_string_value(json_object_get(extra, "Params")), &why) : NULL;
    if (!cmd || !args) {
        json_decref(cmd);
        snprintf(err, errlen, "%s", why ? why : "cannot split the command");
        return NULL;
    }
    const char *image = json_string_value(json_object_get(extra, "Image"));
    json_t *worker = json_pack("{s:s,s:s,s:b,s:b,s:b}", "name", "worker", "image", image ? image : "",
                               "stdin", 1, "stdinOnce", 1, "tty", 0);
    if (json_array_size(cmd))
        json_object_set(worker, "command", cmd);
    if (json_array_size(args))
        json_object_set(worker, "args", args);
    json_decref(cmd);
    json_decref(args);
    return json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:[o],s:s}}", "apiVersion", "v1", "kind", "Pod",
                     "metadata", "generateName", name_prefix, "namespace", *ns, "spec",
                     "containers", worker, "restartPolicy", "Never");
}

static json_t *worker_status(json_t *pod)
{
    json_t *list = json_object_get(json_object_get(pod, "status"), "containerStatuses"), *c;
    size_t i;
    json_array_foreach(list, i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && strcmp(n, "worker") == 0)
            return c;
    }
    return json_array_size(list) == 1 ? json_array_get(list, 0) : NULL;
}

static int condition_is(json_t *pod, const char *type, const char *status)
{
    json_t *conds = json_object_get(json_object_get(pod, "status"), "conditions"), *c;
    size_t i;
    json_array_foreach(conds, i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *s = json_string_value(json_object_get(c, "status"));
        if (t && s && strcmp(t, type) == 0 && strcmp(s, status) == 0)
            return 1;
    }
    return 0;
}

const char *kube_pod_phase(json_t *pod)
{
    const char *p = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    return p ? p : "";
}

const char *kube_pod_waiting_reason(json_t *pod)
{
    json_t *w = json_object_get(json_object_get(worker_status(pod), "state"), "waiting");
    return json_string_value(json_object_get(w, "reason"));
}

int kube_pod_exit_code(json_t *pod, const char **message)
{
    json_t *t = json_object_get(json_object_get(worker_status(pod), "state"), "terminated");
    if (message)
        *message = json_string_value(json_object_get(t, "message"));
    json_t *c = json_object_get(t, "exitCode");
    return json_is_integer(c) ? (int)json_integer_value(c) : -1;
}

enum kube_readiness kube_pod_readiness(json_t *pod, int *pull_backoffs)
{
    const char *phase = kube_pod_phase(pod);
    if (strcmp(phase, "Failed") == 0)
        return KUBE_POD_FAILED;
    if (strcmp(phase, "Succeeded") == 0)
        return KUBE_POD_COMPLETED;
    if (strcmp(phase, "Running") && strcmp(phase, "Pending"))
        return KUBE_POD_WAITING;
    if (condition_is(pod, "Ready", "True"))
        return KUBE_POD_READY;
    const char *why = kube_pod_waiting_reason(pod);
    if (condition_is(pod, "ContainersReady", "False") && why && strcmp(why, "ImagePullBackOff") == 0 &&
        ++*pull_backoffs > 3)
        return KUBE_POD_PULL_FAILED;
    return KUBE_POD_WAITING;
}

char *kube_status_message(const char *body, long status)
{
    json_t *j = json_loads(body ? body : "", 0, NULL);
    const char *m = json_string_value(json_object_get(j, "message"));
    char buf[600];
    if (m && m[0])
        snprintf(buf, sizeof buf, "%.500s", m);
    else
        snprintf(buf, sizeof buf, "the server answered HTTP %ld", status);
    json_decref(j);
    return strdup(buf);
}
