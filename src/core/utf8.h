/* utf8.h - the one UTF-8 decoder and encoder of the project.
 *
 * Every reader of UTF-8 (Go-compatible JSON, Python-compatible JSON, X.509
 * names, JWT claims, a job's terminal output) decodes with utf8_decode(), so
 * "what is valid UTF-8" has one answer: shortest form, at most U+10FFFF, no
 * surrogates (Go's and Python's strict rules).  Callers that must carry
 * lone surrogates through (Python's WTF-8 view of a str) pass UTF8_WTF8.
 * An invalid sequence is always skipped one byte at a time by the caller, as
 * Go's utf8.DecodeRune and Python's errors='replace' do. */
#ifndef CORE_UTF8_H
#define CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define UTF8_WTF8 0x1   /* accept encoded surrogates U+D800..U+DFFF */

/* Decodes the sequence at s[0..n) (n >= 1): returns its length 1..4 and sets
 * *cp, or 0 when s does not start with a valid (complete) sequence. */
size_t utf8_decode(const void *s, size_t n, int flags, uint32_t *cp);
/* Length a sequence starting with lead byte c claims (1..4, from its bit
 * pattern alone), 0 for a continuation or 0xF8..0xFF byte: lets a stream
 * reader tell "truncated, wait for more" from "invalid". */
size_t utf8_seq_len(unsigned char c);
/* True if all of s[0..n) is valid UTF-8 (strict). */
bool utf8_valid(const void *s, size_t n);
/* Encodes cp (surrogates as WTF-8) into out; returns 1..4. */
size_t utf8_encode(uint32_t cp, unsigned char out[4]);
/* Appends the encoding of cp to out; buf_append's result. */
int utf8_put(struct buf *out, uint32_t cp);

#endif
