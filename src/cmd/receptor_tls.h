/* receptor_tls.h - the daemon's TLS glue: tls-server / tls-client config
 * items -> named TLS configurations (net/tlsconf.h), and the exclusive
 * cert-init / cert-makereq / cert-signreq commands (net/certs.h). */
#ifndef CMD_RECEPTOR_TLS_H
#define CMD_RECEPTOR_TLS_H

#include <stddef.h>

#include "config/config.h"
#include "net/tlsconf.h"

/* Runs the cert-* item of cfg, if any: 1 when one ran successfully, 0 when
 * cfg has none, -1 with err on failure. */
int receptor_cert_command(const struct config *cfg, char *err, size_t errlen);

/* Every tls-server / tls-client item of cfg, checked as upstream does at
 * startup (files readable, key matches, node_id named in each certificate
 * unless skipreceptornamescheck).  NULL with err on failure. */
struct tlsconf *receptor_tls_build(const struct config *cfg, const char *node_id, char *err, size_t errlen);

#endif
