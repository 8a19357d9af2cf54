/* container.h - process isolation with podman or docker (spec 7).
 *
 * container_wrap() turns a prepared job's argv into the engine command line
 * of spec 7.3 (same words, same order as ansible-runner 2.3.1), copies our
 * display callback plugin into <artifact dir>/callback, and, for
 * container_auth_data, writes the registry auth file and, when verify_ssl
 * is false, a registries.conf (byte-exact, spec 7.4) in a private
 * temporary directory (j->registry_dir) that the job removes when it ends.
 * The design notes are at the top of container.c. */
#ifndef RUNNER_CONTAINER_H
#define RUNNER_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>

struct job;

/* "ansible_runner_" + ident with [^a-zA-Z0-9_-] replaced by '_' (malloc'ed). */
char *container_name_for(const char *ident);
/* 0, or -1 with a configuration error when process isolation is asked for
 * with an executable other than podman/docker (the bwrap sandbox of spec
 * 7.6 is not implemented: refusing beats running unconfined). */
int container_check_engine(bool process_isolation, const char *engine, char *err, size_t errlen);
/* Wraps j->argv for the engine; 0 or -1 with an error message in err
 * (configuration error, or the path and reason of a failed write). */
int container_wrap(struct job *j, char *err, size_t errlen);
/* Writes <artifact dir>/env.list (never through a symlink); 0 or -1 with
 * errno (the caller reports it). */
int container_write_env_list(struct job *j);
/* Runs `<engine> kill <name>` and waits for it (at most 30 s); 0 when the
 * engine reported success. */
int container_kill(struct job *j);

#endif
