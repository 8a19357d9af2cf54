/* Fuzzes the kubernetes work parsers.  The first byte picks what the rest is:
 *   0: kubeconfig text (contexts, clusters, users, base64 data);
 *   1: a pod spec (secret_kube_pod / the `pod` file), built into the pod the
 *      unit would create;
 *   2: one watch event line / API answer, read for readiness, exit code and
 *      the Status message.
 * Every refusal must carry a message; nothing may crash, leak or read
 * outside its input. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "work/kube_config.h"
#include "work/kube_pod.h"

static void fuzz_kubeconfig(const char *text, size_t len)
{
    struct kube_conn c;
    char err[256] = "";
    if (kube_conn_from_kubeconfig(&c, text, len, "/nonexistent", err, sizeof err) == 0) {
        if (!c.server || !c.namespace_)
            abort();
        kube_conn_free(&c);
    } else if (!err[0]) {
        abort();
    }
}

static void fuzz_pod(const char *text)
{
    char err[256] = "";
    char *ns = strdup("default");
    json_t *extra = json_pack("{s:s,s:s,s:s,s:s}", "Image", "i", "Command", "c", "Params", "p",
                              "KubePod", text);
    json_t *pod = extra ? kube_pod_build(extra, "k-", &ns, err, sizeof err) : NULL;
    if (extra && !pod && !err[0])
        abort();
    if (pod) {
        char *s = json_dumps(pod, JSON_COMPACT);
        free(s);
    }
    json_decref(pod);
    json_decref(extra);
    free(ns);
}

static void fuzz_event(const char *text, size_t len)
{
    json_t *ev = json_loadb(text, len, 0, NULL);
    json_t *obj = json_object_get(ev, "object");
    int backoffs = 0;
    for (int i = 0; i < 5; i++)
        kube_pod_readiness(obj ? obj : ev, &backoffs);
    (void)kube_pod_phase(obj);
    (void)kube_pod_waiting_reason(obj);
    const char *msg = NULL;
    (void)kube_pod_exit_code(obj, &msg);
    json_decref(ev);
    char *m = kube_status_message(text, 500);
    if (!m)
        abort();
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1 << 20))
        return 0;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0'; /* the C-string readers get a terminated copy */
    switch (data[0] % 3) {
    case 0:
        fuzz_kubeconfig(text, size - 1);
        break;
    case 1:
        fuzz_pod(text);
        break;
    default:
        fuzz_event(text, size - 1);
        break;
    }
    free(text);
    return 0;
}
