/* command_svc.h - the `command-service` config entry (upstream
 * pkg/services/command.go): a mesh service that runs a local command on a
 * pseudo-terminal for each connection, the stream being its terminal. */
#ifndef STREAM_COMMAND_SVC_H
#define STREAM_COMMAND_SVC_H

#include "mesh/node.h"
#include "stream/stream.h"

struct command_svc;
/* command is split like a shell would (quotes, backslashes, no expansion).
 * NULL with err if the command is empty or malformed, or the service cannot
 * be bound. */
struct command_svc *command_svc_start(struct node *n, const char *service, const char *command,
                                      const struct stream_tls *tls, char *err, size_t errlen);
/* Closes the listener; running commands are killed and their streams
 * closed. */
void command_svc_stop(struct command_svc *cs);

#endif
