/* kube_yaml.h - YAML/JSON text to jansson for kubeconfig files and pod
 * specs (see kube_yaml.c for the types and limits). */
#ifndef WORK_KUBE_YAML_H
#define WORK_KUBE_YAML_H

#include <jansson.h>
#include <stddef.h>

/* The first document as a new value, or NULL with the reason in err. */
json_t *kube_yaml_parse(const char *text, size_t len, char *err, size_t errlen);

#endif
