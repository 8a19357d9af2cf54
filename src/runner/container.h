/* container.h - process isolation with podman or docker (spec 7).
 *
 * container_wrap() turns a prepared job's argv into the engine command line
 * of spec 7.3 (same words, same order as ansible-runner 2.3.1), copies our
 * display callback plugin into <artifact dir>/callback, and, for
 * container_auth_data, writes the registry auth file and, when verify_ssl
 * is false, a registries.conf (byte-exact, spec 7.4) in a private
 * temporary directory that the job removes when it ends. */
#ifndef RUNNER_CONTAINER_H
#define RUNNER_CONTAINER_H

#include <stddef.h>

struct job;

/* "ansible_runner_" + ident with [^a-zA-Z0-9_-] replaced by '_' (malloc'ed). */
char *container_name_for(const char *ident);
/* Wraps j->argv for the engine; 0 or -1 with a configuration error. */
int container_wrap(struct job *j, char *err, size_t errlen);
/* Writes <artifact dir>/env.list. */
void container_write_env_list(struct job *j);
/* Runs `<engine> kill <name>`, errors ignored. */
void container_kill(struct job *j);

#endif
