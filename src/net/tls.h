/* tls.h - TLS as a filter over any byte stream (core/bstream.h).
 *
 * tls_wrap() takes a connected inner bstream (a uvstream TCP socket, a
 * WebSocket's underlying stream, anything) and returns a bstream that
 * carries plaintext; ciphertext flows through the inner stream.  GnuTLS
 * runs with push/pull functions over buffers: received ciphertext is
 * buffered until GnuTLS pulls it, records it pushes are written to the
 * inner stream at once.  Nothing blocks: the handshake advances from the
 * inner stream's read callback.
 *
 * Contract on top of bstream.h:
 * - Writes made before the handshake completes are buffered (bounded by
 *   TLS_PENDING_MAX) and sent right after it.  queued() counts them plus the
 *   inner stream's queue, so writers see back-pressure as usual.
 * - The inner stream is read only while the handshake runs or the owner
 *   reads (read_start), so a slow reader stops the peer through TCP flow
 *   control; received ciphertext is bounded by TLS_INPUT_MAX.
 * - shutdown() sends close_notify then half-closes the inner stream;
 *   a peer's close_notify (or a bare EOF after the handshake) is on_eof.
 * - Any failure is reported once through on_error with a message naming
 *   the peer and the reason ("tls 127.0.0.1:4444: x509: certificate signed
 *   by unknown authority", "... remote error: Certificate is bad", "... TLS
 *   handshake timed out after 15 s"), then the stream closes (a fatal alert
 *   is flushed to the peer first when possible) and on_close follows.
 * - The wrapped stream owns the inner one: close() closes both.
 *
 * The verification rules are tlsconf's (see tlsconf.h): server_name is the
 * name a backend client checks and sends as SNI; expect_node_id selects the
 * mesh node-ID check. */
#ifndef NET_TLS_H
#define NET_TLS_H

#include <uv.h>

#include "core/bstream.h"
#include "net/tlsconf.h"

#define TLS_PENDING_MAX (8u << 20)    /* plaintext written before the handshake */
#define TLS_INPUT_MAX (256u << 10)    /* ciphertext received, not yet decrypted */
#define TLS_DIAL_TIMEOUT_MS 15000     /* backend dialers (spec 2.2) */
#define TLS_CONTROL_TIMEOUT_MS 10000  /* control service tcptls (spec 7.3) */

/* Wraps inner (which must be connected; its callbacks are taken over).  The
 * handshake starts on the next loop iteration and must finish within
 * handshake_timeout_ms (0: no limit).  Returns NULL with err if the session
 * cannot be set up; inner is then left untouched for the caller to close. */
struct bstream *tls_wrap(struct bstream *inner, struct tls_config *cfg, int is_server,
                         const char *server_name, const char *expect_node_id, uv_loop_t *loop,
                         unsigned handshake_timeout_ms, char *err, size_t errlen);

/* Called once when the handshake has completed and the peer passed
 * verification (optional). */
void tls_set_ready_cb(struct bstream *s, void (*on_ready)(struct bstream *s));
/* 1 once the handshake has completed. */
int tls_is_ready(const struct bstream *s);

#endif
