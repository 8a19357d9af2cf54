/* firewall.c - see firewall.h. */
#include "mesh/firewall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/gojson.h"

static const char *field_names[FW_NFIELDS] = { "fromnode", "tonode", "fromservice", "toservice" };

static int load_cond(struct fw_cond *c, const char *val, char *err, size_t errlen)
{
    size_t n = strlen(val);
    c->present = 1;
    c->text = strdup(val);
    if (!c->text)
        return -1;
    if (n >= 2 && val[0] == '/' && val[n - 1] == '/') {
        int flags = REG_EXTENDED | REG_NOSUB;
        const char *body = val + 1;
        size_t blen = n - 2;
        if (blen >= 4 && strncmp(body, "(?i)", 4) == 0) {
            flags |= REG_ICASE;
            body += 4;
            blen -= 4;
        }
        char *anchored = malloc(blen + 5);
        if (!anchored)
            return -1;
        snprintf(anchored, blen + 5, "^(%.*s)$", (int)blen, body);
        int rc = regcomp(&c->re, anchored, flags);
        free(anchored);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &c->re, msg, sizeof msg);
            snprintf(err, errlen, "firewall rule: invalid regular expression %s: %s", val, msg);
            return -1;
        }
        c->is_regex = 1;
    } else if (val[0] == '/') {
        snprintf(err, errlen, "firewall rule: value %s starts with / but does not end with /", val);
        return -1;
    }
    return 0;
}

static int load_rule(struct fw_rule *r, json_t *m, char *err, size_t errlen)
{
    if (!json_is_object(m)) {
        snprintf(err, errlen, "firewall rule must be a map");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v)) {
            snprintf(err, errlen, "firewall rule: value of %s must be a string", k);
            return -1;
        }
        const char *s = json_string_value(v);
        if (strcasecmp(k, "action") == 0) {
            if (strcasecmp(s, "accept") == 0) r->action = FW_ACCEPT;
            else if (strcasecmp(s, "reject") == 0) r->action = FW_REJECT;
            else if (strcasecmp(s, "drop") == 0) r->action = FW_DROP;
            else {
                snprintf(err, errlen, "firewall rule: unknown action %s", s);
                return -1;
            }
            continue;
        }
        int f;
        for (f = 0; f < FW_NFIELDS; f++)
            if (strcasecmp(k, field_names[f]) == 0)
                break;
        if (f == FW_NFIELDS) {
            snprintf(err, errlen, "firewall rule: unknown key %s", k);
            return -1;
        }
        if (load_cond(&r->cond[f], s, err, errlen) < 0)
            return -1;
    }
    if (r->action == FW_NONE) {
        snprintf(err, errlen, "firewall rule: missing action");
        return -1;
    }
    return 0;
}

int firewall_load(struct firewall *fw, json_t *rules, char *err, size_t errlen)
{
    memset(fw, 0, sizeof *fw);
    if (!rules || json_is_null(rules))
        return 0;
    if (!json_is_array(rules)) {
        snprintf(err, errlen, "firewallrules must be a list of maps");
        return -1;
    }
    fw->rules = calloc(json_array_size(rules) + 1, sizeof *fw->rules);
    if (!fw->rules)
        return -1;
    size_t i;
    json_t *m;
    json_array_foreach(rules, i, m) {
        fw->n = i + 1;
        if (load_rule(&fw->rules[i], m, err, errlen) < 0) {
            firewall_free(fw);
            return -1;
        }
    }
    return 0;
}

void firewall_free(struct firewall *fw)
{
    for (size_t i = 0; i < fw->n; i++)
        for (int f = 0; f < FW_NFIELDS; f++) {
            struct fw_cond *c = &fw->rules[i].cond[f];
            if (c->is_regex)
                regfree(&c->re);
            free(c->text);
        }
    free(fw->rules);
    memset(fw, 0, sizeof *fw);
}

static int cond_match(const struct fw_cond *c, const char *val)
{
    if (!c->present)
        return 1;
    if (c->is_regex)
        return regexec(&c->re, val, 0, NULL, 0) == 0;
    return strcmp(c->text, val) == 0;
}

enum fw_action firewall_check(const struct firewall *fw, const char *fromnode,
                              const char *tonode, const char *fromservice, const char *toservice)
{
    const char *vals[FW_NFIELDS] = { fromnode, tonode, fromservice, toservice };
    for (size_t i = 0; i < fw->n; i++) {
        int all = 1;
        for (int f = 0; f < FW_NFIELDS && all; f++)
            all = cond_match(&fw->rules[i].cond[f], vals[f]);
        if (all)
            return fw->rules[i].action;
    }
    return FW_ACCEPT;
}
