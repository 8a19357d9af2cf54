/* ctlclient.h - a client of another node's control service over a mesh
 * stream, as remote work uses it (spec 10.4): dial (node, "control"), check
 * the greeting names the node, then exchange lines, upload a file, or
 * receive a raw byte stream.
 *
 * Every operation completes through one callback; err is NULL on success.
 * The client never buffers more than one line (bounded) plus the stream's
 * own window: uploads read the file only as fast as the stream drains, and
 * downloads hand each chunk to the caller as it arrives. */
#ifndef WORK_CTLCLIENT_H
#define WORK_CTLCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "mesh/node.h"
#include "stream/stream.h"

struct ctlc;

/* ready: the greeting was read and names `node`. */
typedef void (*ctlc_done_cb)(void *arg, const char *line, const char *err);
typedef void (*ctlc_data_cb)(void *arg, const uint8_t *data, size_t len);

struct ctlc *ctlc_connect(struct node *n, const char *node, const struct stream_tls *tls,
                          ctlc_done_cb ready, void *arg);
/* Sends a line ("\n" is added) and reads one reply line.  On a connection
 * that died meanwhile (even while idle), reply gets the error at once. */
void ctlc_request(struct ctlc *c, const char *line, ctlc_done_cb reply, void *arg);
/* Sends the whole file (by path), then half-closes; then reads one line. */
void ctlc_upload(struct ctlc *c, const char *path, ctlc_done_cb reply, void *arg);
/* After a request's reply: hands every following byte to data until the
 * server closes (done with err NULL) or the connection fails. */
void ctlc_download(struct ctlc *c, ctlc_data_cb data, ctlc_done_cb done, void *arg);
/* Closes at once; no callback runs afterwards. */
void ctlc_close(struct ctlc *c);

#endif
