/* signature.h - where work commands need a signed token (spec 11) and the
 * check itself, on top of the JWT library in sign.h. */
#ifndef WORK_SIGNATURE_H
#define WORK_SIGNATURE_H

#include <stddef.h>

struct workceptor;

/* required: the unit or work type asks for signatures; trusted: the unix
 * control socket.  0 to go on, -1 with upstream's error text. */
int signature_check(struct workceptor *wc, int required, const char *signature, int trusted,
                    char *err, size_t errlen);
/* A token for commands sent to node (remote work with signwork); malloc'ed. */
char *signature_make(struct workceptor *wc, const char *node, char *err, size_t errlen);

#endif
