/* dialer.h - the redial state machine every backend dialer shares (spec 2.6).
 *
 * Design.  A backend (tcp.c, udp.c, ws.c) embeds a struct dialer in its own
 * dialer and keeps only what is its own: how one dial attempt runs (resolve,
 * connect, TLS, HTTP upgrade) and what a session is.  This module owns the
 * rest, which used to be written out three times:
 *   - the timer that starts the next attempt, and the back-off: the first
 *     attempt runs at once, a failed one waits 5 s, x1.5 per failure, at
 *     most 20 s; a successful dial resets the wait to 5 s, so a session that
 *     ends is followed by a 5 s pause; with redial=false the dialer gives up
 *     after the first failure or session end;
 *   - the failure log line ("Backend connection failed (will retry): dial
 *     <target>: <why>");
 *   - the dialer's lifetime: it is freed (its owner, with free()) from the
 *     timer's close callback once it is stopped, no attempt is in flight
 *     (busy) and no session is left (session).  Nothing is freed inside a
 *     caller's stack other than through that close callback.
 *
 * The backend sets busy while a resolve or connect is in flight and session
 * while it has a session (open or still in its handshake); it reports each
 * end with dialer_fail_dial() or dialer_end_session().  The timer may be
 * borrowed while busy (tcp: the TLS dial deadline); dialer_schedule_dial()
 * takes it back. */
#ifndef NET_DIALER_H
#define NET_DIALER_H

#include <stdint.h>

#include <netdb.h>

#include <uv.h>

#include "net/link.h"

#define DIALER_FIRST_WAIT_MS 5000
#define DIALER_MAX_WAIT_MS 20000

struct dialer;
typedef void (*dialer_dial_fn)(struct dialer *dl);
/* The resolved address (dl->busy still set; the module frees it after). */
typedef void (*dialer_address_fn)(struct dialer *dl, const struct sockaddr *addr);

struct dialer {
    uv_loop_t *loop;
    uv_timer_t timer;      /* the next attempt; data is the struct dialer */
    int redial;
    int stopped;
    int busy;              /* set by the backend: resolve or connect in flight */
    void *session;         /* set by the backend: its session, open or not */
    uint64_t wait_ms;      /* the wait after the next failure */
    link_new_cb cb;        /* who gets the sessions' links */
    void *arg;
    const char *target;    /* "tcp host:port", a URL...: for the log line */
    dialer_dial_fn dial;   /* starts one attempt; runs only when idle */
    uv_getaddrinfo_t resolve;
    dialer_address_fn on_address;
    void *owner;           /* the backend's dialer, freed at the end */
};

/* Fills dl and schedules the first attempt at once.  target must outlive
 * dl; owner is the malloc'ed block that dl lives in. */
void dialer_start_dialing(struct dialer *dl, uv_loop_t *loop, int redial, link_new_cb cb, void *arg,
                          const char *target, dialer_dial_fn dial, void *owner);
/* Runs dl->dial after ms, unless stopped, busy or in a session by then. */
void dialer_schedule_dial(struct dialer *dl, uint64_t ms);
/* The usual first step of dl->dial: sets busy and resolves host:port;
 * a failure (or a stop meanwhile) clears busy and is a failed dial, else
 * on_address gets the first address. */
void dialer_resolve_target(struct dialer *dl, const char *host, const char *port, int socktype,
                           dialer_address_fn on_address);
/* A dial (or a session that never opened) failed: logs why, then backs off
 * and retries, or gives up without redial. */
void dialer_fail_dial(struct dialer *dl, const char *why);
/* A dial succeeded: the next failure waits 5 s again. */
void dialer_reset_backoff(struct dialer *dl);
/* The session ended (dl->session is cleared).  failure: NULL for a session
 * that was open (redial in 5 s), else why it never opened (a failed dial). */
void dialer_end_session(struct dialer *dl, const char *failure);
/* No more attempts; the backend then closes what it has in flight and calls
 * dialer_free_if_idle(). */
void dialer_stop_dialing(struct dialer *dl);
/* Frees the owner (via the timer's close) once stopped and idle. */
void dialer_free_if_idle(struct dialer *dl);

/* Splits "host:port" ("[v6]:port" too) into host and port; -1 with
 * "address <address>: expected host:port" in err (when err is not NULL). */
int dialer_split_address(const char *address, char *host, size_t hostlen, char *port,
                         size_t portlen, char *err, size_t errlen);

#endif
