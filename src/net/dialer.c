/* dialer.c - see dialer.h. */
#include "net/dialer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static void on_timer_closed(uv_handle_t *h)
{
    struct dialer *dl = h->data;
    free(dl->owner);
}

void dialer_free_if_idle(struct dialer *dl)
{
    if (dl->stopped && !dl->busy && !dl->session && !uv_is_closing((uv_handle_t *)&dl->timer))
        uv_close((uv_handle_t *)&dl->timer, on_timer_closed);
}

static void on_dial_time(uv_timer_t *t)
{
    struct dialer *dl = t->data;
    if (dl->stopped || dl->busy || dl->session)
        return;
    dl->dial(dl);
}

void dialer_schedule_dial(struct dialer *dl, uint64_t ms)
{
    uv_timer_start(&dl->timer, on_dial_time, ms, 0);
}

void dialer_start_dialing(struct dialer *dl, uv_loop_t *loop, int redial, link_new_cb cb, void *arg,
                          const char *target, dialer_dial_fn dial, void *owner)
{
    dl->loop = loop;
    dl->redial = redial;
    dl->cb = cb;
    dl->arg = arg;
    dl->target = target;
    dl->dial = dial;
    dl->owner = owner;
    dl->wait_ms = DIALER_FIRST_WAIT_MS;
    uv_timer_init(loop, &dl->timer);
    dl->timer.data = dl;
    dialer_schedule_dial(dl, 0);
}

void dialer_fail_dial(struct dialer *dl, const char *why)
{
    if (dl->stopped) {
        dialer_free_if_idle(dl);
        return;
    }
    log_warning("Backend connection failed (will retry): dial %s: %s", dl->target, why);
    if (!dl->redial) {
        dl->stopped = 1;
        dialer_free_if_idle(dl);
        return;
    }
    dialer_schedule_dial(dl, dl->wait_ms);
    dl->wait_ms = dl->wait_ms * 3 / 2;
    if (dl->wait_ms > DIALER_MAX_WAIT_MS)
        dl->wait_ms = DIALER_MAX_WAIT_MS;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct dialer *dl = req->data;
    if (status < 0 || dl->stopped) {
        dl->busy = 0;
        if (res)
            uv_freeaddrinfo(res);
        dialer_fail_dial(dl, uv_strerror(status < 0 ? status : UV_ECANCELED));
        return;
    }
    dl->on_address(dl, res->ai_addr);
    uv_freeaddrinfo(res);
}

/* An IPv4 or IPv6 literal and a port number need no resolver: getaddrinfo
 * runs on libuv's thread pool, whose threads (stacks, a malloc arena each)
 * cost a small node a tenth of its memory for nothing. */
static int numeric_address(const char *host, const char *port, struct sockaddr_storage *ss)
{
    char *end;
    unsigned long p = strtoul(port, &end, 10);
    if (!*port || *end || p > 65535)
        return -1;
    if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -1;
}

void dialer_resolve_target(struct dialer *dl, const char *host, const char *port, int socktype,
                           dialer_address_fn on_address)
{
    struct addrinfo hints = { .ai_socktype = socktype };
    dl->busy = 1;
    dl->on_address = on_address;
    struct sockaddr_storage ss;
    if (numeric_address(host, port, &ss) == 0) {
        on_address(dl, (const struct sockaddr *)&ss);
        return;
    }
    dl->resolve.data = dl;
    int rc = uv_getaddrinfo(dl->loop, &dl->resolve, on_resolved, host, port, &hints);
    if (rc < 0) {
        dl->busy = 0;
        dialer_fail_dial(dl, uv_strerror(rc));
    }
}

void dialer_reset_backoff(struct dialer *dl) { dl->wait_ms = DIALER_FIRST_WAIT_MS; }

void dialer_end_session(struct dialer *dl, const char *failure)
{
    dl->session = NULL;
    if (failure) {
        dialer_fail_dial(dl, failure);
    } else if (dl->redial && !dl->stopped) {
        dl->wait_ms = DIALER_FIRST_WAIT_MS;
        dialer_schedule_dial(dl, dl->wait_ms);
    } else {
        dl->stopped = 1;
        dialer_free_if_idle(dl);
    }
}

void dialer_stop_dialing(struct dialer *dl)
{
    dl->stopped = 1;
    uv_timer_stop(&dl->timer);
}

int dialer_split_address(const char *address, char *host, size_t hostlen, char *port,
                         size_t portlen, char *err, size_t errlen)
{
    const char *colon = strrchr(address, ':');
    const char *h = address;
    size_t hl = colon ? (size_t)(colon - address) : 0;
    if (!colon || colon == address || !colon[1])
        goto bad;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen)
        goto bad;
    memcpy(host, h, hl);
    host[hl] = 0;
    strcpy(port, colon + 1);
    return 0;
bad:
    if (err)
        snprintf(err, errlen, "address %s: expected host:port", address);
    return -1;
}
