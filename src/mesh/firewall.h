/* firewall.h - data-message firewall rules (spec 12).
 *
 * Rules come from the node entry's `firewallrules` (a list of maps).  Each
 * present field is a condition; all must match; the first matching rule
 * decides; no match accepts.  A value written /.../ is a regular expression
 * anchored to the whole string.  Upstream uses Go's RE2; we use POSIX
 * extended regular expressions (regcomp), which cover the same everyday
 * syntax; a leading (?i) is honoured as case-insensitive.  Unlike upstream,
 * an invalid expression is a startup error instead of a silently ignored
 * condition (that silence would turn a deny rule into "deny everything"). */
#ifndef MESH_FIREWALL_H
#define MESH_FIREWALL_H

#include <jansson.h>
#include <regex.h>
#include <stddef.h>

enum fw_action { FW_NONE = 0, FW_ACCEPT, FW_REJECT, FW_DROP };
enum fw_field { FW_FROMNODE, FW_TONODE, FW_FROMSERVICE, FW_TOSERVICE, FW_NFIELDS };

struct fw_cond {
    int present;
    int is_regex;
    char *text;
    regex_t re;
};

struct fw_rule {
    enum fw_action action;
    struct fw_cond cond[FW_NFIELDS];
};

struct firewall {
    struct fw_rule *rules;
    size_t n;
};

/* Builds rules from the JSON list; -1 with a message on error. */
int firewall_load(struct firewall *fw, json_t *rules, char *err, size_t errlen);
void firewall_free(struct firewall *fw);
enum fw_action firewall_check(const struct firewall *fw, const char *fromnode,
                              const char *tonode, const char *fromservice, const char *toservice);

#endif
